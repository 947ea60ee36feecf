package classify

import (
	"context"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/testenv"
)

// BenchmarkDetect compares, per detector, the full-frame search of a
// keyframe with the search near a known face that the tracker does on the
// other frames (one 640x480 frame of the bench video).
func BenchmarkDetect(b *testing.B) {
	src, err := capture.Open(testenv.Shared(b, "video/bench_crema_640x480_60s.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	f, _ := src.Next(context.Background())
	defer f.Close()
	for _, name := range []string{DetectorBlazeFace, DetectorBlazeFaceBack, "haar", "lbp"} {
		d, err := NewFaceDetector(DetectorParams{Cascade: name})
		if err != nil {
			b.Fatal(err)
		}
		boxes := d.Detect(f.Image)
		if len(boxes) == 0 {
			b.Fatalf("%s: no face in the first frame", name)
		}
		b.Run(name+"/full", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				d.Detect(f.Image)
			}
		})
		b.Run(name+"/near", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				d.DetectNear(f.Image, boxes[0].Box)
			}
		})
		d.Close()
	}
}

// BenchmarkScoreFaces measures the per-face stage of the offline path: crops,
// every forward pass of the model (combined: 2 networks x mirror) and the
// quality measures, for the face BlazeFace finds in one bench-video frame.
// The landmark step will be added here when it lands.
func BenchmarkScoreFaces(b *testing.B) {
	src, err := capture.Open(testenv.Shared(b, "video/bench_crema_640x480_60s.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	f, _ := src.Next(context.Background())
	defer f.Close()
	d, err := NewFaceDetector(DetectorParams{})
	if err != nil {
		b.Fatal(err)
	}
	faces := d.Detect(f.Image)
	d.Close()
	if len(faces) == 0 {
		b.Fatal("no face")
	}
	for _, p := range []ScorerParams{{Model: ModelCombined}, {Model: ModelCombined, NoFlip: true}, {Model: "human"}, {Model: "faceapi"}} {
		name := p.Model
		if p.NoFlip {
			name += "/no-flip"
		}
		s, err := NewScorer(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := s.ScoreFaces(f.Image, faces[:1]); err != nil {
					b.Fatal(err)
				}
			}
		})
		s.Close()
	}
}
