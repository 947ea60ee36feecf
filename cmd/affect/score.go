package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
	"github.com/affectlab/affect/smooth"
)

func init() {
	register(command{
		name:    "score",
		summary: "score recorded videos, images or image folders into per-frame CSV, summary JSON and a plot",
		run:     runScore,
	})
}

// scoringFlags are the flags shared by score, session and bench.
type scoringFlags struct {
	model, backend string
	threshold      float64
	every          int
	fps            float64
	workers        int
	detectWidth    int
	minFace        float64
	keyframeEvery  int
	detector       string
	smooth         time.Duration
}

func (sf *scoringFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.model, "model", classify.DefaultModel, "expression model: "+strings.Join(classify.ScorerNames(), ", "))
	fs.StringVar(&sf.backend, "backend", classify.BackendOpenCV, "inference backend: opencv (fast) or onnxgo (pure Go)")
	fs.Float64Var(&sf.threshold, "threshold", 0.5, "happiness at or above which a face frame counts as a smile")
	fs.IntVar(&sf.every, "every", 1, "score every N-th frame")
	fs.Float64Var(&sf.fps, "fps", 0, "score about F frames per second of media time (0: every frame)")
	fs.IntVar(&sf.workers, "workers", 0, "parallel scorers (0: one per CPU)")
	fs.IntVar(&sf.detectWidth, "detect-width", 0, "shrink frames to this width for face detection (0: 320)")
	fs.DurationVar(&sf.smooth, "smooth", smooth.DefaultWindowMS*time.Millisecond, "centred window of the happiness_smoothed column of the result files (0: none)")
	fs.StringVar(&sf.detector, "detector", "haar", "face detector: haar (default, more accurate), lbp (3-4x faster) or a cascade XML file")
	fs.Float64Var(&sf.minFace, "min-face", 0, "smallest face height as a fraction of the frame height (0: 1/8); larger is faster")
	fs.IntVar(&sf.keyframeEvery, "keyframe-every", 0, "search the whole frame for faces every N frames, tracking known faces in between (0: 10; 1: every frame)")
}

func (sf *scoringFlags) validate() error {
	okModel := false
	for _, n := range classify.ScorerNames() {
		okModel = okModel || n == sf.model
	}
	if !okModel {
		return usageError("--model %q: choose one of %v", sf.model, classify.ScorerNames())
	}
	if sf.backend != classify.BackendOpenCV && sf.backend != classify.BackendONNXGo {
		return usageError("--backend %q: choose opencv or onnxgo", sf.backend)
	}
	if sf.threshold < 0 || sf.threshold > 1 {
		return usageError("--threshold %g must be in [0,1]", sf.threshold)
	}
	if sf.every < 1 {
		return usageError("--every %d must be ≥ 1", sf.every)
	}
	if sf.fps < 0 {
		return usageError("--fps %g must be ≥ 0", sf.fps)
	}
	if sf.workers < 0 {
		return usageError("--workers %d must be ≥ 0", sf.workers)
	}
	if sf.detectWidth != 0 && sf.detectWidth < 64 {
		return usageError("--detect-width %d must be ≥ 64", sf.detectWidth)
	}
	if sf.minFace < 0 || sf.minFace >= 1 {
		return usageError("--min-face %g must be in (0, 1)", sf.minFace)
	}
	if sf.smooth < 0 {
		return usageError("--smooth %v must be ≥ 0", sf.smooth)
	}
	if _, err := classify.FindCascade(sf.detector); err != nil {
		return usageError("--detector: %v", err)
	}
	if sf.keyframeEvery < 0 {
		return usageError("--keyframe-every %d must be ≥ 1", sf.keyframeEvery)
	}
	return nil
}

func (sf *scoringFlags) captureOptions() []capture.Option {
	return []capture.Option{capture.Every(sf.every), capture.FPS(sf.fps)}
}

func (sf *scoringFlags) scorerParams() classify.ScorerParams {
	return classify.ScorerParams{Model: sf.model, Backend: sf.backend, Detector: classify.DetectorParams{
		Cascade: sf.detector, DetectWidth: sf.detectWidth, MinFaceFrac: sf.minFace, KeyframeEvery: sf.keyframeEvery}}
}

// ScoreSummary is the summary JSON of `affect score`: the aggregate summary
// plus what was scored and how.
type ScoreSummary struct {
	Input string `json:"input"`
	Model string `json:"model"`
	// ModelVersion names the model with the combination and calibration
	// file that made the scores, e.g. "combined (combined_v2.json)".
	ModelVersion string `json:"model_version"`
	Backend      string `json:"backend"`
	// Status is "complete" (every frame of the input was scored).
	Status    string  `json:"status"`
	ElapsedS  float64 `json:"elapsed_s"`
	ScoredFPS float64 `json:"scored_fps"`
	aggregate.Summary
}

func runScore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("score", stderr, "INPUT... --out DIR [flags]\n\nINPUT is a video file, an image, a directory of images, a stream URL or a camera index.")
	var sf scoringFlags
	sf.register(fs)
	out := fs.String("out", "", "directory for the result files (required)")
	markers := fs.String("markers", "", "CSV of stimulus markers (onset_ms,label,condition) for epoch analysis")
	quiet := fs.Bool("quiet", false, "no progress bar")
	noPlot := fs.Bool("no-plot", false, "do not write the PNG plot")
	cfg := aggregate.DefaultConfig()
	finishCfg := registerAggregateFlags(fs, &cfg)
	inputs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := sf.validate(); err != nil {
		return err
	}
	if len(inputs) == 0 {
		return usageError("no INPUT given")
	}
	if *out == "" {
		return usageError("--out DIR is required")
	}
	cfg.Threshold = sf.threshold
	if err := finishCfg(); err != nil {
		return err
	}
	marks, err := readMarkers(*markers)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("creating --out directory: %w", err)
	}
	failed := 0
	for _, in := range inputs {
		paths, sum, err := scoreOne(ctx, in, *out, sf, cfg, marks, *quiet, !*noPlot, stderr)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			failed++
			fmt.Fprintf(stderr, "affect score: %s: %v\n", in, err)
			continue
		}
		o := sum.Overall
		faces := fmt.Sprintf("%d with a face", o.FaceFrames)
		if sum.ExcludeLowQuality {
			faces = fmt.Sprintf("%d with a face (%d of low quality left out)", o.FaceFrames+sum.LowQualityFrames, sum.LowQualityFrames)
		} else if sum.LowQualityFrames > 0 {
			faces += fmt.Sprintf(" (%d of low quality)", sum.LowQualityFrames)
		}
		fmt.Fprintf(stdout, "%s: %d frames, %s, mean happiness %s, %.1f frames/s -> %s\n",
			in, o.Frames, faces, fmtPtr(o.Mean), sum.ScoredFPS, paths.Frames)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs failed (no result files were written for them)", failed, len(inputs))
	}
	return nil
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "n/a (no face)"
	}
	return fmt.Sprintf("%.3f", *p)
}

// scoreOne scores one input and writes its three files, or none on error.
func scoreOne(ctx context.Context, in, outDir string, sf scoringFlags, cfg aggregate.Config, marks []aggregate.Marker, quiet, plot bool, stderr io.Writer) (export.Paths, ScoreSummary, error) {
	src, err := capture.Open(in, sf.captureOptions()...)
	if err != nil {
		return export.Paths{}, ScoreSummary{}, err
	}
	defer src.Close()
	base := export.BaseName(in)
	paths := export.PathsFor(outDir, base)
	info := src.Info()
	total := info.FrameCount
	if total > 0 && sf.every > 1 {
		total = (total + int64(sf.every) - 1) / int64(sf.every)
	}
	if sf.fps > 0 {
		total = 0
	}
	bar := newProgress(stderr, base, total, quiet)
	var frames []record.FrameScore
	stats, err := score.Run(ctx, src, score.Config{
		Session:  base,
		Source:   in,
		Scorer:   sf.scorerParams(),
		Workers:  sf.workers,
		Progress: bar.update,
	}, func(f record.FrameScore) error {
		frames = append(frames, f)
		return nil
	})
	bar.finish()
	if err != nil {
		return paths, ScoreSummary{}, fmt.Errorf("after %d frames: %w", stats.Frames, err)
	}
	if stats.Frames == 0 {
		return paths, ScoreSummary{}, fmt.Errorf("%w: nothing to score in %s", capture.ErrEmpty, in)
	}
	sum, err := aggregate.Compute(cfg, frames, marks)
	if err != nil {
		return paths, ScoreSummary{}, err
	}
	sum.Session = base
	ss := ScoreSummary{
		Input: in, Model: sf.model, ModelVersion: classify.ModelVersion(sf.model), Backend: sf.backend, Status: "complete",
		ElapsedS: stats.Elapsed.Seconds(), ScoredFPS: stats.FPS(), Summary: sum,
	}
	if plot {
		pm := make([]export.PlotMarker, len(marks))
		for i, m := range marks {
			pm[i] = export.PlotMarker{TimeMS: m.OnsetMS, Label: m.Label}
		}
		if err := export.WritePlot(paths.Plot, frames, export.PlotOptions{Title: base, Threshold: sf.threshold, Markers: pm}); err != nil {
			return paths, ss, err
		}
	}
	if err := smooth.Frames(frames, float64(sf.smooth)/float64(time.Millisecond)); err != nil {
		return paths, ss, err
	}
	if err := export.WriteFramesCSV(paths.Frames, frames); err != nil {
		return paths, ss, err
	}
	// The summary is written last: its presence means the input is complete.
	if err := export.WriteJSON(paths.Summary, ss); err != nil {
		return paths, ss, err
	}
	slog.Debug("scored", "input", in, "frames", stats.Frames, "elapsed", stats.Elapsed.Round(time.Millisecond),
		"decode", stats.Decode, "detect", stats.Timing.Detect, "classify", stats.Timing.Classify)
	return paths, ss, nil
}
