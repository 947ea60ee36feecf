package classify

import (
	"math"
	"testing"
)

// Known answers: a face drawn in eye-distance units, then rotated, scaled
// and shifted, gives the same geometry.
func TestSmileGeometryOf(t *testing.T) {
	var base Landmarks68
	for i := 36; i < 42; i++ {
		base[i] = Point{X: 0, Y: 0}
	}
	for i := 42; i < 48; i++ {
		base[i] = Point{X: 10, Y: 0}
	}
	base[LandmarkMouthRight], base[LandmarkMouthLeft] = Point{X: 2, Y: 20}, Point{X: 8, Y: 20}
	base[LandmarkInnerUpperLip], base[LandmarkInnerLowerLip] = Point{X: 5, Y: 19}, Point{X: 5, Y: 23}
	want := SmileGeometry{MouthWidth: 0.6, CornerLift: 0.1, MouthOpen: 0.4}
	for _, tc := range []struct{ angle, scale, dx, dy float64 }{{0, 1, 0, 0}, {30, 3, 100, 50}, {-75, 0.5, -7, 12}} {
		var l Landmarks68
		a := tc.angle * math.Pi / 180
		for i, p := range base {
			l[i] = Point{X: tc.scale*(p.X*math.Cos(a)-p.Y*math.Sin(a)) + tc.dx, Y: tc.scale*(p.X*math.Sin(a)+p.Y*math.Cos(a)) + tc.dy}
		}
		g, ok := SmileGeometryOf(&l)
		if !ok || math.Abs(g.MouthWidth-want.MouthWidth) > 1e-9 || math.Abs(g.CornerLift-want.CornerLift) > 1e-9 || math.Abs(g.MouthOpen-want.MouthOpen) > 1e-9 {
			t.Errorf("angle %g scale %g: %+v, %v; want %+v", tc.angle, tc.scale, g, ok, want)
		}
	}
	var flat Landmarks68
	if _, ok := SmileGeometryOf(&flat); ok {
		t.Error("coinciding eyes accepted")
	}
}
