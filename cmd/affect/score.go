package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/offline"
	"github.com/affectlab/affect/pipeline/aggregate"
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
	landmarkModel  string
	smooth         time.Duration
	reconnect      time.Duration
	readTimeout    time.Duration
	// landmarks adds the x0..y67 columns to the per-frame CSV (score only).
	landmarks bool
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
	fs.StringVar(&sf.detector, "detector", classify.DefaultDetector, "face detector: blazeface (default), blazeface-back (small, far faces), haar, lbp or a cascade XML file")
	fs.Float64Var(&sf.minFace, "min-face", 0, "smallest face height as a fraction of the frame height (0: 1/8); larger is faster")
	fs.DurationVar(&sf.reconnect, "reconnect", capture.DefaultReconnect, "how long a camera or stream that stops delivering frames is reopened before the input counts as lost (0: not at all)")
	fs.DurationVar(&sf.readTimeout, "read-timeout", capture.DefaultReadTimeout, "a camera or stream that delivers no frame for this long counts as stalled and is reopened")
	fs.StringVar(&sf.landmarkModel, "landmark-model", classify.DefaultLandmarks, "68-point landmark model: "+strings.Join(classify.LandmarkModels(), ", ")+" (faces are followed by their landmarks between keyframes)")
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
	if !classify.IsBlazeFace(sf.detector) {
		if _, err := classify.FindCascade(sf.detector); err != nil {
			return usageError("--detector: %v", err)
		}
	}
	if sf.reconnect < 0 {
		return usageError("--reconnect %v must be ≥ 0", sf.reconnect)
	}
	if sf.readTimeout <= 0 {
		return usageError("--read-timeout %v must be > 0", sf.readTimeout)
	}
	if !slices.Contains(classify.LandmarkModels(), sf.landmarkModel) {
		return usageError("--landmark-model %q: choose one of %v", sf.landmarkModel, classify.LandmarkModels())
	}
	if sf.keyframeEvery < 0 {
		return usageError("--keyframe-every %d must be ≥ 1", sf.keyframeEvery)
	}
	return nil
}

func (sf *scoringFlags) captureOptions() []capture.Option {
	return []capture.Option{capture.Every(sf.every), capture.FPS(sf.fps), capture.Reconnect(sf.reconnect), capture.ReadTimeout(sf.readTimeout)}
}

func (sf *scoringFlags) scorerParams() classify.ScorerParams {
	return classify.ScorerParams{Model: sf.model, Backend: sf.backend, Landmarks: sf.landmarkModel, Detector: classify.DetectorParams{
		Cascade: sf.detector, DetectWidth: sf.detectWidth, MinFaceFrac: sf.minFace, KeyframeEvery: sf.keyframeEvery}}
}

// ScoreSummary is the summary JSON of `affect score` (offline.FileSummary).
type ScoreSummary = offline.FileSummary

// errIncomplete: the input's result was written with status incomplete.
var errIncomplete = offline.ErrIncomplete

func runScore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("score", stderr, "INPUT... --out DIR [flags]\n\nINPUT is a video file, an image, a directory of images, a stream URL or a camera index.")
	var sf scoringFlags
	sf.register(fs)
	out := fs.String("out", "", "directory for the result files (required)")
	markers := fs.String("markers", "", "CSV of stimulus markers (onset_ms,label,condition) for epoch analysis")
	quiet := fs.Bool("quiet", false, "no progress bar")
	noPlot := fs.Bool("no-plot", false, "do not write the PNG plot")
	fs.BoolVar(&sf.landmarks, "landmarks", false, "add the participant's 68 face landmarks (x0,y0 ... x67,y67, frame pixels) to the per-frame CSV")
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
	// One result set per input: distinct names, decided before any scoring.
	bases := export.BaseNames(inputs)
	// The networks are loaded once for all inputs.
	pool := score.NewPool()
	defer pool.Close()
	failed, incomplete := 0, 0
	for i, in := range inputs {
		paths, sum, err := scoreOne(ctx, in, bases[i], *out, sf, cfg, marks, *quiet, !*noPlot, pool, stderr)
		if errors.Is(err, errIncomplete) {
			incomplete++
			fmt.Fprintf(stderr, "affect score: %s: %v\n", in, err)
			for _, g := range sum.Gaps {
				fmt.Fprintf(stderr, "  no frames from %.1f s to %.1f s (%s; about %d frames lost; recovered: %v)\n",
					g.FromMS/1000, g.ToMS/1000, g.Reason, g.LostFrames, g.Recovered)
			}
		} else if err != nil {
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
	switch {
	case failed > 0 && incomplete > 0:
		return fmt.Errorf("%d of %d inputs failed (no result files were written for them) and %d are incomplete (their results say so)", failed, len(inputs), incomplete)
	case failed > 0:
		return fmt.Errorf("%d of %d inputs failed (no result files were written for them)", failed, len(inputs))
	case incomplete > 0:
		return fmt.Errorf("%d of %d inputs are incomplete: their source had gaps or was lost (the result files say status incomplete)", incomplete, len(inputs))
	}
	return nil
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "n/a (no face)"
	}
	return fmt.Sprintf("%.3f", *p)
}

// scoreOne scores one input and writes its three files as BASE.*, or none on
// error (offline.File: the one offline path, shared with `affect worker`).
func scoreOne(ctx context.Context, in, base, outDir string, sf scoringFlags, cfg aggregate.Config, marks []aggregate.Marker, quiet, plot bool, pool *score.Pool, stderr io.Writer) (export.Paths, ScoreSummary, error) {
	var bar *progress
	opts := sf.fileOptions(cfg, marks, plot)
	opts.Base = base
	opts.Pool = pool
	opts.Progress = func(done, total int64) {
		if bar == nil {
			bar = newProgress(stderr, base, total, quiet)
		}
		bar.update(done)
	}
	paths, ss, err := offline.File(ctx, in, outDir, opts)
	if bar != nil {
		bar.finish()
	}
	if err != nil && !errors.Is(err, offline.ErrIncomplete) {
		return paths, ss, err
	}
	if n := len(ss.SkippedFiles); n > 0 {
		var list []string
		for _, sk := range ss.SkippedFiles[:min(n, 5)] {
			list = append(list, fmt.Sprintf("%s (%s)", sk.Name, sk.Reason))
		}
		more := ""
		if n > 5 {
			more = fmt.Sprintf(" and %d more (see skipped_files in %s)", n-5, filepath.Base(paths.Summary))
		}
		fmt.Fprintf(stderr, "affect score: %s: skipped %d entries: %s%s\n", in, n, strings.Join(list, "; "), more)
	}
	if n := ss.ErrorFrames; n > 0 {
		fmt.Fprintf(stderr, "affect score: %s: %d of %d frames could not be scored (the error column of their rows says why): %s\n",
			in, n, ss.Overall.Frames, strings.Join(ss.FrameErrors, "; "))
	}
	slog.Debug("scored", "input", in, "frames", ss.Overall.Frames, "elapsed", ss.Elapsed().Round(time.Millisecond))
	return paths, ss, err
}

// fileOptions are the options of offline.File for these flags.
func (sf *scoringFlags) fileOptions(cfg aggregate.Config, marks []aggregate.Marker, plot bool) offline.FileOptions {
	return offline.FileOptions{
		Every: sf.every, FPS: sf.fps, Capture: []capture.Option{capture.Reconnect(sf.reconnect), capture.ReadTimeout(sf.readTimeout)},
		Scorer: sf.scorerParams(), Workers: sf.workers, Landmarks: sf.landmarks,
		Aggregate: cfg, Markers: marks, SmoothMS: float64(sf.smooth) / float64(time.Millisecond), Plot: plot,
	}
}
