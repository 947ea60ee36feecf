package classify

import (
	"context"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/testenv"
)

// BenchmarkDetect compares the full-frame search of a keyframe with the
// search near a known face that the tracker does on the other frames.
func BenchmarkDetect(b *testing.B) {
	src, err := capture.Open(testenv.Shared(b, "video/bench_crema_640x480_60s.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	f, _ := src.Next(context.Background())
	defer f.Close()
	d, _ := NewDetector(DetectorParams{})
	defer d.Close()
	boxes := d.Detect(f.Image)
	if len(boxes) == 0 {
		b.Fatal("no face in the first frame")
	}
	b.Run("full", func(b *testing.B) {
		for range b.N {
			d.Detect(f.Image)
		}
	})
	b.Run("near", func(b *testing.B) {
		for range b.N {
			d.DetectNear(f.Image, boxes[0].Box)
		}
	})
}
