package classify

import (
	"errors"
	"image"
	"math"
	"slices"
	"sort"
	"time"

	"gocv.io/x/gocv"
)

// FaceTracker finds the faces of a stream of frames, gives each face a
// stable ID and keeps following the participant. Every KeyframeEvery frames
// (and whenever no face is being followed, or a face was lost in the last
// MaxMissed frames) it runs the full-frame detection; in between it looks
// for each followed face near its last box only. A new face is found on the
// next keyframe.
//
// IDs: each face found is matched to the tracks of the faces seen in the
// last frames (TrackParams.MaxMissed) by box overlap (IoU ≥ 0.3), or for a
// track lost for a few frames by nearness (centre within half a face of the
// last box, size within 0.6-1.6 times); a face that matches no track starts
// a new ID (1, 2, ...). Matching is greedy, best overlap first.
//
// The participant is a track: the first one is the largest face seen; after
// that the participant's row only ever shows the participant's own track.
// While the participant is not found, other faces (a baby on the lap,
// someone walking by) are reported in Faces but not as Primary. When the
// participant has not been seen for ForgetAfter frames, the participant
// becomes the face closest to the participant's last position.
//
// Landmarks (TrackParams.Landmarks): the tracker finds the 68 landmarks of
// every face it reports (Detection.Landmarks). With a BlazeFace detector it
// then follows each face between keyframes by its landmarks, as MediaPipe's
// face mesh does, instead of running the detector near its last box: the
// landmarks are found in the face's box of the previous frame, and the face
// found at the last detection (box, keypoints) is moved by the similarity
// (shift, scale, rotation) that maps that detection's landmarks onto these
// (fitted on the eyes, nose and upper jaw, so that an opening mouth does
// not move the box). A face whose landmarks no longer fit a similarity of
// the detected face's (FollowParams) is lost, and the detector looks for it
// on that frame, as when the search near its box fails.
//
// Results depend only on the frames and their order, not on timing or the
// number of workers. A FaceTracker is not safe for concurrent use; feed it
// frames in order.
type FaceTracker struct {
	det    FaceDetector
	p      TrackParams
	tracks []track
	nextID int
	n      int

	primaryID int             // 0: no participant yet
	lastBox   image.Rectangle // the participant's last box
	missing   int             // frames since the participant was last seen

	lm       *Landmarker // nil: no landmarks
	follow   bool        // follow faces by their landmarks between keyframes
	mean, sd gocv.Mat    // scratch for contrast
	timing   TrackTiming
}

// TrackTiming is the time a FaceTracker spent per stage.
type TrackTiming struct {
	// Landmarks is the time spent finding landmarks, Faces the number of
	// faces they were found for.
	Landmarks time.Duration
	Faces     int
	// Followed counts the faces followed by their landmarks, Lost those
	// whose landmarks no longer fitted (the detector looked again).
	Followed, Lost int
}

// TrackParams configure the IDs of a FaceTracker. Zero means the default.
type TrackParams struct {
	// MaxMissed is how many consecutive frames a face may go unseen and
	// still keep its ID when it is found again. Default 30 (1 s at 30 frames/s).
	MaxMissed int
	// ForgetAfter is how many consecutive frames without the participant
	// make the tracker choose the participant again (the face closest to the
	// last position). Default 90 (3 s at 30 frames/s).
	ForgetAfter int
	// Landmarks names the landmark model (models.LandmarkModelNames) the
	// tracker runs on every face it reports; "" for none. With a BlazeFace
	// detector the tracker also follows faces by their landmarks between
	// keyframes (see FaceTracker).
	Landmarks string
	// Backend is the landmark model's inference backend (default opencv).
	Backend string
}

type track struct {
	id     int
	box    image.Rectangle
	missed int // consecutive frames not found
	// anchor is the face as the detector last found it, with its
	// landmarks: following moves it (nil: not followed).
	anchor *Detection
}

// NewFaceTracker returns a tracker using its own detector made from p.
func NewFaceTracker(p DetectorParams) (*FaceTracker, error) {
	return NewFaceTrackerWith(p, TrackParams{})
}

// NewFaceTrackerWith is NewFaceTracker with track parameters.
func NewFaceTrackerWith(p DetectorParams, tp TrackParams) (*FaceTracker, error) {
	d, err := NewFaceDetector(p)
	if err != nil {
		return nil, err
	}
	if tp.MaxMissed <= 0 {
		tp.MaxMissed = 30
	}
	if tp.ForgetAfter <= 0 {
		tp.ForgetAfter = 90
	}
	t := &FaceTracker{det: d, p: tp, nextID: 1}
	if tp.Landmarks != "" {
		backend := tp.Backend
		if backend == "" {
			backend = BackendOpenCV
		}
		lm, err := NewLandmarkerModel(backend, tp.Landmarks)
		if err != nil {
			d.Close()
			return nil, err
		}
		t.lm = lm
		t.follow = IsBlazeFace(d.Params().Cascade)
		t.mean, t.sd = gocv.NewMat(), gocv.NewMat()
	}
	return t, nil
}

// Close releases the detector and the landmark model.
func (t *FaceTracker) Close() error {
	err := t.det.Close()
	if t.lm != nil {
		err = errors.Join(err, t.lm.Close(), t.mean.Close(), t.sd.Close())
	}
	return err
}

// Timing returns the time spent so far on landmarks, and how many faces
// were followed by them.
func (t *FaceTracker) Timing() TrackTiming { return t.timing }

// Reset forgets every track and the participant: the next frame is scored
// as if it were the first. For frames that are unrelated photos (a folder
// of images), where the face of one photo says nothing about the next.
func (t *FaceTracker) Reset() {
	t.tracks = t.tracks[:0]
	t.primaryID, t.lastBox, t.missing, t.n = 0, image.Rectangle{}, 0, 0
}

// Detections are the faces of one frame.
type Detections struct {
	// Faces are the faces, largest first, each with its track ID.
	Faces []Detection
	// Primary is the index of the participant's face in Faces, -1 when the
	// participant is not in this frame.
	Primary int
	// Keyframe says the full-frame detection ran on this frame.
	Keyframe bool
}

// Next finds the faces in the next frame.
func (t *FaceTracker) Next(frame gocv.Mat) Detections {
	every := t.det.Params().KeyframeEvery
	live, lost := 0, 0
	for _, tr := range t.tracks {
		if tr.missed == 0 {
			live++
		} else if tr.missed <= t.p.MaxMissed {
			lost++
		}
	}
	// A face lost in the last MaxMissed frames is looked for everywhere on
	// every frame until it is found again or forgotten.
	key := t.n%every == 0 || live == 0 || lost > 0
	t.n++
	var faces []Detection
	if !key {
		for i := range t.tracks {
			tr := &t.tracks[i]
			var nb Detection
			var ok bool
			if t.follow && tr.anchor != nil && tr.missed == 0 {
				if nb, ok = t.followFace(frame, tr); ok {
					t.timing.Followed++
				} else {
					t.timing.Lost++
				}
			}
			if !ok { // not followed, or lost: the detector looks near the last box
				nb, ok = t.det.DetectNear(frame, tr.box)
			}
			if ok && !overlapsAny(nb.Box, faces) {
				faces = append(faces, nb)
			}
		}
		if len(faces) == 0 {
			key = true // every face was lost: look everywhere now
		}
	}
	if key {
		faces = t.det.Detect(frame)
	}
	sort.SliceStable(faces, func(i, j int) bool { return area(faces[i].Box) > area(faces[j].Box) })
	t.associate(faces)
	t.landmarks(frame, faces)
	return Detections{Faces: faces, Primary: t.participant(faces), Keyframe: key}
}

// landmarks finds the landmarks of every face the detector found in this
// frame (a followed face has its own) and makes it its track's anchor.
func (t *FaceTracker) landmarks(frame gocv.Mat, faces []Detection) {
	if t.lm == nil {
		return
	}
	for i := range faces {
		f := &faces[i]
		if f.Landmarks != nil {
			continue
		}
		t0 := time.Now()
		l, err := t.lm.Landmarks(frame, f.Box)
		t.timing.Landmarks += time.Since(t0)
		t.timing.Faces++
		if err != nil {
			continue // the Scorer tries again and reports the error with the face
		}
		f.Landmarks = &l
		pose := HeadPose(&l)
		f.Pose = &pose
		for j := range t.tracks {
			if t.tracks[j].id == f.ID {
				a := *f
				a.Keypoints = slices.Clone(f.Keypoints)
				t.tracks[j].anchor = &a
			}
		}
	}
}

// associate gives every face an ID: the matching track's, or a new one.
func (t *FaceTracker) associate(faces []Detection) {
	type pair struct {
		f, tr int
		score float64
	}
	var pairs []pair
	usedF := make([]bool, len(faces))
	usedT := make([]bool, len(t.tracks))
	// A followed face is its own track's.
	for i, f := range faces {
		if !f.Followed {
			continue
		}
		for j, tr := range t.tracks {
			if tr.id == f.ID && !usedT[j] {
				usedF[i], usedT[j] = true, true
				t.tracks[j].box, t.tracks[j].missed = f.Box, 0
			}
		}
	}
	for i, f := range faces {
		if usedF[i] {
			continue
		}
		for j, tr := range t.tracks {
			if usedT[j] {
				continue
			}
			if s := matchScore(f.Box, tr.box, tr.missed > 0); s > 0 {
				pairs = append(pairs, pair{i, j, s})
			}
		}
	}
	// Best match first; ties by face then track order, so the result does
	// not depend on anything but the boxes.
	sort.SliceStable(pairs, func(a, b int) bool { return pairs[a].score > pairs[b].score })
	for _, p := range pairs {
		if usedF[p.f] || usedT[p.tr] {
			continue
		}
		usedF[p.f], usedT[p.tr] = true, true
		faces[p.f].ID = t.tracks[p.tr].id
		t.tracks[p.tr].box = faces[p.f].Box
		t.tracks[p.tr].missed = 0
		t.tracks[p.tr].anchor = nil // found by the detector: a new anchor
	}
	kept := t.tracks[:0]
	for j, tr := range t.tracks {
		if !usedT[j] {
			tr.missed++
		}
		if tr.missed <= t.p.MaxMissed || tr.id == t.primaryID {
			kept = append(kept, tr)
		}
	}
	t.tracks = kept
	for i := range faces {
		if !usedF[i] {
			faces[i].ID = t.nextID
			t.nextID++
			t.tracks = append(t.tracks, track{id: faces[i].ID, box: faces[i].Box})
		}
	}
}

// matchScore says how well a face's box matches a track's last box: the IoU
// when it is at least 0.3; for a lost track, also a face whose centre is
// within half a face of the last box and whose size is 0.6-1.6 times it
// (scored below any overlap match). 0 means no match.
func matchScore(b, last image.Rectangle, lost bool) float64 {
	if iou := boxIoU(b, last); iou >= 0.3 {
		return iou
	}
	if !lost {
		return 0
	}
	side := float64(max(last.Dx(), last.Dy()))
	r := float64(max(b.Dx(), b.Dy())) / side
	c, c0 := center(b), center(last)
	d := math.Hypot(c.X-c0.X, c.Y-c0.Y)
	if side <= 0 || r < 0.6 || r > 1.6 || d > side/2 {
		return 0
	}
	return 0.3 * (1 - d/side) // below 0.3: after every overlap match
}

func boxIoU(a, b image.Rectangle) float64 {
	in := area(a.Intersect(b))
	if in == 0 {
		return 0
	}
	return float64(in) / float64(area(a)+area(b)-in)
}

// participant returns the index of the participant's face in faces, -1
// when the participant is not among them.
func (t *FaceTracker) participant(faces []Detection) int {
	if t.primaryID != 0 {
		for i, f := range faces {
			if f.ID == t.primaryID {
				t.lastBox, t.missing = f.Box, 0
				return i
			}
		}
		t.missing++
		if t.missing <= t.p.ForgetAfter {
			return -1 // never another face in the participant's row
		}
		// Gone too long: choose again, closest to the last position.
	}
	if len(faces) == 0 {
		return -1
	}
	best := 0 // the first participant is the largest face
	if t.primaryID != 0 {
		bd := math.Inf(1)
		c0 := center(t.lastBox)
		for i, f := range faces {
			c := center(f.Box)
			if d := math.Hypot(c.X-c0.X, c.Y-c0.Y); d < bd {
				bd, best = d, i
			}
		}
	}
	t.primaryID, t.lastBox, t.missing = faces[best].ID, faces[best].Box, 0
	return best
}

func overlapsAny(b image.Rectangle, others []Detection) bool {
	for _, o := range others {
		in := b.Intersect(o.Box)
		if area(in)*2 > min(area(b), area(o.Box)) {
			return true
		}
	}
	return false
}

type pt struct{ X, Y float64 }

func center(r image.Rectangle) pt {
	return pt{float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2}
}
