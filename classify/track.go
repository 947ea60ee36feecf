package classify

import (
	"image"
	"math"
	"sort"

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
}

type track struct {
	id     int
	box    image.Rectangle
	missed int // consecutive frames not found
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
	return &FaceTracker{det: d, p: tp, nextID: 1}, nil
}

// Close releases the detector.
func (t *FaceTracker) Close() error { return t.det.Close() }

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
		for _, tr := range t.tracks {
			if nb, ok := t.det.DetectNear(frame, tr.box); ok && !overlapsAny(nb.Box, faces) {
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
	return Detections{Faces: faces, Primary: t.participant(faces), Keyframe: key}
}

// associate gives every face an ID: the matching track's, or a new one.
func (t *FaceTracker) associate(faces []Detection) {
	type pair struct {
		f, tr int
		score float64
	}
	var pairs []pair
	for i, f := range faces {
		for j, tr := range t.tracks {
			if s := matchScore(f.Box, tr.box, tr.missed > 0); s > 0 {
				pairs = append(pairs, pair{i, j, s})
			}
		}
	}
	// Best match first; ties by face then track order, so the result does
	// not depend on anything but the boxes.
	sort.SliceStable(pairs, func(a, b int) bool { return pairs[a].score > pairs[b].score })
	usedF := make([]bool, len(faces))
	usedT := make([]bool, len(t.tracks))
	for _, p := range pairs {
		if usedF[p.f] || usedT[p.tr] {
			continue
		}
		usedF[p.f], usedT[p.tr] = true, true
		faces[p.f].ID = t.tracks[p.tr].id
		t.tracks[p.tr].box = faces[p.f].Box
		t.tracks[p.tr].missed = 0
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
