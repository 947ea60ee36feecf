//go:build matprofile

package score_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/score"
	"gocv.io/x/gocv"
)

// TestLeakScoring runs the whole scoring loop, to the end and stopped early
// by a failing sink, and checks that every Mat was closed (-tags matprofile).
func TestLeakScoring(t *testing.T) {
	before := gocv.MatProfile.Count()
	probe := gocv.NewMat()
	if gocv.MatProfile.Count() != before+1 {
		t.Fatal("gocv.MatProfile does not count Mats: run with -tags matprofile")
	}
	probe.Close()
	for _, stopAt := range []int64{-1, 20} {
		src, err := capture.Open(testenv.Sample(t), capture.Every(3))
		if err != nil {
			t.Fatal(err)
		}
		stop := errors.New("stop")
		_, err = score.Run(context.Background(), src, score.Config{Scorer: classify.ScorerParams{Model: "human"}},
			func(f pipeline.FrameScore) error {
				if f.Frame/3 == stopAt {
					return stop
				}
				return nil
			})
		src.Close()
		if stopAt < 0 && err != nil || stopAt >= 0 && !errors.Is(err, stop) {
			t.Fatalf("stopAt %d: err %v", stopAt, err)
		}
	}
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats leaked:\n%s", n, b.String())
	}
}
