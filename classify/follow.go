package classify

import (
	"image"
	"math"
	"time"

	"gocv.io/x/gocv"
)

// Limits on following a face by its landmarks (FaceTracker): beyond them
// the face is lost and the detector looks for it again.
const (
	// FollowMinScale and FollowMaxScale bound the face's size relative to
	// its last detection.
	FollowMinScale = 0.7
	FollowMaxScale = 1.4
	// FollowMaxResidual bounds the root-mean-square distance between the
	// rigid landmarks and the similarity's prediction of them, as a
	// fraction of the face box's side: landmarks that no longer look like
	// the face that was detected (a cut, a hand over the face, a turn
	// away) do not fit.
	//
	// Measured with the tiny landmark net (2026-12-01): on the frames of
	// the six CREMA-D clips and the bench video the residual is at most
	// 0.027 of the side (99th percentile 0.023); on a black frame cut in
	// after a face it is 0.044, on a gray frame 0.10, on another scene 0.085.
	FollowMaxResidual = 0.035
	// FollowMinContrast is the smallest standard deviation of the pixel
	// values (0..255, the largest of the three channels) in the face's box:
	// a flat box (a covered camera, a blank wall) holds no face, whatever
	// the landmark net puts there.
	FollowMinContrast = 8.0
	// FollowMaxStep bounds how far the face's centre may move from one
	// frame to the next, as a fraction of the box's side, and
	// FollowMaxStepScale how much its size may change (a factor).
	FollowMaxStep      = 0.25
	FollowMaxStepScale = 1.25
)

// frontal says whether head pose p is within the quality rule's limits
// (MaxYaw, MaxPitch): past them, towards a profile, the landmark net's
// points drift off the face, so such a face is not followed.
func frontal(p Pose) bool {
	return math.Abs(p.Yaw) <= MaxYaw && math.Abs(p.Pitch) <= MaxPitch
}

// rigidLandmarks are the points that move with the head, not with the
// expression: the upper jaw line (by the ears), the nose and the eyes.
var rigidLandmarks = []int{0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35,
	36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47}

// similarity is x' = a·x − b·y + tx, y' = b·x + a·y + ty: a shift, a
// uniform scale sqrt(a² + b²) and a rotation.
type similarity struct{ a, b, tx, ty float64 }

func (s similarity) apply(x, y float64) (float64, float64) {
	return s.a*x - s.b*y + s.tx, s.b*x + s.a*y + s.ty
}

func (s similarity) scale() float64 { return math.Hypot(s.a, s.b) }

// fitSimilarity fits the similarity that maps the points idx of from onto
// those of to by least squares, and returns it with the root-mean-square
// distance that remains. ok is false when the points of from all coincide.
func fitSimilarity(from, to *Landmarks68, idx []int) (s similarity, rms float64, ok bool) {
	n := float64(len(idx))
	var fx, fy, tx, ty float64
	for _, i := range idx {
		fx += from[i].X
		fy += from[i].Y
		tx += to[i].X
		ty += to[i].Y
	}
	fx, fy, tx, ty = fx/n, fy/n, tx/n, ty/n
	var den, na, nb float64
	for _, i := range idx {
		px, py := from[i].X-fx, from[i].Y-fy
		qx, qy := to[i].X-tx, to[i].Y-ty
		den += px*px + py*py
		na += px*qx + py*qy
		nb += px*qy - py*qx
	}
	if den < 1e-9 {
		return similarity{}, 0, false
	}
	s.a, s.b = na/den, nb/den
	s.tx = tx - (s.a*fx - s.b*fy)
	s.ty = ty - (s.b*fx + s.a*fy)
	var sq float64
	for _, i := range idx {
		x, y := s.apply(from[i].X, from[i].Y)
		dx, dy := x-to[i].X, y-to[i].Y
		sq += dx*dx + dy*dy
	}
	return s, math.Sqrt(sq / n), true
}

// moveBox moves r by s: its centre goes where s maps it, its sides are
// scaled by s's scale (the box stays upright).
func moveBox(r image.Rectangle, s similarity) image.Rectangle {
	cx, cy := s.apply(float64(r.Min.X+r.Max.X)/2, float64(r.Min.Y+r.Max.Y)/2)
	k := s.scale()
	hw, hh := k*float64(r.Dx())/2, k*float64(r.Dy())/2
	return image.Rect(int(math.Round(cx-hw)), int(math.Round(cy-hh)), int(math.Round(cx+hw)), int(math.Round(cy+hh)))
}

// followFace finds the landmarks of track tr's face in its box of the last
// frame and moves the face of its last detection (tr.anchor) with them.
// ok is false when the face is lost (FollowMinScale … FollowMaxStep).
func (t *FaceTracker) followFace(frame gocv.Mat, tr *track) (Detection, bool) {
	a := tr.anchor
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	if contrast(frame, tr.box, &t.mean, &t.sd) < FollowMinContrast {
		return Detection{}, false
	}
	t0 := time.Now()
	l, err := t.lm.Landmarks(frame, tr.box)
	t.timing.Landmarks += time.Since(t0)
	t.timing.Faces++
	if err != nil || a.Pose == nil || !frontal(*a.Pose) {
		return Detection{}, false
	}
	pose := HeadPose(&l)
	if !frontal(pose) {
		return Detection{}, false
	}
	s, rms, ok := fitSimilarity(a.Landmarks, &l, rigidLandmarks)
	side := float64(max(a.Box.Dx(), a.Box.Dy()))
	k := s.scale()
	if !ok || side <= 0 || k < FollowMinScale || k > FollowMaxScale || rms > FollowMaxResidual*side*k {
		return Detection{}, false
	}
	box := moveBox(a.Box, s)
	c, c0 := center(box), center(tr.box)
	step := float64(max(box.Dx(), box.Dy())) / float64(max(tr.box.Dx(), tr.box.Dy(), 1))
	if math.Hypot(c.X-c0.X, c.Y-c0.Y) > FollowMaxStep*side*k || step > FollowMaxStepScale || step < 1/FollowMaxStepScale {
		return Detection{}, false
	}
	// Mostly out of the frame: lost (the detector decides).
	if in := box.Intersect(bounds); area(in)*2 < area(box) {
		return Detection{}, false
	}
	d := Detection{ID: tr.id, Neighbors: -1, Score: a.Score, Followed: true, Landmarks: &l, Pose: &pose}
	d.Box = box.Intersect(bounds)
	if !a.Raw.Empty() {
		d.Raw = moveBox(a.Raw, s).Intersect(bounds)
	}
	if len(a.Keypoints) > 0 {
		d.Keypoints = make([]Keypoint, len(a.Keypoints))
		for i, p := range a.Keypoints {
			x, y := s.apply(p.X, p.Y)
			d.Keypoints[i] = Keypoint{X: x, Y: y}
		}
	}
	return d, true
}

// contrast returns the largest per-channel standard deviation of frame's
// pixels in r (0 for an empty region); mean and sd are scratch Mats.
func contrast(frame gocv.Mat, r image.Rectangle, mean, sd *gocv.Mat) float64 {
	r = r.Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	if r.Empty() {
		return 0
	}
	region := frame.Region(r)
	defer region.Close()
	gocv.MeanStdDev(region, mean, sd)
	best := 0.0
	for i := range sd.Rows() {
		best = max(best, sd.GetDoubleAt(i, 0))
	}
	return best
}
