package score_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
)

// A Pool loads each worker's networks once for many inputs, and a pooled
// run gives exactly the frames of a run that loads its own.
func TestPoolReusesScorersWithSameResults(t *testing.T) {
	clips, _ := filepath.Glob(filepath.Join(testenv.Shared(t, "video/crema_d"), "*.mp4"))
	if len(clips) < 2 {
		t.Fatalf("want CREMA-D clips, found %d", len(clips))
	}
	clips = clips[:2]
	const workers = 2
	run := func(path string, pool *score.Pool) ([]record.FrameScore, score.Stats) {
		t.Helper()
		frames, st := runConfig(t, path, score.Config{Source: filepath.Base(path), Workers: workers, Pool: pool})
		for i := range frames {
			frames[i].CaptureUnixNano = 0 // wall clock
		}
		return frames, st
	}
	pool := score.NewPool()
	defer pool.Close()
	// Each clip twice through the pool, in turn, then once on its own.
	for round := range 2 {
		for _, clip := range clips {
			pooled, st := run(clip, pool)
			own, _ := run(clip, nil)
			if !reflect.DeepEqual(pooled, own) {
				t.Fatalf("round %d, %s: pooled frames differ from a run with its own scorers", round, filepath.Base(clip))
			}
			faces := 0
			for _, f := range pooled {
				faces += len(f.Faces)
			}
			if st.Timing.Faces != faces {
				t.Errorf("%s: the run's timing counts %d faces, its frames hold %d (earlier runs' counts leaked in?)", filepath.Base(clip), st.Timing.Faces, faces)
			}
		}
	}
	if n := pool.Loaded(); n != workers {
		t.Errorf("the pool loaded %d scorers for %d runs of %d workers; want %d", n, 2*len(clips), workers, workers)
	}
	// Another setting (model human) gets scorers of its own, and the idle
	// ones of the first setting are dropped: the next default run loads again.
	first, _ := run(clips[0], pool)
	other, _ := runConfig(t, clips[0], score.Config{Source: filepath.Base(clips[0]), Workers: 1, Pool: pool, Scorer: classify.ScorerParams{Model: "human"}})
	if other[0].Primary == nil || first[0].Primary == nil || other[0].Primary.Happiness == first[0].Primary.Happiness {
		t.Fatalf("the run with model human did not score with human")
	}
	if n := pool.Loaded(); n != workers+1 {
		t.Errorf("after a run with another model: %d scorers loaded, want %d", n, workers+1)
	}
	run(clips[0], pool)
	if n := pool.Loaded(); n != 2*workers+1 {
		t.Errorf("back to the default: %d scorers loaded, want %d (the idle ones were kept)", n, 2*workers+1)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open(clips[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := score.Run(context.Background(), src, score.Config{Pool: pool}, func(record.FrameScore) error { return nil }); err != score.ErrPoolClosed {
		t.Errorf("run with a closed pool: %v, want ErrPoolClosed", err)
	}
}
