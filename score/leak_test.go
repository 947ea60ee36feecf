//go:build matprofile

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

// TestLeakScoring runs the whole scoring loop, to the end and stopped early
// by a failing sink, with its own scorers and with a Pool (two settings, so
// that idle scorers are dropped too), and checks that every Mat was closed
// once the pool is closed (-tags matprofile).
func TestLeakScoring(t *testing.T) {
	checkMats := testenv.CheckMats(t)
	pool := score.NewPool()
	runs := []struct {
		stopAt int64
		pool   *score.Pool
		model  string
	}{{-1, nil, "human"}, {20, nil, "human"}, {-1, pool, "human"}, {20, pool, "human"}, {-1, pool, "faceapi"}}
	for _, r := range runs {
		stopAt := r.stopAt
		src, err := capture.Open(testenv.Sample(t), capture.Every(3))
		if err != nil {
			t.Fatal(err)
		}
		stop := errors.New("stop")
		_, err = score.Run(context.Background(), src, score.Config{Scorer: classify.ScorerParams{Model: r.model}, Pool: r.pool},
			func(f record.FrameScore) error {
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
	pool.Close()
	checkMats()
}
