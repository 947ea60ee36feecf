// Package score runs the per-frame scoring loop that every affect job shares:
// frames from a capture.Source are scored by classify.Scorers on parallel
// workers, put back in frame order, the participant's face is tracked, and
// each frame's record.FrameScore goes to a sink.
package score

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/cpuprio"
	"github.com/affectlab/affect/record"
)

// Config configures Run.
type Config struct {
	// Session, Participant and Source label every FrameScore.
	Session, Participant, Source string
	// Scorer configures detection and classification.
	Scorer classify.ScorerParams
	// Workers is the number of parallel scorers. Default: the number of CPUs.
	Workers int
	// Progress, when set, is called after each frame is delivered.
	Progress func(done int64)
	// Pool, when set, lends the run its scorers and keeps them loaded for
	// the next run (nil: the run loads its own and closes them).
	Pool *Pool
}

// workerNice is how much lower the workers' scheduling priority is than
// the reader's and the tracker's (see cpuprio).
var workerNice = 5

// Sink receives frames in order. An error stops the run.
type Sink func(record.FrameScore) error

// Stats describe a finished run.
type Stats struct {
	// Captured counts the frames read from the source (after sampling);
	// Frames those delivered to the sink, Dropped those not (the run was
	// cancelled or the sink failed): Captured = Frames + Dropped.
	Captured   int64
	Dropped    int64
	Frames     int64
	FaceFrames int64
	Errors     int64 // frames whose item carried an error (still delivered)
	Elapsed    time.Duration
	// Decode is the time spent reading and decoding frames (one goroutine).
	Decode time.Duration
	// Timing is the scorers' time per stage, summed over workers.
	Timing classify.Timing
	// Track is the face tracker's: the landmarks it found and the faces
	// it followed by them.
	Track classify.TrackTiming
}

// FPS is frames per second of wall time.
func (s Stats) FPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Frames) / s.Elapsed.Seconds()
}

type job struct {
	seq   int64
	frame capture.Frame
	det   classify.Detections
}

type result struct {
	seq     int64
	fs      record.FrameScore
	primary int
}

// Run scores every frame of src and calls sink in frame order. It returns
// when the source ends (nil error), the context is cancelled, the source
// fails or sink fails. Frames already scored are delivered before a source
// error is returned, so nothing scored is lost.
func Run(ctx context.Context, src capture.Source, cfg Config, sink Sink) (Stats, error) {
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	// Load every scorer before reading any frame: a bad model fails fast.
	tracker, err := classify.NewFaceTrackerFor(cfg.Scorer)
	if err != nil {
		return Stats{}, err
	}
	defer tracker.Close()
	// The images of a folder are unrelated photos: each is searched whole
	// and its largest face is the participant's, whatever the photo before.
	stills := src.Info().Kind == capture.KindDir || src.Info().Kind == capture.KindImage
	scorers := make([]*classify.Scorer, 0, workers)
	// start is each scorer's Timing when this run got it (a pooled scorer
	// has the totals of earlier runs).
	start0 := make([]classify.Timing, 0, workers)
	defer func() {
		for _, s := range scorers {
			if cfg.Pool != nil {
				cfg.Pool.put(cfg.Scorer, s)
			} else {
				s.Close()
			}
		}
	}()
	for range workers {
		var s *classify.Scorer
		var err error
		if cfg.Pool != nil {
			s, err = cfg.Pool.get(cfg.Scorer)
		} else {
			s, err = classify.NewScorer(cfg.Scorer)
		}
		if err != nil {
			return Stats{}, err
		}
		scorers = append(scorers, s)
		start0 = append(start0, s.Timing())
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	jobs := make(chan job, workers*2)
	results := make(chan result, workers*2)
	var stats Stats
	var srcErr error

	// Reader and tracker: one goroutine decodes each frame and then finds
	// and tracks its faces, in frame order (so tracking stays
	// deterministic; one goroutine instead of two saves a hand-over per
	// frame); classification runs in parallel.
	go func() {
		defer close(jobs)
		var seq int64
		for {
			t0 := time.Now()
			f, err := src.Next(ctx)
			stats.Decode += time.Since(t0)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					srcErr = err
				}
				return
			}
			stats.Captured++
			j := job{seq: seq, frame: f, det: classify.Detections{Primary: -1}}
			if f.Err == nil && !f.Image.Empty() {
				t1 := time.Now()
				if stills {
					tracker.Reset()
				}
				j.det = tracker.Next(f.Image)
				stats.Timing.Detect += time.Since(t1)
			}
			select {
			case jobs <- j:
				seq++
			case <-ctx.Done():
				f.Close()
				return
			}
		}
	}()

	// Workers.
	var wg sync.WaitGroup
	for _, s := range scorers {
		wg.Add(1)
		go func(s *classify.Scorer) {
			defer wg.Done()
			// The reader and the tracker work in frame order and feed every
			// worker: they must never wait for a CPU that a worker holds.
			if err := cpuprio.Lower(workerNice); err != nil {
				slog.Debug("score: worker priority unchanged", "err", err)
			}
			for j := range jobs {
				r := scoreFrame(s, j, cfg)
				j.frame.Close()
				results <- r // always received: the loop below drains results until closed
			}
		}(s)
	}
	go func() { wg.Wait(); close(results) }()

	// Re-order and deliver.
	pending := map[int64]result{}
	var next int64
	var sinkErr error
	for r := range results {
		if sinkErr != nil {
			continue // drain so workers can exit
		}
		pending[r.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			fs := r.fs
			if r.primary >= 0 && r.primary < len(fs.Faces) {
				p := fs.Faces[r.primary]
				fs.Primary = &p
				fs.FaceFound = true
				fs.FaceID = p.ID
			}
			stats.Frames++
			if fs.FaceFound {
				stats.FaceFrames++
			}
			if fs.Error != "" {
				stats.Errors++
			}
			if err := sink(fs); err != nil {
				sinkErr = err
				cancel()
				break
			}
			if cfg.Progress != nil {
				cfg.Progress(stats.Frames)
			}
		}
	}
	stats.Elapsed = time.Since(start)
	stats.Track = tracker.Timing()
	stats.Dropped = stats.Captured - stats.Frames
	for i, s := range scorers {
		t, t0 := s.Timing(), start0[i]
		stats.Timing.Frames += t.Frames - t0.Frames
		stats.Timing.Faces += t.Faces - t0.Faces
		stats.Timing.Classify += t.Classify - t0.Classify
		stats.Timing.Landmarks += t.Landmarks - t0.Landmarks
	}
	switch {
	case sinkErr != nil:
		return stats, sinkErr
	case srcErr != nil:
		return stats, srcErr
	}
	return stats, ctx.Err()
}

func scoreFrame(s *classify.Scorer, j job, cfg Config) result {
	f := j.frame
	fs := record.FrameScore{
		Schema:          record.SchemaVersion,
		Session:         cfg.Session,
		Participant:     cfg.Participant,
		Source:          cfg.Source,
		Frame:           f.Index,
		MediaMS:         f.TimeMS,
		CaptureUnixNano: f.Wall.UnixNano(),
		File:            f.Name,
	}
	r := result{seq: j.seq, primary: -1}
	if f.Err != nil {
		fs.Error = f.Err.Error()
		r.fs = fs
		return r
	}
	faces, err := s.ScoreFaces(f.Image, j.det.Faces)
	if err != nil {
		fs.Error = fmt.Sprintf("scoring failed: %v", err)
		r.fs = fs
		return r
	}
	fs.NFaces = len(faces)
	fs.Faces = faces
	r.primary = j.det.Primary
	r.fs = fs
	return r
}
