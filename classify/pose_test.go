package classify_test

import (
	"image"
	"math"
	"testing"

	"github.com/affectlab/affect/classify"
	"gocv.io/x/gocv"
)

// project places the six pose points of a generic face turned by the given
// angles (degrees, Pose's conventions) at scale s and shift (x0, y0), and
// fills each eye's six points with its outer corner's position mirrored
// about the eye centre so that EyeDistance is defined.
func project(yaw, pitch, roll, s, x0, y0 float64) classify.Landmarks68 {
	pts := map[int][3]float64{
		classify.LandmarkNoseTip: {0, 0, 0}, classify.LandmarkChin: {0, -330, -65},
		classify.LandmarkRightEyeOuter: {-225, 170, -135}, classify.LandmarkLeftEyeOuter: {225, 170, -135},
		classify.LandmarkMouthRight: {-150, -150, -125}, classify.LandmarkMouthLeft: {150, -150, -125},
		classify.LandmarkRightEyeInner: {-75, 170, -135}, classify.LandmarkLeftEyeInner: {75, 170, -135},
	}
	// Pose's signs: yaw = +model yaw, pitch and roll = -model angles.
	y, p, r := yaw*math.Pi/180, -pitch*math.Pi/180, -roll*math.Pi/180
	rot := func(v [3]float64) (float64, float64) {
		// Ry(yaw), then Rx(pitch), then Rz(roll).
		x1, z1 := v[0]*math.Cos(y)+v[2]*math.Sin(y), -v[0]*math.Sin(y)+v[2]*math.Cos(y)
		y1 := v[1]
		y2 := y1*math.Cos(p) - z1*math.Sin(p)
		x3 := x1*math.Cos(r) - y2*math.Sin(r)
		y3 := x1*math.Sin(r) + y2*math.Cos(r)
		return x0 + s*x3, y0 - s*y3
	}
	var l classify.Landmarks68
	for i, v := range pts {
		l[i].X, l[i].Y = rot(v)
	}
	for i := 37; i <= 41; i++ {
		l[i] = l[36+3*((i-36)%2)]
	}
	for i := 43; i <= 47; i++ {
		l[i] = l[42+3*((i-42)%2)]
	}
	return l
}

// TestHeadPoseRecoversAngles: landmarks made by turning the generic face by
// known angles give those angles back, with the documented signs.
func TestHeadPoseRecoversAngles(t *testing.T) {
	for _, c := range []struct{ yaw, pitch, roll float64 }{
		{0, 0, 0}, {20, 0, 0}, {-35, 0, 0}, {0, 15, 0}, {0, -20, 0}, {0, 0, 12}, {0, 0, -25},
		{30, -10, 8}, {-50, 20, -15}, {60, 0, 0},
	} {
		l := project(c.yaw, c.pitch, c.roll, 0.2, 320, 240)
		p := classify.HeadPose(&l)
		if math.Abs(p.Yaw-c.yaw) > 0.01 || math.Abs(p.Pitch-c.pitch) > 0.01 || math.Abs(p.Roll-c.roll) > 0.01 || p.Residual > 1e-6 {
			t.Errorf("turned %+v: got yaw %.3f pitch %.3f roll %.3f residual %.2g", c, p.Yaw, p.Pitch, p.Roll, p.Residual)
		}
	}
	// Signs in image terms: nose right of the eyes' midpoint = positive yaw;
	// the subject's left eye (image right) lower = positive roll.
	l := project(25, 0, 0, 0.2, 320, 240)
	if mid := (l[classify.LandmarkRightEyeOuter].X + l[classify.LandmarkLeftEyeOuter].X) / 2; l[classify.LandmarkNoseTip].X <= mid {
		t.Errorf("positive yaw: nose at %.1f, eyes' midpoint %.1f: want the nose on the right", l[classify.LandmarkNoseTip].X, mid)
	}
	l = project(0, 0, 10, 0.2, 320, 240)
	if l[classify.LandmarkLeftEyeOuter].Y <= l[classify.LandmarkRightEyeOuter].Y {
		t.Error("positive roll: the image-right eye is not lower")
	}
	var flat classify.Landmarks68
	if p := classify.HeadPose(&flat); !math.IsInf(p.Residual, 1) {
		t.Errorf("degenerate landmarks: residual %v, want +Inf", p.Residual)
	}
}

// TestHeadPoseRealFaces: frontal faces are near frontal; the CREMA-D
// frame's pose is pinned.
func TestHeadPoseRealFaces(t *testing.T) {
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	defer img.Close()
	l, err := newLandmarker(t, classify.BackendOpenCV).Landmarks(img, image.Rect(0, 0, img.Cols(), img.Rows()))
	if err != nil {
		t.Fatal(err)
	}
	p := classify.HeadPose(&l)
	t.Logf("fixture: yaw %.2f pitch %.2f roll %.2f residual %.3f", p.Yaw, p.Pitch, p.Roll, p.Residual)
	for _, c := range landmarkCases() {
		img := c.load(t)
		l, err := newLandmarker(t, classify.BackendOpenCV).Landmarks(img, c.box)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := classify.HeadPose(&l)
		t.Logf("%s: yaw %.2f pitch %.2f roll %.2f residual %.3f", c.name, p.Yaw, p.Pitch, p.Roll, p.Residual)
		if math.Abs(p.Yaw) > 20 || math.Abs(p.Roll) > 15 || math.Abs(p.Pitch) > 25 || p.Residual > 0.2 {
			t.Errorf("%s: a frontal face gave yaw %.1f pitch %.1f roll %.1f residual %.2f", c.name, p.Yaw, p.Pitch, p.Roll, p.Residual)
		}
	}
}

// BenchmarkHeadPose: the pose fit of one face's landmarks.
func BenchmarkHeadPose(b *testing.B) {
	l := project(20, -10, 5, 0.2, 320, 240)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if p := classify.HeadPose(&l); p.Residual > 1e-6 {
			b.Fatal(p)
		}
	}
}
