package classify_test

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// The quality measures of samples/face.jpg.
const (
	pinnedNeighbors = 33
	pinnedSymmetry  = 0.506589
)

func TestQualityLowRule(t *testing.T) {
	n := func(v int) *int { return &v }
	good := record.Quality{FaceFrac: 0.3, Sharpness: 300, Symmetry: 0.6, DetectNeighbors: n(40)}
	for _, tc := range []struct {
		name string
		edit func(*record.Quality)
		low  bool
	}{
		{"good", func(*record.Quality) {}, false},
		{"crop without detection score", func(q *record.Quality) { q.DetectNeighbors = nil }, false},
		{"small face", func(q *record.Quality) { q.FaceFrac = 0.09 }, true},
		{"smallest allowed face", func(q *record.Quality) { q.FaceFrac = classify.MinFaceFrac }, false},
		{"blurred", func(q *record.Quality) { q.Sharpness = 19.9 }, true},
		{"weak detection", func(q *record.Quality) { q.DetectNeighbors = n(classify.MinDetectNeighbors - 1) }, true},
		{"detection at the minimum", func(q *record.Quality) { q.DetectNeighbors = n(classify.MinDetectNeighbors) }, false},
		{"not found again at the common scale", func(q *record.Quality) { q.DetectNeighbors = n(0) }, true},
		{"turned away", func(q *record.Quality) { q.Symmetry = -0.2 }, true},
		{"symmetry at the minimum", func(q *record.Quality) { q.Symmetry = classify.MinSymmetry }, false},
	} {
		q := good
		tc.edit(&q)
		if got := classify.QualityLow(q); got != tc.low {
			t.Errorf("%s: QualityLow(%+v) = %v, want %v", tc.name, q, got, tc.low)
		}
	}
}

// readFace returns samples/face.jpg and the face box the detector finds.
func readFace(t *testing.T) (gocv.Mat, image.Rectangle, *classify.Detector) {
	t.Helper()
	img := readPinned(t)
	det, err := classify.NewDetector(classify.DetectorParams{})
	if err != nil {
		img.Close()
		t.Skipf("no face detector (install opencv-data): %v", err)
	}
	faces := det.Detect(img)
	if len(faces) == 0 {
		t.Fatal("no face in the sample")
	}
	return img, faces[0].Box, det
}

func TestSymmetry(t *testing.T) {
	img, box, det := readFace(t)
	defer img.Close()
	defer det.Close()
	crop := img.Region(classify.CropBox(box, 0.1, image.Rect(0, 0, img.Cols(), img.Rows())))
	defer crop.Close()
	frontal := classify.Symmetry(crop)
	if frontal < 0.5 {
		t.Errorf("frontal face: symmetry %.3f, want ≥ 0.5", frontal)
	}
	mirrored := gocv.NewMat()
	defer mirrored.Close()
	gocv.Flip(crop, &mirrored, 1)
	if m := classify.Symmetry(mirrored); m < frontal-1e-6 || m > frontal+1e-6 {
		t.Errorf("mirrored face: symmetry %.6f, want the same as the face (%.6f)", m, frontal)
	}
	// Half the face in deep shadow.
	shadow := crop.Clone()
	defer shadow.Close()
	half := shadow.Region(image.Rect(shadow.Cols()/2, 0, shadow.Cols(), shadow.Rows()))
	half.MultiplyFloat(0.15)
	half.Close()
	// The face seen from the side: only its left part, with background.
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	side := img.Region(image.Rect(0, box.Min.Y, box.Min.X+box.Dx()/2, box.Max.Y).Intersect(bounds))
	defer side.Close()
	flat := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), 64, 64, gocv.MatTypeCV8UC3)
	defer flat.Close()
	for _, tc := range []struct {
		name string
		m    gocv.Mat
		max  float64
	}{
		{"half in shadow", shadow, frontal - 0.2},
		{"half a face", side, frontal - 0.2},
		{"flat", flat, 0},
	} {
		if s := classify.Symmetry(tc.m); s > tc.max {
			t.Errorf("%s: symmetry %.3f, want ≤ %.3f (frontal %.3f)", tc.name, s, tc.max, frontal)
		}
	}
}

func TestDetectionScore(t *testing.T) {
	img, box, det := readFace(t)
	defer img.Close()
	defer det.Close()
	face := det.Neighbors(img, box)
	if face < 20 {
		t.Errorf("clear frontal face: %d hits, want ≥ 20", face)
	}
	faces := det.Detect(img)
	if faces[0].Neighbors != face {
		t.Errorf("Detect gave %d hits, Neighbors %d: want the same common-scale count", faces[0].Neighbors, face)
	}
	if near, ok := det.DetectNear(img, box); !ok || near.Neighbors != face {
		t.Errorf("DetectNear gave %d hits (found %v), want %d as on the keyframe", near.Neighbors, ok, face)
	}
	// The lower half of the face hidden (a hand, a microphone).
	hidden := img.Clone()
	defer hidden.Close()
	gocv.Rectangle(&hidden, image.Rect(box.Min.X, box.Min.Y+box.Dy()/2, box.Max.X, box.Max.Y), color.RGBA{60, 50, 40, 0}, -1)
	if h := det.Neighbors(hidden, box); h >= face/2 {
		t.Errorf("half-hidden face: %d hits, want fewer than half the full face's %d", h, face)
	}
	wall := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 130, 140, 0), img.Rows(), img.Cols(), gocv.MatTypeCV8UC3)
	defer wall.Close()
	gocv.Rectangle(&wall, image.Rect(60, 60, 120, 140), color.RGBA{20, 20, 20, 0}, -1)
	if w := det.Neighbors(wall, box); w >= classify.MinDetectNeighbors {
		t.Errorf("no face: %d hits, want < %d", w, classify.MinDetectNeighbors)
	}
}

// The Scorer reports every measure for a detected face, and none of the
// detector's for a crop.
func TestScorerQuality(t *testing.T) {
	s, err := classify.NewScorer(classify.ScorerParams{Model: "human"})
	if err != nil {
		t.Skipf("scorer: %v", err)
	}
	defer s.Close()
	img := readPinned(t)
	defer img.Close()
	faces, err := s.Score(img)
	if err != nil || len(faces) == 0 {
		t.Fatalf("no face: %v", err)
	}
	q := faces[0].Quality
	if q == nil || q.DetectNeighbors == nil {
		t.Fatalf("sample face quality %+v: want every measure", q)
	}
	t.Logf("sample face quality: neighbors %v symmetry %.6f sharpness %.3f", *q.DetectNeighbors, q.Symmetry, q.Sharpness)
	// Pinned on OpenCV 4.6.0 (see pin_test.go).
	if *q.DetectNeighbors != pinnedNeighbors || math.Abs(q.Symmetry-pinnedSymmetry) > 1e-5 {
		t.Errorf("sample face: %d hits, symmetry %.6f; pinned %d, %.6f", *q.DetectNeighbors, q.Symmetry, pinnedNeighbors, pinnedSymmetry)
	}
	if q == nil || q.DetectNeighbors == nil || *q.DetectNeighbors < 20 || q.Symmetry < 0.5 || q.Sharpness < classify.MinSharpness || q.Low {
		t.Errorf("sample face quality %+v: want a detection score ≥ 20, symmetry ≥ 0.5, sharp, not low", q)
	}
	cs, err := classify.NewScorer(classify.ScorerParams{Model: "human", Crops: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	crop := gocv.IMRead(filepath.Join(mtRoot(t), "classify", fixtureFace), gocv.IMReadColor)
	defer crop.Close()
	faces, err = cs.Score(crop)
	if err != nil || len(faces) != 1 {
		t.Fatalf("crop: %v", err)
	}
	if q := faces[0].Quality; q == nil || q.DetectNeighbors != nil || q.Symmetry == 0 {
		t.Errorf("crop quality %+v: want no detection score and a symmetry", q)
	}
}
