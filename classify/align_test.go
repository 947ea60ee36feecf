package classify_test

import (
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/affectlab/affect/classify"
	"gocv.io/x/gocv"
)

// Pinned alignment of samples/face.jpg's face crop (OpenCV 4.6.0): the
// eye angle measured on the crop, and on the crop turned by ±12 degrees,
// and the aligned crop's pixels. Re-measure if the eye cascade, the crop or
// Aligner changes.
var (
	pinnedEyeAngle   = 11.745633 // the face in the sample is tilted: its right eye is lower
	pinnedAlignedSHA = "2ba0c8c366d6267f"
)

func TestAlignPinned(t *testing.T) {
	img, box, det := readFace(t)
	defer img.Close()
	defer det.Close()
	a, err := classify.NewAligner()
	if err != nil {
		t.Skipf("no eye cascade (install opencv-data): %v", err)
	}
	defer a.Close()
	region := img.Region(classify.CropBox(box, 0.1, image.Rect(0, 0, img.Cols(), img.Rows())))
	crop := region.Clone()
	region.Close()
	defer crop.Close()
	ang, ok := a.EyeAngle(crop)
	t.Logf("eye angle %.6f (found %v)", ang, ok)
	if !ok || math.Abs(ang-pinnedEyeAngle) > 1e-6 {
		t.Errorf("eye angle %.6f (found %v), pinned %.6f", ang, ok, pinnedEyeAngle)
	}
	for _, turn := range []float64{-12, 12} {
		c := image.Pt(crop.Cols()/2, crop.Rows()/2)
		m := gocv.GetRotationMatrix2D(c, turn, 1)
		tilted := gocv.NewMat()
		gocv.WarpAffineWithParams(crop, &tilted, m, image.Pt(crop.Cols(), crop.Rows()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
		m.Close()
		aligned := gocv.NewMat()
		got, ok := a.Align(tilted, &aligned)
		// OpenCV's angle is counter-clockwise: the eyes tilt by -turn.
		if !ok || math.Abs(got-(pinnedEyeAngle-turn)) > 3 {
			t.Errorf("crop turned by %v°: measured %.2f° (found %v), want %.1f ± 3", turn, got, ok, pinnedEyeAngle-turn)
		}
		if after, ok := a.EyeAngle(aligned); !ok || math.Abs(after) > 3 {
			t.Errorf("crop turned by %v° and aligned: eyes at %.2f° (found %v), want level ± 3", turn, after, ok)
		}
		if turn == 12 {
			sum := sha256.Sum256(aligned.ToBytes())
			t.Logf("aligned crop sha %s", hex.EncodeToString(sum[:8]))
			if got := hex.EncodeToString(sum[:8]); got != pinnedAlignedSHA {
				t.Errorf("aligned crop pixels sha256 %s, pinned %s", got, pinnedAlignedSHA)
			}
		}
		tilted.Close()
		aligned.Close()
	}
}
