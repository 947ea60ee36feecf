package classify

import "math"

// SmileGeometry are measures of the mouth from the 68 landmarks, in units
// of the distance between the eye centres and along the axes of the eye
// line (so they do not depend on the face's size or in-plane tilt):
//   - MouthWidth: distance between the mouth corners (points 48, 54);
//   - CornerLift: how far the mouth corners sit above the centre of the
//     inner lips (mean of points 62, 66), along the axis perpendicular to
//     the eye line (positive: corners higher, as in a smile);
//   - MouthOpen: distance between the inner lips (points 62, 66).
type SmileGeometry struct {
	MouthWidth float64 `json:"mouth_width"`
	CornerLift float64 `json:"corner_lift"`
	MouthOpen  float64 `json:"mouth_open"`
}

// SmileGeometryOf computes the smile geometry of l; ok is false when the
// eyes coincide (no scale to measure with).
func SmileGeometryOf(l *Landmarks68) (SmileGeometry, bool) {
	r, le := l.RightEye(), l.LeftEye()
	d := math.Hypot(le.X-r.X, le.Y-r.Y)
	if !(d > 1e-6) {
		return SmileGeometry{}, false
	}
	ux, uy := (le.X-r.X)/d, (le.Y-r.Y)/d
	vx, vy := -uy, ux // perpendicular to the eye line, pointing down the face
	along := func(p Point) float64 { return ((p.X-r.X)*vx + (p.Y-r.Y)*vy) / d }
	dist := func(a, b Point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) / d }
	c1, c2 := l[LandmarkMouthRight], l[LandmarkMouthLeft]
	up, lo := l[LandmarkInnerUpperLip], l[LandmarkInnerLowerLip]
	centre := (along(up) + along(lo)) / 2
	return SmileGeometry{
		MouthWidth: dist(c1, c2),
		CornerLift: centre - (along(c1)+along(c2))/2,
		MouthOpen:  dist(up, lo),
	}, true
}
