package classify_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

// tinyLandmarkModel is face-api's FaceLandmark68TinyNet (models.GetLandmarks).
const tinyLandmarkModel = "landmark68tiny"

// loadLandmarkRefModel reads models/testdata/reference_<model>.json, written
// by models/reference/reference.js with face-api's own landmark net of that
// name (FaceLandmark68Net, FaceLandmark68TinyNet).
func loadLandmarkRefModel(t testing.TB, model string) landmarkRef {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mtRoot(t), "models", "testdata", "reference_"+model+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r landmarkRef
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) == 0 {
		t.Fatalf("reference_%s.json has no cases", model)
	}
	return r
}

// newLandmarkerModel is newLandmarker for a named landmark model.
func newLandmarkerModel(t testing.TB, backend, model string) *classify.Landmarker {
	t.Helper()
	l, err := classify.NewLandmarkerModel(backend, model)
	if err != nil {
		t.Fatalf("NewLandmarkerModel(%s, %s): %v", backend, model, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestLandmarkTinyMatchesTensorFlowJS runs landmark68tiny on both backends
// on the inputs face-api's own FaceLandmark68TinyNet was run on: the raw
// outputs must be face-api's runNet outputs to landmarkOutTol and the pixel
// positions its detectLandmarks positions to landmarkPixTol, from the
// reference input and, for the image case, from the PNG through the Go
// preprocessing.
func TestLandmarkTinyMatchesTensorFlowJS(t *testing.T) {
	ref := loadLandmarkRefModel(t, tinyLandmarkModel)
	for _, backend := range classify.BackendNames() {
		t.Run(backend, func(t *testing.T) {
			l := newLandmarkerModel(t, backend, tinyLandmarkModel)
			worstOut, worstPix := 0.0, 0.0
			for _, c := range ref.Cases {
				out, err := classify.LandmarkerInfer(l, decodeF32(t, c.Input))
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != len(c.Output) || len(c.Positions) != 2*models.LandmarkPoints {
					t.Fatalf("%s: %d outputs, reference has %d outputs and %d coordinates", c.Name, len(out), len(c.Output), len(c.Positions))
				}
				d := 0.0
				for i := range out {
					d = math.Max(d, math.Abs(float64(out[i])-c.Output[i]))
				}
				if d > landmarkOutTol {
					t.Errorf("%s: max |ONNX - TF.js| raw output = %.3g > %g", c.Name, d, landmarkOutTol)
				}
				worstOut = math.Max(worstOut, d)
				pos, err := classify.LandmarksFromOutput(out, image.Rect(0, 0, c.Width, c.Height))
				if err != nil {
					t.Fatal(err)
				}
				if d := maxPositionDiff(pos, c.Positions); d > landmarkPixTol {
					t.Errorf("%s: positions differ from face-api's by %.3g px > %g", c.Name, d, landmarkPixTol)
				} else {
					worstPix = math.Max(worstPix, d)
				}
			}
			t.Logf("landmark68tiny on %s over %d cases: max |ONNX - TF.js| raw = %.3g, positions %.3g px", backend, len(ref.Cases), worstOut, worstPix)

			for _, c := range ref.Cases {
				if c.Image == "" {
					continue
				}
				p := filepath.Join(mtRoot(t), filepath.FromSlash(c.Image))
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != c.ImageSHA256 {
					t.Fatalf("%s: sha256 %x, the reference was made from %s", c.Image, sum, c.ImageSHA256)
				}
				img := gocv.IMRead(p, gocv.IMReadColor)
				if img.Empty() {
					t.Fatalf("cannot read %s", c.Image)
				}
				pos, err := l.Landmarks(img, image.Rect(0, 0, img.Cols(), img.Rows()))
				img.Close()
				if err != nil {
					t.Fatal(err)
				}
				d := maxPositionDiff(pos, c.Positions)
				t.Logf("%s from %s: max |Go - face-api| position = %.3g px", c.Name, c.Image, d)
				if d > landmarkPixTol {
					t.Errorf("%s: Landmarks on %s differ from face-api's detectLandmarks by %.3g px > %g", c.Name, c.Image, d, landmarkPixTol)
				}
			}
		})
	}
}

// maxPositionDiff is the largest |x - x'| or |y - y'| between l and the
// interleaved reference positions want.
func maxPositionDiff(l classify.Landmarks68, want []float64) float64 {
	d := 0.0
	for i, p := range l {
		d = math.Max(d, math.Max(math.Abs(p.X-want[2*i]), math.Abs(p.Y-want[2*i+1])))
	}
	return d
}

// TestNewLandmarkerModelErrors: an unknown landmark model or backend is an
// error of the right kind, and nothing is left to close.
func TestNewLandmarkerModelErrors(t *testing.T) {
	tests := []struct {
		name, backend, model string
		want                 error
	}{
		{"unknown model on opencv", classify.BackendOpenCV, "landmark5", models.ErrUnknownModel},
		{"unknown model on onnxgo", classify.BackendONNXGo, "landmark5", models.ErrUnknownModel},
		{"empty model name", classify.BackendOpenCV, "", models.ErrUnknownModel},
		{"expression model is not a landmark model", classify.BackendOpenCV, "faceapi", models.ErrUnknownModel},
		{"unknown backend", "tensorflow", tinyLandmarkModel, classify.ErrUnknownBackend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := classify.NewLandmarkerModel(tc.backend, tc.model)
			if !errors.Is(err, tc.want) {
				t.Errorf("NewLandmarkerModel(%q, %q) = %v, want an error wrapping %v", tc.backend, tc.model, err, tc.want)
			}
			if l != nil {
				t.Errorf("got a Landmarker with the error")
				l.Close()
			}
		})
	}
}

// TestLandmarkTinyBackendsAgree: onnx-go and OpenCV DNN give the same
// landmark68tiny landmarks (to landmarkPixTol) on the fixture, whole and
// with a box that sticks out of the frame.
func TestLandmarkTinyBackendsAgree(t *testing.T) {
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatalf("cannot read %s", fixtureFace)
	}
	a := newLandmarkerModel(t, classify.BackendOpenCV, tinyLandmarkModel)
	b := newLandmarkerModel(t, classify.BackendONNXGo, tinyLandmarkModel)
	for _, box := range []image.Rectangle{image.Rect(0, 0, img.Cols(), img.Rows()), image.Rect(-10, 5, 80, 120)} {
		la, err := a.Landmarks(img, box)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := b.Landmarks(img, box)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxPositionDiff(la, flatten(lb)); d > landmarkPixTol {
			t.Errorf("box %v: backends differ by %.3g px > %g", box, d, landmarkPixTol)
		}
	}
}

func flatten(l classify.Landmarks68) []float64 {
	out := make([]float64, 0, 2*len(l))
	for _, p := range l {
		out = append(out, p.X, p.Y)
	}
	return out
}
