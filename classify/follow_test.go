package classify

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/affectlab/affect/internal/testenv"
	"gocv.io/x/gocv"
)

// shapeOf places the 68 points of a face-like shape: a fixed pattern,
// turned, scaled and shifted by s.
func shapeOf(s similarity) Landmarks68 {
	var l Landmarks68
	for i := range l {
		x := 100 + 40*math.Cos(float64(i)*0.7) + float64(i%5)
		y := 120 + 50*math.Sin(float64(i)*0.45) - float64(i%3)
		l[i].X, l[i].Y = s.apply(x, y)
	}
	return l
}

func TestFitSimilarity(t *testing.T) {
	id := similarity{a: 1}
	turn := func(scale, deg, tx, ty float64) similarity {
		r := deg * math.Pi / 180
		return similarity{a: scale * math.Cos(r), b: scale * math.Sin(r), tx: tx, ty: ty}
	}
	cases := []struct {
		name string
		to   similarity
	}{
		{"identity", id},
		{"shift", similarity{a: 1, tx: 12, ty: -7}},
		{"scale 1.25 about the origin", similarity{a: 1.25}},
		{"turn 10 degrees, scale 0.8, shift", turn(0.8, 10, 30, 5)},
		{"turn -25 degrees", turn(1, -25, 0, 0)},
	}
	from := shapeOf(id)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			to := shapeOf(c.to)
			s, rms, ok := fitSimilarity(&from, &to, rigidLandmarks)
			if !ok {
				t.Fatal("fit failed")
			}
			if math.Abs(s.a-c.to.a) > 1e-9 || math.Abs(s.b-c.to.b) > 1e-9 || math.Abs(s.tx-c.to.tx) > 1e-6 || math.Abs(s.ty-c.to.ty) > 1e-6 || rms > 1e-6 {
				t.Errorf("fitted %+v rms %g, want %+v rms 0", s, rms, c.to)
			}
		})
	}
	// A point moved off the similarity shows in the residual: one of the
	// 27 rigid points moved by 27 px is an RMS of about sqrt(27) px.
	to := shapeOf(id)
	to[30].X += 27
	if _, rms, _ := fitSimilarity(&from, &to, rigidLandmarks); rms < 4 || rms > 5.5 {
		t.Errorf("one point moved 27 px: rms %.2f, want about 5.2", rms)
	}
	// The mouth is not rigid: moving it changes nothing.
	to = shapeOf(id)
	for i := 48; i < 68; i++ {
		to[i].Y += 9
	}
	if s, rms, _ := fitSimilarity(&from, &to, rigidLandmarks); rms > 1e-9 || s != id {
		t.Errorf("mouth opened: %+v rms %g, want the identity", s, rms)
	}
	var flat Landmarks68
	if _, _, ok := fitSimilarity(&flat, &flat, rigidLandmarks); ok {
		t.Error("points that all coincide: want no fit")
	}
}

func TestMoveBox(t *testing.T) {
	cases := []struct {
		s    similarity
		in   image.Rectangle
		want image.Rectangle
	}{
		// centre (150,150) -> (160,145), side 100 -> 110
		{similarity{a: 1.1, tx: 160 - 165, ty: 145 - 165}, image.Rect(100, 100, 200, 200), image.Rect(105, 90, 215, 200)},
		{similarity{a: 1, tx: -20, ty: 4}, image.Rect(10, 20, 50, 80), image.Rect(-10, 24, 30, 84)},
		// a quarter turn moves the centre but keeps the box upright
		{similarity{b: 1}, image.Rect(10, 0, 30, 20), image.Rect(-20, 10, 0, 30)},
	}
	for _, c := range cases {
		if got := moveBox(c.in, c.s); got != c.want {
			t.Errorf("moveBox(%v, %+v) = %v, want %v", c.in, c.s, got, c.want)
		}
	}
}

// readFrames reads the first n frames of a shared video.
func readFrames(t *testing.T, rel string, n int) []gocv.Mat {
	t.Helper()
	c, err := gocv.VideoCaptureFile(testenv.Shared(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []gocv.Mat
	for len(out) < n {
		m := gocv.NewMat()
		if !c.Read(&m) || m.Empty() {
			m.Close()
			break
		}
		out = append(out, m)
	}
	t.Cleanup(func() {
		for _, m := range out {
			m.Close()
		}
	})
	return out
}

// The face followed by its landmarks stays where BlazeFace finds it, frame
// after frame, with one ID, and the detector runs only on keyframes.
func TestFollowStaysOnTheFace(t *testing.T) {
	for _, v := range []string{"video/crema_d/1001_DFA_HAP_XX.mp4", "video/bench_crema_640x480_60s.mp4"} {
		t.Run(v, func(t *testing.T) {
			frames := readFrames(t, v, 150)
			tr, err := NewFaceTrackerWith(DetectorParams{}, TrackParams{Landmarks: DefaultLandmarks})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			det, err := NewBlazeDetector(DetectorParams{})
			if err != nil {
				t.Fatal(err)
			}
			defer det.Close()
			worst := 0.0
			for i, f := range frames {
				d := tr.Next(f)
				if len(d.Faces) != 1 || d.Primary != 0 || d.Faces[0].ID != 1 {
					t.Fatalf("frame %d: faces %+v primary %d, want the one face with ID 1", i, d.Faces, d.Primary)
				}
				got := d.Faces[0]
				if got.Landmarks == nil || got.Pose == nil {
					t.Fatalf("frame %d: no landmarks or pose", i)
				}
				if got.Followed == d.Keyframe {
					t.Errorf("frame %d: followed %v on a keyframe %v", i, got.Followed, d.Keyframe)
				}
				fresh := det.Detect(f)
				if len(fresh) != 1 {
					t.Fatalf("frame %d: BlazeFace found %d faces", i, len(fresh))
				}
				side := float64(fresh[0].Box.Dx())
				c, c0 := center(got.Box), center(fresh[0].Box)
				e := math.Hypot(c.X-c0.X, c.Y-c0.Y) / side
				r := float64(got.Box.Dx()) / side
				worst = max(worst, e, math.Abs(r-1))
				if e > 0.08 || r < 0.9 || r > 1.1 { // BlazeFace's own box varies by a few per cent from frame to frame
					t.Errorf("frame %d: followed box %v, BlazeFace's %v: centre off by %.3f of the side, size ratio %.3f", i, got.Box, fresh[0].Box, e, r)
				}
			}
			tm := tr.Timing()
			if want := len(frames) - (len(frames)+9)/10; tm.Followed != want || tm.Lost != 0 {
				t.Errorf("followed %d, lost %d; want %d followed (every frame but the keyframes), 0 lost", tm.Followed, tm.Lost, want)
			}
			t.Logf("worst centre or size difference from BlazeFace: %.3f of the side; %+v", worst, tm)
		})
	}
}

// A cut to a frame without the face ends the following there: the landmark
// net always puts 68 points somewhere, so they must not be trusted.
func TestFollowLosesTheFaceAtACut(t *testing.T) {
	frames := readFrames(t, "video/crema_d/1001_DFA_HAP_XX.mp4", 6)
	rows, cols := frames[0].Rows(), frames[0].Cols()
	cases := []struct {
		name string
		cut  func() gocv.Mat
	}{
		{"black frame", func() gocv.Mat {
			return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), rows, cols, gocv.MatTypeCV8UC3)
		}},
		{"gray frame", func() gocv.Mat {
			return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), rows, cols, gocv.MatTypeCV8UC3)
		}},
		{"face covered", func() gocv.Mat {
			m := frames[5].Clone()
			gocv.Rectangle(&m, image.Rect(120, 60, 320, 260), color.RGBA{90, 80, 70, 0}, -1)
			return m
		}},
		{"face blurred away", func() gocv.Mat {
			m := frames[5].Clone()
			gocv.GaussianBlur(m, &m, image.Pt(0, 0), 25, 25, gocv.BorderDefault)
			return m
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := NewFaceTrackerWith(DetectorParams{}, TrackParams{Landmarks: DefaultLandmarks})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for _, f := range frames[:5] {
				tr.Next(f)
			}
			if tm := tr.Timing(); tm.Followed != 4 {
				t.Fatalf("before the cut: %+v, want 4 frames followed", tm)
			}
			cut := c.cut()
			defer cut.Close()
			d := tr.Next(cut)
			if len(d.Faces) != 0 || d.Primary != -1 {
				t.Errorf("after the cut: %d faces, primary %d; want none", len(d.Faces), d.Primary)
			}
			if tm := tr.Timing(); tm.Lost != 1 || tm.Followed != 4 {
				t.Errorf("after the cut: %+v, want the face lost once", tm)
			}
			// The face comes back: found again, with its ID.
			d = tr.Next(frames[5])
			if len(d.Faces) != 1 || d.Faces[0].ID != 1 || d.Primary != 0 {
				t.Errorf("face back: %+v primary %d, want ID 1 as the participant", d.Faces, d.Primary)
			}
		})
	}
}

// BenchmarkTrackerNext is the in-order stage of the scoring loop per frame
// of a 640x480 video with one face: a keyframe (BlazeFace on the whole
// frame, then the landmarks) and a frame in between (the face followed by
// its landmarks), for each landmark model; "search near" is the tracker
// without landmarks (BlazeFace near the last box on every frame between
// keyframes, as before faces were followed).
func BenchmarkTrackerNext(b *testing.B) {
	c, err := gocv.VideoCaptureFile(testenv.Shared(b, "video/bench_crema_640x480_60s.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	frame := gocv.NewMat()
	defer frame.Close()
	c.Read(&frame)
	c.Close()
	type setup struct {
		name  string
		tp    TrackParams
		every int
	}
	var cases []setup
	for _, m := range LandmarkModels() {
		cases = append(cases, setup{"keyframe/" + m, TrackParams{Landmarks: m}, 1}, setup{"followed/" + m, TrackParams{Landmarks: m}, 1 << 30})
	}
	cases = append(cases, setup{"search near/no landmarks", TrackParams{}, 1 << 30})
	for _, cs := range cases {
		b.Run(cs.name, func(b *testing.B) {
			tr, err := NewFaceTrackerWith(DetectorParams{KeyframeEvery: cs.every}, cs.tp)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			tr.Next(frame) // the first frame is always a keyframe
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if d := tr.Next(frame); len(d.Faces) != 1 {
					b.Fatalf("%d faces", len(d.Faces))
				}
			}
		})
	}
}
