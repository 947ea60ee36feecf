//go:build matprofile

package classify_test

import (
	"image"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

// TestModelNoMatLeak loads, runs and closes every model on every backend, on
// whole and region (non-continuous) BGR, gray and BGRA face images, and
// requires that no gocv Mat is left open.
// Run with: go test -tags matprofile -run NoMatLeak ./classify/
func TestModelNoMatLeak(t *testing.T) {
	img, gray, bgra := fixtureFaceMats(t)

	defer testenv.CheckMats(t)()
	for _, name := range classify.ModelNames() {
		spec, _ := models.Get(name)
		for _, backend := range classify.BackendNames() {
			m, err := classify.NewModel(name, backend)
			if err != nil {
				t.Fatal(err)
			}
			for _, face := range []gocv.Mat{img, gray, bgra} {
				roi := face.Region(image.Rect(5, 10, 90, 100))
				for _, f := range []gocv.Mat{face, roi} {
					if _, err := m.Predict(f); err != nil {
						t.Fatal(err)
					}
					if _, err := classify.Preprocess(f, spec); err != nil {
						t.Fatal(err)
					}
				}
				roi.Close()
			}
			empty := gocv.NewMat()
			if _, err := m.Predict(empty); err == nil {
				t.Error("empty Mat: no error")
			}
			empty.Close()
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestQualityNoMatLeak runs the quality measures, the detector's score and
// the aligner, and requires that no gocv Mat is left open.
func TestQualityNoMatLeak(t *testing.T) {
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	if img.Empty() {
		t.Fatalf("cannot read %s", fixtureFace)
	}
	defer img.Close()
	defer testenv.CheckMats(t)()
	det, err := classify.NewDetector(classify.DetectorParams{})
	if err != nil {
		t.Skipf("no detector: %v", err)
	}
	al, err := classify.NewAligner()
	if err != nil {
		t.Skipf("no eye cascade: %v", err)
	}
	box := image.Rect(2, 2, img.Cols()-2, img.Rows()-2)
	for range 3 {
		classify.Symmetry(img)
		classify.Sharpness(img)
		det.Neighbors(img, box)
		det.DetectNear(img, box)
		det.Detect(img)
		dst := gocv.NewMat()
		al.Align(img, &dst)
		al.AlignEyes(img, &dst, classify.EyeGeometry{Dist: 0.38, MidX: 0.49, MidY: 0.38})
		dst.Close()
	}
	det.Close()
	al.Close()
}

// TestBlazeFaceNoMatLeak runs both BlazeFace models and a tracker on BGR,
// gray and BGRA images and regions, and requires that no Mat is left open.
func TestBlazeFaceNoMatLeak(t *testing.T) {
	img, gray, bgra := fixtureFaceMats(t)
	defer testenv.CheckMats(t)()
	for _, name := range []string{classify.DetectorBlazeFace, classify.DetectorBlazeFaceBack} {
		d, err := classify.NewBlazeDetector(classify.DetectorParams{Cascade: name})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := classify.NewFaceTracker(classify.DetectorParams{Cascade: name})
		if err != nil {
			t.Fatal(err)
		}
		box := image.Rect(10, 10, img.Cols()-10, img.Rows()-10)
		for _, f := range []gocv.Mat{img, gray, bgra} {
			roi := f.Region(image.Rect(5, 10, 90, 100))
			for _, m := range []gocv.Mat{f, roi} {
				d.Detect(m)
				d.DetectNear(m, box)
				tr.Next(m)
			}
			roi.Close()
		}
		d.Close()
		tr.Close()
	}
}
