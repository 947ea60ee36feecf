package classify

import (
	"image"
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// FaceTracker finds the faces of a stream of frames and keeps following the
// participant. Every KeyframeEvery frames (and whenever no face is being
// followed) it runs the full-frame detection; in between it looks for each
// known face near its last box only, which is many times cheaper.
//
// In a frame with several faces the participant is the face closest to the
// participant's last position, not whichever is largest; the first face ever
// seen is the largest. Results depend only on the frames and their order, not
// on timing or the number of workers.
//
// A FaceTracker is not safe for concurrent use; feed it frames in order.
type FaceTracker struct {
	det     FaceDetector
	tracks  []Detection
	primary Tracker
	n       int
}

// NewFaceTracker returns a tracker using its own detector made from p.
func NewFaceTracker(p DetectorParams) (*FaceTracker, error) {
	d, err := NewFaceDetector(p)
	if err != nil {
		return nil, err
	}
	return &FaceTracker{det: d}, nil
}

// Close releases the detector.
func (t *FaceTracker) Close() error { return t.det.Close() }

// Detections are the faces of one frame.
type Detections struct {
	// Faces are the faces, largest first.
	Faces []Detection
	// Primary is the index of the participant's face in Faces, -1 when none.
	Primary int
	// Keyframe says the full-frame detection ran on this frame.
	Keyframe bool
}

// Next finds the faces in the next frame.
func (t *FaceTracker) Next(frame gocv.Mat) Detections {
	every := t.det.Params().KeyframeEvery
	key := t.n%every == 0 || len(t.tracks) == 0
	t.n++
	var faces []Detection
	if !key {
		for _, b := range t.tracks {
			if nb, ok := t.det.DetectNear(frame, b.Box); ok && !overlapsAny(nb.Box, faces) {
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
	t.tracks = faces
	return Detections{Faces: faces, Primary: t.primary.Select(Boxes(faces)), Keyframe: key}
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

// Tracker picks the participant among a frame's faces: the one closest to
// the participant's last position. The first face seen is the largest.
// A Tracker is not safe for concurrent use; feed it frames in order.
type Tracker struct {
	last    image.Rectangle
	has     bool
	missing int
	// ForgetAfter is how many consecutive frames without a face make the
	// tracker forget the last position (then the largest face is taken again).
	// Default 90 (3 s at 30 frames/s).
	ForgetAfter int
}

// Select returns the index of the participant's face in boxes (largest first),
// or -1 when boxes is empty.
func (t *Tracker) Select(boxes []image.Rectangle) int {
	if len(boxes) == 0 {
		t.missing++
		forget := t.ForgetAfter
		if forget == 0 {
			forget = 90
		}
		if t.missing > forget {
			t.has = false
		}
		return -1
	}
	t.missing = 0
	best := 0
	if t.has && len(boxes) > 1 {
		bd := math.Inf(1)
		c0 := center(t.last)
		for i, b := range boxes {
			c := center(b)
			d := math.Hypot(c.X-c0.X, c.Y-c0.Y)
			if d < bd {
				bd, best = d, i
			}
		}
	}
	t.last, t.has = boxes[best], true
	return best
}

type pt struct{ X, Y float64 }

func center(r image.Rectangle) pt {
	return pt{float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2}
}
