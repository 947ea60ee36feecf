package score_test

import (
	"context"
	"errors"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
)

var errStop = errors.New("stop")

// BenchmarkScoreVideo runs the whole offline path (decode, detect and track,
// classify, re-order) on the webcam-like benchmark video and reports frames
// per second. One op is n frames.
func BenchmarkScoreVideo(b *testing.B) {
	video := testenv.Shared(b, "video/bench_crema_640x480_60s.mp4")
	cases := []struct {
		name   string
		p      classify.ScorerParams
		frames int64
	}{
		{"opencv/combined", classify.ScorerParams{}, 300},
		{"opencv/human", classify.ScorerParams{Model: "human"}, 300},
		{"opencv/human/lbp", classify.ScorerParams{Model: "human", Detector: classify.DetectorParams{Cascade: "lbp"}}, 300},
		{"onnxgo/human", classify.ScorerParams{Model: "human", Backend: classify.BackendONNXGo}, 30},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var total int64
			for range b.N {
				src, err := capture.Open(video)
				if err != nil {
					b.Fatal(err)
				}
				_, err = score.Run(context.Background(), src, score.Config{Scorer: c.p}, func(f record.FrameScore) error {
					if f.Frame+1 >= c.frames {
						return errStop
					}
					return nil
				})
				src.Close()
				if !errors.Is(err, errStop) {
					b.Fatal(err)
				}
				total += c.frames
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "frames/s")
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(total), "ms/frame")
		})
	}
}
