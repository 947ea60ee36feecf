package classify_test

import (
	"image"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/classify"
	"gocv.io/x/gocv"
)

// BenchmarkScoreFace is the per-face cost of the default model (the
// shipped combination's crops, mirror averaging and inputs) on the
// project's sample face, detection excluded: what the default adds per
// scored face.
func BenchmarkScoreFace(b *testing.B) {
	img := gocv.IMRead(filepath.Join("..", "samples", "face.jpg"), gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		b.Fatal("cannot read samples/face.jpg")
	}
	for _, model := range []string{classify.DefaultModel, classify.ModelEnsemble} {
		b.Run(model, func(b *testing.B) {
			s, err := classify.NewScorer(classify.ScorerParams{Model: model})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			dets := []classify.Detection{{Box: image.Rect(28, 29, 176, 177), Neighbors: 30}}
			b.ResetTimer()
			for range b.N {
				if _, err := s.ScoreFaces(img, dets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
