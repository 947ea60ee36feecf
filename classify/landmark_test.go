package classify_test

import (
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

// landmarkRef is models/testdata/reference_landmark68.json, written by
// models/reference/reference.js with face-api's own FaceLandmark68Net.
type landmarkRef struct {
	Source     string `json:"source"`
	InputShape []int  `json:"inputShape"`
	Cases      []struct {
		Name        string    `json:"name"`
		Image       string    `json:"image"`
		ImageSHA256 string    `json:"imageSha256"`
		Width       int       `json:"width"`
		Height      int       `json:"height"`
		Input       string    `json:"input"`
		Output      []float64 `json:"output"`    // runNet: the ONNX graph's output
		Relative    []float64 `json:"relative"`  // forward: after postProcess
		Positions   []float64 `json:"positions"` // detectLandmarks: pixels of the image
	} `json:"cases"`
}

func pt(x, y float64) classify.Point { return classify.Point{X: x, Y: y} }

func loadLandmarkRef(t testing.TB) landmarkRef {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mtRoot(t), "models", "testdata", "reference_landmark68.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r landmarkRef
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) == 0 {
		t.Fatal("reference_landmark68.json has no cases")
	}
	return r
}

// Tolerances: raw outputs are positions relative to the 112-pixel input
// (1e-4 is about 0.01 pixel of the input); positions in pixels.
const (
	landmarkOutTol = 1e-4
	landmarkPixTol = 1e-3
)

// landmarkBackend is a Landmarker per backend shared by the serial tests.
func newLandmarker(t testing.TB, backend string) *classify.Landmarker {
	t.Helper()
	l, err := classify.NewLandmarker(backend)
	if err != nil {
		t.Fatalf("NewLandmarker(%s): %v", backend, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestLandmarkConversionMatchesTensorFlowJS runs both ONNX graphs on the
// inputs face-api's own FaceLandmark68Net was run on, and checks the Go
// postProcess and the Go preprocessing against face-api's.
func TestLandmarkConversionMatchesTensorFlowJS(t *testing.T) {
	ref := loadLandmarkRef(t)
	spec := models.Landmarks()
	for _, backend := range classify.BackendNames() {
		be := newLandmarker(t, backend)
		worst := 0.0
		for _, c := range ref.Cases {
			got, err := classify.LandmarkerInfer(be, decodeF32(t, c.Input))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.Output) {
				t.Fatalf("%s/%s: %d outputs, reference has %d", backend, c.Name, len(got), len(c.Output))
			}
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i])-c.Output[i]))
			}
		}
		t.Logf("landmark68 on %s: max |ONNX - TF.js| over %d cases = %.3g (relative to the input; x112 for pixels)", backend, len(ref.Cases), worst)
		if worst > landmarkOutTol {
			t.Errorf("%s: max |ONNX - TF.js| = %.3g > %g", backend, worst, landmarkOutTol)
		}
	}
	// postProcess + FaceLandmarks: the reference's raw outputs mapped by Go
	// must give face-api's own pixel positions.
	for _, c := range ref.Cases {
		out := make([]float32, len(c.Output))
		for i, v := range c.Output {
			out[i] = float32(v)
		}
		l, err := classify.LandmarksFromOutput(out, image.Rect(0, 0, c.Width, c.Height))
		if err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for i, p := range l {
			d = math.Max(d, math.Max(math.Abs(p.X-c.Positions[2*i]), math.Abs(p.Y-c.Positions[2*i+1])))
		}
		t.Logf("%s (%dx%d): max |Go - face-api| position = %.3g px", c.Name, c.Width, c.Height, d)
		if d > landmarkPixTol {
			t.Errorf("%s: positions differ from face-api's by %.3g px", c.Name, d)
		}
	}
	// Preprocessing of the (non-square) fixture as face-api does it.
	for _, c := range ref.Cases {
		if c.Image == "" {
			continue
		}
		img := gocv.IMRead(filepath.Join(mtRoot(t), filepath.FromSlash(c.Image)), gocv.IMReadColor)
		if img.Empty() {
			t.Fatalf("cannot read %s", c.Image)
		}
		got, err := classify.Preprocess(img, spec)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := decodeF32(t, c.Input)
		d := 0.0
		for i := range got {
			d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		}
		t.Logf("landmark68 preprocessing of %s: max |Go - TF.js| = %.3g", c.Image, d)
		if d > preprocessTol {
			t.Errorf("preprocessing differs by %.3g > %g", d, preprocessTol)
		}
	}
}

// landmarkCase is a real face with hand-marked points.
type landmarkCase struct {
	name string
	load func(t *testing.T) gocv.Mat
	// box is the face box the test gives (the Haar box the project's
	// detector found when the test was written; fixed here so the test does
	// not depend on the detector).
	box image.Rectangle
	// marks are points marked by hand on the image (zoomed 5x with a 10 px
	// grid): landmark index -> pixel.
	marks map[int]classify.Point
}

func landmarkCases() []landmarkCase {
	return []landmarkCase{
		{
			name: "astronaut",
			load: func(t *testing.T) gocv.Mat {
				p := testenv.Shared(t, "images/astronaut.png")
				return gocv.IMRead(p, gocv.IMReadColor)
			},
			box: image.Rect(174, 66, 272, 163),
			marks: map[int]classify.Point{
				classify.LandmarkRightEyeOuter: pt(192, 102),
				classify.LandmarkRightEyeInner: pt(210, 103),
				classify.LandmarkLeftEyeInner:  pt(236, 103),
				classify.LandmarkLeftEyeOuter:  pt(254, 101),
				classify.LandmarkNoseTip:       pt(221, 126),
				classify.LandmarkMouthRight:    pt(201, 139),
				classify.LandmarkMouthLeft:     pt(246, 139),
			},
		},
		{
			name: "crema_d_1001_DFA_HAP_frame30",
			load: func(t *testing.T) gocv.Mat { return cremaFrame(t, "1001_DFA_HAP_XX.mp4", 30) },
			box:  image.Rect(150, 60, 287, 197),
			marks: map[int]classify.Point{
				classify.LandmarkRightEyeOuter: pt(187, 120),
				classify.LandmarkRightEyeInner: pt(204, 120),
				classify.LandmarkLeftEyeInner:  pt(229, 120),
				classify.LandmarkLeftEyeOuter:  pt(246, 119),
				classify.LandmarkNoseTip:       pt(217, 142),
				classify.LandmarkMouthRight:    pt(199, 165),
				classify.LandmarkMouthLeft:     pt(237, 165),
			},
		},
	}
}

// cremaFrame returns frame index (0-based) of a CREMA-D clip.
func cremaFrame(t *testing.T, clip string, index int) gocv.Mat {
	t.Helper()
	p := testenv.Shared(t, filepath.Join("video", "crema_d", clip))
	vc, err := gocv.VideoCaptureFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	for i := 0; i <= index; i++ {
		if !vc.Read(&img) || img.Empty() {
			img.Close()
			t.Fatalf("%s has no frame %d", clip, i)
		}
	}
	return img
}

// TestLandmarksMatchHandMarks: on two real faces the eye corners, nose tip
// and mouth corners are within a few pixels of where a person puts them.
// The faces are about 100 and 137 pixels wide; the eye corners are about 60
// px apart; 6 px is a tenth of that. The tiny net is a little less
// accurate: when this was written its worst point was 6.0 px off
// (astronaut, left mouth corner; landmark68: 4.8 px) and its mean 3.0 and
// 1.9 px (landmark68: 2.5 and 1.0 px), so it is held to 7 px.
func TestLandmarksMatchHandMarks(t *testing.T) {
	tols := map[string]float64{"landmark68": 6, "landmark68tiny": 7}
	for _, c := range landmarkCases() {
		t.Run(c.name, func(t *testing.T) {
			img := c.load(t)
			defer img.Close()
			if img.Empty() {
				t.Fatal("cannot read the image")
			}
			for _, model := range classify.LandmarkModels() {
				tol, ok := tols[model]
				if !ok {
					t.Fatalf("no tolerance for landmark model %q", model)
				}
				for _, backend := range classify.BackendNames() {
					l, err := newLandmarkerModel(t, backend, model).Landmarks(img, c.box)
					if err != nil {
						t.Fatal(err)
					}
					worst, sum := 0.0, 0.0
					for i, want := range c.marks {
						d := math.Hypot(l[i].X-want.X, l[i].Y-want.Y)
						worst, sum = math.Max(worst, d), sum+d
						if d > tol {
							t.Errorf("%s/%s: landmark %d at (%.1f, %.1f), marked at (%.0f, %.0f): %.1f px off", model, backend, i, l[i].X, l[i].Y, want.X, want.Y, d)
						}
					}
					t.Logf("%s/%s: mean %.2f px, worst %.2f px of %d hand-marked points", model, backend, sum/float64(len(c.marks)), worst, len(c.marks))
				}
			}
		})
	}
}

// TestLandmarksPinned pins landmarks on the committed fixture (the whole
// 96x112 image as the box) on both backends.
func TestLandmarksPinned(t *testing.T) {
	pinned := map[int]classify.Point{
		8: pt(48.9218, 96.6757), 30: pt(52.9698, 61.0269), 36: pt(26.5181, 42.5328), 39: pt(38.9719, 42.9207),
		42: pt(57.2379, 41.4574), 45: pt(68.6523, 39.5126), 48: pt(31.4665, 72.5076), 54: pt(64.8387, 70.5067),
	}
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	defer img.Close()
	for _, backend := range classify.BackendNames() {
		l, err := newLandmarker(t, backend).Landmarks(img, image.Rect(0, 0, img.Cols(), img.Rows()))
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range pinned {
			if math.Abs(l[i].X-want.X) > 1e-3 || math.Abs(l[i].Y-want.Y) > 1e-3 {
				t.Errorf("%s: landmark %d = (%.4f, %.4f), pinned (%.4f, %.4f)", backend, i, l[i].X, l[i].Y, want.X, want.Y)
			}
		}
		if d := l.EyeDistance(); math.Abs(d-30.715) > 0.01 {
			t.Errorf("%s: eye distance %.3f", backend, d)
		}
	}
}

// TestLandmarkBackendsAgree: onnx-go and OpenCV DNN give the same landmarks
// (to 1e-3 px) on real faces, including a box that sticks out of the frame.
func TestLandmarkBackendsAgree(t *testing.T) {
	type face struct {
		name string
		img  gocv.Mat
		box  image.Rectangle
	}
	fix := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	faces := []face{
		{"fixture", fix, image.Rect(0, 0, fix.Cols(), fix.Rows())},
		{"fixture_off_edge", fix, image.Rect(-10, 5, 80, 120)},
	}
	for _, c := range landmarkCases() {
		if _, err := os.Stat(filepath.Join(mtRoot(t), "..", "shared", "data")); err != nil {
			break
		}
		faces = append(faces, face{c.name, c.load(t), c.box})
	}
	a, b := newLandmarker(t, classify.BackendOpenCV), newLandmarker(t, classify.BackendONNXGo)
	worst := 0.0
	for _, f := range faces {
		la, err := a.Landmarks(f.img, f.box)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := b.Landmarks(f.img, f.box)
		if err != nil {
			t.Fatal(err)
		}
		for i := range la {
			worst = math.Max(worst, math.Max(math.Abs(la[i].X-lb[i].X), math.Abs(la[i].Y-lb[i].Y)))
		}
	}
	for _, f := range faces[1:] {
		if f.name != "fixture_off_edge" {
			f.img.Close()
		}
	}
	fix.Close()
	t.Logf("max |opencv - onnxgo| over %d faces = %.3g px", len(faces), worst)
	if worst > landmarkPixTol {
		t.Errorf("backends differ by %.3g px > %g", worst, landmarkPixTol)
	}
}

// TestLandmarksRepeatedRunsIdentical: 100 runs on one face give identical
// landmarks on each backend (onnx-go has had run-to-run drift).
func TestLandmarksRepeatedRunsIdentical(t *testing.T) {
	runs := 100
	if testing.Short() {
		runs = 10
	}
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	defer img.Close()
	box := image.Rect(0, 0, img.Cols(), img.Rows())
	for _, backend := range classify.BackendNames() {
		l := newLandmarker(t, backend)
		first, err := l.Landmarks(img, box)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < runs; i++ {
			got, err := l.Landmarks(img, box)
			if err != nil {
				t.Fatal(err)
			}
			if got != first {
				t.Fatalf("%s: run %d differs from run 0", backend, i)
			}
		}
	}
}

func TestLandmarkerErrors(t *testing.T) {
	if _, err := classify.NewLandmarker("tensorflow"); !errors.Is(err, classify.ErrUnknownBackend) {
		t.Errorf("unknown backend: got %v", err)
	}
	l := newLandmarker(t, classify.BackendOpenCV)
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	defer img.Close()
	if _, err := l.Landmarks(img, image.Rect(200, 200, 300, 300)); !errors.Is(err, classify.ErrBadFace) {
		t.Errorf("box outside the frame: got %v", err)
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := l.Landmarks(empty, image.Rect(0, 0, 10, 10)); !errors.Is(err, classify.ErrBadFace) {
		t.Errorf("empty frame: got %v", err)
	}
	if _, err := classify.LandmarksFromOutput(make([]float32, 10), image.Rect(0, 0, 5, 5)); !errors.Is(err, classify.ErrBadOutput) {
		t.Errorf("short output: got %v", err)
	}
	bad := make([]float32, 136)
	bad[7] = float32(math.NaN())
	if _, err := classify.LandmarksFromOutput(bad, image.Rect(0, 0, 5, 5)); !errors.Is(err, classify.ErrBadOutput) {
		t.Errorf("NaN output: got %v", err)
	}
	l.Close()
	if _, err := l.Landmarks(img, image.Rect(0, 0, 10, 10)); !errors.Is(err, classify.ErrClosed) {
		t.Errorf("closed: got %v", err)
	}
}

// BenchmarkLandmarks: one face (the 96x112 fixture) per op.
func BenchmarkLandmarks(b *testing.B) {
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	defer img.Close()
	box := image.Rect(0, 0, img.Cols(), img.Rows())
	for _, model := range classify.LandmarkModels() {
		for _, backend := range classify.BackendNames() {
			b.Run(model+"/"+backend, func(b *testing.B) {
				l, err := classify.NewLandmarkerModel(backend, model)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.Landmarks(img, box); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
