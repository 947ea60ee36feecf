// Package offline is the offline scoring path of `affect score`: one input
// in, its per-frame CSV, summary JSON and plot out (File). A study worker
// (package study) scores its jobs with exactly this function, so that its
// results equal a local `affect score` of the same video.
//
// It sits above score (the per-frame loop) because the summary comes from
// pipeline/aggregate, which the scoring core may not import.
package offline

import (
	"context"
	"fmt"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
	"github.com/affectlab/affect/smooth"
)

// FileSummary is the summary JSON of one scored input (`affect score`, and a
// study worker's job): the aggregate summary plus what was scored and how.
type FileSummary struct {
	Input   string `json:"input"`
	Model   string `json:"model"`
	Backend string `json:"backend"`
	// Status is "complete" (every frame of the input was scored).
	Status    string  `json:"status"`
	ElapsedS  float64 `json:"elapsed_s"`
	ScoredFPS float64 `json:"scored_fps"`
	aggregate.Summary
}

// FileOptions configure File.
type FileOptions struct {
	// Name labels the result (FrameScore.Source, FileSummary.Input) and
	// gives the files' base name (export.BaseName). Empty: the input path.
	// A study worker that reads a downloaded copy of a video names it as
	// the manifest did, so its results equal a local `affect score`.
	Name string
	// Every and FPS sample the input (capture.Every, capture.FPS).
	Every int
	FPS   float64
	// Scorer configures detection and classification; Workers is the
	// number of parallel scorers (0: one per CPU).
	Scorer  classify.ScorerParams
	Workers int
	// Aggregate configures the summary (threshold, windows, calibration,
	// exclusion of low-quality faces); Markers are the stimulus markers.
	Aggregate aggregate.Config
	Markers   []aggregate.Marker
	// SmoothMS is the centred window of the happiness_smoothed column (0: none).
	SmoothMS float64
	// Plot writes the PNG plot too.
	Plot bool
	// Progress, when set, is called as frames are scored; total is 0 when
	// unknown (streams, --fps).
	Progress func(done, total int64)
}

// File scores one input (video file, image, image folder, stream or
// camera) with the offline path of `affect score` and writes its result
// files in outDir: the per-frame CSV, the plot (if asked) and, last, the
// summary JSON, whose presence means the input is complete. On error no
// file is left behind under a final name.
func File(ctx context.Context, in, outDir string, o FileOptions) (export.Paths, FileSummary, error) {
	name := o.Name
	if name == "" {
		name = in
	}
	every := max(o.Every, 1)
	src, err := capture.Open(in, capture.Every(every), capture.FPS(o.FPS))
	if err != nil {
		return export.Paths{}, FileSummary{}, err
	}
	defer src.Close()
	base := export.BaseName(name)
	paths := export.PathsFor(outDir, base)
	total := src.Info().FrameCount
	if total > 0 && every > 1 {
		total = (total + int64(every) - 1) / int64(every)
	}
	if o.FPS > 0 || total < 0 {
		total = 0
	}
	var progress func(int64)
	if o.Progress != nil {
		progress = func(done int64) { o.Progress(done, total) }
	}
	var frames []record.FrameScore
	stats, err := score.Run(ctx, src, score.Config{
		Session:  base,
		Source:   name,
		Scorer:   o.Scorer,
		Workers:  o.Workers,
		Progress: progress,
	}, func(f record.FrameScore) error {
		frames = append(frames, f)
		return nil
	})
	if err != nil {
		return paths, FileSummary{}, fmt.Errorf("after %d frames: %w", stats.Frames, err)
	}
	if stats.Frames == 0 {
		return paths, FileSummary{}, fmt.Errorf("%w: nothing to score in %s", capture.ErrEmpty, name)
	}
	sum, err := aggregate.Compute(o.Aggregate, frames, o.Markers)
	if err != nil {
		return paths, FileSummary{}, err
	}
	sum.Session = base
	model, backend := o.Scorer.Model, o.Scorer.Backend
	if model == "" {
		model = classify.DefaultModel
	}
	if backend == "" {
		backend = classify.BackendOpenCV
	}
	fsum := FileSummary{
		Input: name, Model: model, Backend: backend, Status: "complete",
		ElapsedS: stats.Elapsed.Seconds(), ScoredFPS: stats.FPS(), Summary: sum,
	}
	if o.Plot {
		pm := make([]export.PlotMarker, len(o.Markers))
		for i, m := range o.Markers {
			pm[i] = export.PlotMarker{TimeMS: m.OnsetMS, Label: m.Label}
		}
		if err := export.WritePlot(paths.Plot, frames, export.PlotOptions{Title: base, Threshold: o.Aggregate.Threshold, Markers: pm}); err != nil {
			return paths, fsum, err
		}
	}
	if err := smooth.Frames(frames, o.SmoothMS); err != nil {
		return paths, fsum, err
	}
	if err := export.WriteFramesCSV(paths.Frames, frames); err != nil {
		return paths, fsum, err
	}
	// The summary is written last: its presence means the input is complete.
	if err := export.WriteJSON(paths.Summary, fsum); err != nil {
		return paths, fsum, err
	}
	return paths, fsum, nil
}

// Elapsed returns the summary's scoring time as a duration.
func (s FileSummary) Elapsed() time.Duration { return time.Duration(s.ElapsedS * float64(time.Second)) }
