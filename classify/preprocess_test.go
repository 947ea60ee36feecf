package classify_test

import (
	"errors"
	"image"
	"math"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

func mustSpec(t testing.TB, name string) models.Spec {
	t.Helper()
	s, err := models.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func uniform(rows, cols int, bgr gocv.Scalar) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(bgr, rows, cols, gocv.MatTypeCV8UC3)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6 }

// TestPreprocessValues checks the normalisation and channel order on
// uniform images (where any bilinear resize returns the colour itself).
func TestPreprocessValues(t *testing.T) {
	human, faceapi := mustSpec(t, "human"), mustSpec(t, "faceapi")
	tests := []struct {
		name       string
		spec       models.Spec
		rows, cols int
		bgr        gocv.Scalar
		want       [3]float64 // per channel (R, G, B) for faceapi; [0] for human
	}{
		{"human white", human, 64, 64, gocv.NewScalar(255, 255, 255, 0), [3]float64{(0.9999*255 - 127.5) / 127.5}},
		{"human black", human, 30, 50, gocv.NewScalar(0, 0, 0, 0), [3]float64{-1}},
		{"human pure red", human, 100, 80, gocv.NewScalar(0, 0, 255, 0), [3]float64{(0.2989*255 - 127.5) / 127.5}},
		{"human pure blue", human, 1, 1, gocv.NewScalar(255, 0, 0, 0), [3]float64{(0.1140*255 - 127.5) / 127.5}},
		{"faceapi red, square", faceapi, 112, 112, gocv.NewScalar(0, 0, 255, 0),
			[3]float64{(255 - 122.782) / 255, -117.001 / 255, -104.298 / 255}},
		{"faceapi blue, square, upscaled", faceapi, 48, 48, gocv.NewScalar(255, 0, 0, 0),
			[3]float64{-122.782 / 255, -117.001 / 255, (255 - 104.298) / 255}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := uniform(tc.rows, tc.cols, tc.bgr)
			defer img.Close()
			x, err := classify.Preprocess(img, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			n := tc.spec.InputSize * tc.spec.InputSize
			if len(x) != tc.spec.Channels*n {
				t.Fatalf("got %d values, want %d", len(x), tc.spec.Channels*n)
			}
			for c := 0; c < tc.spec.Channels; c++ {
				for i := 0; i < n; i++ {
					if v := float64(x[c*n+i]); !near(v, tc.want[c]) {
						t.Fatalf("channel %d pixel %d = %v, want %v", c, i, v, tc.want[c])
					}
				}
			}
		})
	}
}

// TestPreprocessPadToSquare checks face-api's centred padding on a white
// 21x10 image: 11 columns of black are split 5 before and 6 after
// (Math.round(11 * 0.5) = 6 goes after), then the 21x21 square is resized to
// 112 with source = destination * 21/112.
func TestPreprocessPadToSquare(t *testing.T) {
	spec := mustSpec(t, "faceapi")
	for _, tc := range []struct {
		name       string
		rows, cols int
		// transposed: the padding is on rows instead of columns
		transposed bool
	}{{"tall", 21, 10, false}, {"wide", 10, 21, true}} {
		t.Run(tc.name, func(t *testing.T) {
			img := uniform(tc.rows, tc.cols, gocv.NewScalar(255, 255, 255, 0))
			defer img.Close()
			x, err := classify.Preprocess(img, spec)
			if err != nil {
				t.Fatal(err)
			}
			black := -122.782 / 255
			white := (255 - 122.782) / 255
			// Red channel along the middle line across the padding.
			at := func(i int) float64 {
				if tc.transposed {
					return float64(x[i*112+56])
				}
				return float64(x[56*112+i])
			}
			// Source position of output i is i*21/112; padding covers [0,5) and [15,21).
			for _, c := range []struct {
				i    int
				want float64
			}{{0, black}, {21, black}, {40, white}, {74, white}, {80, black}, {111, black}} {
				if got := at(c.i); !near(got, c.want) {
					t.Errorf("output %d = %v, want %v", c.i, got, c.want)
				}
			}
			if got := at(22); near(got, black) || near(got, white) {
				t.Errorf("output 22 = %v, want a blend of black and white (source 4.125)", got)
			}
		})
	}
}

// TestPreprocessEquivalentInputs: gray, BGR, BGRA and region (non-continuous)
// versions of the same face give the same tensor.
func TestPreprocessEquivalentInputs(t *testing.T) {
	img, gray, bgra := fixtureFaceMats(t)
	grayBGR := gocv.NewMat()
	defer grayBGR.Close()
	gocv.CvtColor(gray, &grayBGR, gocv.ColorGrayToBGR)
	r := image.Rect(7, 9, 80, 101)
	roi := img.Region(r)
	defer roi.Close()
	roiCopy := roi.Clone()
	defer roiCopy.Close()
	if roi.IsContinuous() {
		t.Fatal("test assumption: a region of the fixture is not continuous")
	}
	for _, name := range classify.ModelNames() {
		spec := mustSpec(t, name)
		for _, pair := range []struct {
			what string
			a, b gocv.Mat
		}{{"gray vs gray as BGR", gray, grayBGR}, {"BGRA vs BGR", bgra, img}, {"region vs its copy", roi, roiCopy}} {
			xa, err := classify.Preprocess(pair.a, spec)
			if err != nil {
				t.Fatal(err)
			}
			xb, err := classify.Preprocess(pair.b, spec)
			if err != nil {
				t.Fatal(err)
			}
			for i := range xa {
				if xa[i] != xb[i] {
					t.Errorf("%s %s: value %d differs: %v vs %v", name, pair.what, i, xa[i], xb[i])
					break
				}
			}
		}
	}
}

func TestPreprocessErrors(t *testing.T) {
	spec := mustSpec(t, "human")
	empty := gocv.NewMat()
	defer empty.Close()
	f32 := gocv.NewMatWithSize(8, 8, gocv.MatTypeCV32FC3)
	defer f32.Close()
	two := gocv.NewMatWithSize(8, 8, gocv.MatTypeCV8UC2)
	defer two.Close()
	for _, tc := range []struct {
		name string
		m    gocv.Mat
	}{{"empty", empty}, {"float", f32}, {"two channels", two}} {
		if _, err := classify.Preprocess(tc.m, spec); !errors.Is(err, classify.ErrBadFace) {
			t.Errorf("%s: got %v, want ErrBadFace", tc.name, err)
		}
	}
	img := uniform(4, 4, gocv.NewScalar(1, 2, 3, 0))
	defer img.Close()
	if _, err := classify.Preprocess(img, models.Spec{Name: "broken"}); err == nil {
		t.Error("zero Spec: no error")
	}
}
