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

// TestLandmarkerModelsNoMatLeak runs every landmark model
// (models.LandmarkModelNames) on both backends on whole and region BGR, gray
// and BGRA frames, with boxes inside, across and outside the frame, and
// requires that no gocv Mat is left open.
// Run with: go test -tags matprofile -run NoMatLeak ./classify/
func TestLandmarkerModelsNoMatLeak(t *testing.T) {
	img, gray, bgra := fixtureFaceMats(t)

	defer testenv.CheckMats(t)()
	for _, model := range models.LandmarkModelNames {
		for _, backend := range classify.BackendNames() {
			l, err := classify.NewLandmarkerModel(backend, model)
			if err != nil {
				t.Fatal(err)
			}
			for _, frame := range []gocv.Mat{img, gray, bgra} {
				roi := frame.Region(image.Rect(2, 3, 90, 100))
				for _, f := range []gocv.Mat{frame, roi} {
					for _, box := range []image.Rectangle{image.Rect(0, 0, 60, 80), image.Rect(-5, 10, 200, 90)} {
						if _, err := l.Landmarks(f, box); err != nil {
							t.Fatalf("%s on %s: %v", model, backend, err)
						}
					}
					if _, err := l.Landmarks(f, image.Rect(500, 500, 600, 600)); err == nil {
						t.Errorf("%s on %s: box outside the frame: no error", model, backend)
					}
				}
				roi.Close()
			}
			empty := gocv.NewMat()
			if _, err := l.Landmarks(empty, image.Rect(0, 0, 10, 10)); err == nil {
				t.Errorf("%s on %s: empty frame: no error", model, backend)
			}
			empty.Close()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := classify.NewLandmarkerModel(classify.BackendOpenCV, "nope"); err == nil {
		t.Error("unknown model: no error")
	}
}
