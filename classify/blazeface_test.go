package classify

import (
	"image"
	"math"
	"testing"

	"github.com/affectlab/affect/internal/testenv"
	"gocv.io/x/gocv"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestSSDAnchors(t *testing.T) {
	a := ssdAnchors(128, []int{8, 16, 16, 16})
	if len(a) != 896 {
		t.Fatalf("%d anchors, want 896 (16x16x2 + 8x8x6)", len(a))
	}
	for _, c := range []struct {
		i    int
		x, y float64
	}{
		{0, 0.5 / 16, 0.5 / 16}, {1, 0.5 / 16, 0.5 / 16}, // two anchors per cell on the stride-8 grid
		{2, 1.5 / 16, 0.5 / 16},  // next cell to the right
		{32, 0.5 / 16, 1.5 / 16}, // next row: 16 cells x 2 anchors
		{511, 15.5 / 16, 15.5 / 16},
		{512, 0.5 / 8, 0.5 / 8}, {517, 0.5 / 8, 0.5 / 8}, // three stride-16 layers share a grid: 6 per cell
		{518, 1.5 / 8, 0.5 / 8},
		{895, 7.5 / 8, 7.5 / 8},
	} {
		if !near(a[c.i].x, c.x, 1e-12) || !near(a[c.i].y, c.y, 1e-12) {
			t.Errorf("anchor %d = %+v, want (%g, %g)", c.i, a[c.i], c.x, c.y)
		}
	}
	b := ssdAnchors(256, []int{16, 32, 32, 32})
	if len(b) != 896 || !near(b[0].x, 1.0/32, 1e-12) || !near(b[512].x, 1.0/16, 1e-12) {
		t.Errorf("back model anchors: %d, first %+v, 512th %+v", len(b), b[0], b[512])
	}
}

func TestDecodeBlaze(t *testing.T) {
	anchors := []anchor{{0.25, 0.5}, {0.75, 0.5}, {0.5, 0.5}}
	boxes := make([]float32, 3*16)
	// Anchor 0: offset (12.8, -6.4) px of a 128 input = (0.1, -0.05); size 25.6 x 38.4 px = 0.2 x 0.3.
	copy(boxes, []float32{12.8, -6.4, 25.6, 38.4, 6.4, 12.8})
	scores := []float32{0, -1, 200} // sigmoid 0.5 (kept at 0.5), 0.27 (dropped), clipped to 100: 1
	d := decodeBlaze(nil, scores, boxes, anchors, 128, 0.5)
	if len(d) != 2 {
		t.Fatalf("%d detections, want 2", len(d))
	}
	g := d[0]
	for _, c := range []struct{ got, want float64 }{
		{g.score, 0.5}, {g.xmin, 0.25}, {g.xmax, 0.45}, {g.ymin, 0.3}, {g.ymax, 0.6},
		{g.kp[0][0], 0.3}, {g.kp[0][1], 0.6}, // keypoint (6.4, 12.8) px from the anchor
		{g.kp[1][0], 0.25}, {g.kp[1][1], 0.5}, // zero offsets: the anchor itself
		{d[1].score, 1}, {d[1].xmin, 0.5}, {d[1].xmax, 0.5},
	} {
		if !near(c.got, c.want, 1e-6) {
			t.Errorf("decoded %+v: got %g, want %g", g, c.got, c.want)
		}
	}
}

func TestWeightedNMS(t *testing.T) {
	box := func(s, x0, y0, x1, y1 float64) blazeDet {
		d := blazeDet{score: s, xmin: x0, ymin: y0, xmax: x1, ymax: y1}
		d.kp[0] = [2]float64{x0, y0}
		return d
	}
	in := []blazeDet{
		box(0.6, 0.1, 0, 1.1, 1), // IoU 0.9/1.1 = 0.82 with A: merged into A
		box(0.8, 2, 2, 3, 3),     // far away: its own face
		box(0.9, 0, 0, 1, 1),     // A: the best
		box(0.7, 0, 0, 1, 0.2),   // IoU 0.2 with A (≤ 0.3): kept apart
	}
	out := weightedNMS(nil, append([]blazeDet(nil), in...), 0.3, 10)
	if len(out) != 3 {
		t.Fatalf("%d detections, want 3: %+v", len(out), out)
	}
	m := out[0]
	// Score-weighted mean of A and the shifted box: xmin (0.9·0 + 0.6·0.1)/1.5 = 0.04,
	// xmax (0.9·1 + 0.6·1.1)/1.5 = 1.04; the score stays A's.
	for _, c := range []struct{ got, want float64 }{
		{m.score, 0.9}, {m.xmin, 0.04}, {m.xmax, 1.04}, {m.ymin, 0}, {m.ymax, 1}, {m.kp[0][0], 0.04},
		{out[1].score, 0.8}, {out[1].xmin, 2}, {out[2].score, 0.7}, {out[2].ymax, 0.2},
	} {
		if !near(c.got, c.want, 1e-9) {
			t.Errorf("got %g, want %g (out %+v)", c.got, c.want, out)
		}
	}
	if got := weightedNMS(nil, in, 0.3, 1); len(got) != 1 || got[0].score != 0.9 {
		t.Errorf("maxN 1: %+v", got)
	}
}

func TestLetterboxAndFaceBox(t *testing.T) {
	// 640x480 into 128: scale 0.2, 128x96, 16 rows of padding above.
	lb := letterbox{sx: 0.2, sy: 0.2, padX: 0, padY: 16}
	if x, y := lb.toFrame(0.5, 0.5, 128); !near(x, 320, 1e-9) || !near(y, 240, 1e-9) {
		t.Errorf("centre maps to (%g, %g), want (320, 240)", x, y)
	}
	b := blazeDet{xmin: 100, ymin: 100, xmax: 200, ymax: 200}
	b.kp[KeyRightEye] = [2]float64{130, 140}
	b.kp[KeyLeftEye] = [2]float64{170, 140}
	// centre x 150; centre y 150 + 0.8816·(140−150) + 0.0929·100 = 150.474;
	// side 1.0796·100 = 107.96.
	want := image.Rect(96, 96, 204, 204)
	if got := faceBox(b, 0, 0); got != want {
		t.Errorf("faceBox = %v, want %v", got, want)
	}
}

// Hand-marked points (eye centres, nose tip, mouth centre), read off the
// images scaled up with a pixel grid; BlazeFace's keypoints must be within
// keyTol pixels of them (faces are about 95 and 110 pixels wide).
const keyTol = 7.0

func TestBlazeFaceKeypoints(t *testing.T) {
	cases := []struct {
		name  string
		img   func(t *testing.T) gocv.Mat
		marks [4]Keypoint // right eye (image left), left eye, nose tip, mouth centre
		raw   image.Rectangle
		score float64
	}{
		{"astronaut", func(t *testing.T) gocv.Mat {
			return gocv.IMRead(testenv.Shared(t, "images/astronaut.png"), gocv.IMReadColor)
		}, [4]Keypoint{{202.7, 101.3}, {245.8, 103.0}, {222.3, 123.0}, {223.7, 144.0}},
			image.Rect(178, 81, 272, 175), 0.923},
		{"crema_hap_frame30", func(t *testing.T) gocv.Mat {
			c, err := gocv.VideoCaptureFile(testenv.Shared(t, "video/crema_d/1001_DFA_HAP_XX.mp4"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			m := gocv.NewMat()
			for range 31 {
				c.Read(&m)
			}
			return m
		}, [4]Keypoint{{194.5, 120.6}, {240.0, 119.5}, {219.0, 142.3}, {219.0, 170.0}},
			image.Rect(161, 94, 270, 203), 0.921},
	}
	d, err := NewBlazeDetector(DetectorParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := c.img(t)
			defer img.Close()
			if img.Empty() {
				t.Fatal("cannot read the image")
			}
			faces := d.Detect(img)
			if len(faces) != 1 {
				t.Fatalf("%d faces, want 1: %+v", len(faces), faces)
			}
			f := faces[0]
			for k, m := range c.marks {
				if got := f.Keypoints[k]; math.Hypot(got.X-m.X, got.Y-m.Y) > keyTol {
					t.Errorf("keypoint %d at (%.1f, %.1f), hand-marked (%.1f, %.1f)", k, got.X, got.Y, m.X, m.Y)
				}
			}
			// Pinned: box within a pixel, score within 0.005 (OpenCV builds may differ in the last bits).
			if r := f.Raw; abs(r.Min.X-c.raw.Min.X) > 1 || abs(r.Min.Y-c.raw.Min.Y) > 1 || abs(r.Max.X-c.raw.Max.X) > 1 || abs(r.Max.Y-c.raw.Max.Y) > 1 {
				t.Errorf("BlazeFace box %v, pinned %v", r, c.raw)
			}
			if !near(f.Score, c.score, 0.005) {
				t.Errorf("score %.4f, pinned %.3f", f.Score, c.score)
			}
			// The face box (cascade geometry) contains both eyes and the mouth.
			for _, k := range []int{KeyRightEye, KeyLeftEye, KeyMouth} {
				if p := image.Pt(int(f.Keypoints[k].X), int(f.Keypoints[k].Y)); !p.In(f.Box) {
					t.Errorf("keypoint %d %v outside the face box %v", k, p, f.Box)
				}
			}
			// Tracking: found again near its own box, at the same place.
			n, ok := d.DetectNear(img, f.Box)
			if !ok || abs(center2(n.Box).X-center2(f.Box).X) > 4 || abs(center2(n.Box).Y-center2(f.Box).Y) > 4 {
				t.Errorf("DetectNear: %v %v, want near %v", ok, n.Box, f.Box)
			}
		})
	}
}

func abs(x int) int { return max(x, -x) }

func center2(r image.Rectangle) image.Point { return r.Min.Add(r.Max).Div(2) }
