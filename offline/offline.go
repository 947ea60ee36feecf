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
	"errors"
	"fmt"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
)

// ErrIncomplete is wrapped by File's error when the result was written with
// status incomplete: a camera or stream had gaps or was lost.
var ErrIncomplete = errors.New("result written with status incomplete")

// FileSummary is the summary JSON of one scored input (`affect score`, and a
// study worker's job): the aggregate summary plus what was scored and how.
type FileSummary struct {
	Input string `json:"input"`
	Model string `json:"model"`
	// ModelVersion names the model with the combination and calibration
	// file that made the scores and a digest of the weights
	// (models.Version), e.g. "combined (combined_v2.json) sha256:1a2b3c4d5e6f".
	ModelVersion string `json:"model_version,omitempty"`
	Backend      string `json:"backend"`
	// Detector and LandmarkModel made the face boxes and the landmarks
	// (head pose, and the boxes of faces followed between keyframes).
	Detector      string `json:"detector,omitempty"`
	LandmarkModel string `json:"landmark_model,omitempty"`
	// Status is "complete" (every frame of the input was scored) or
	// "incomplete": a camera or stream had gaps (Gaps) or was lost
	// (SourceError); the frames it delivered are all in the result.
	Status    string  `json:"status"`
	ElapsedS  float64 `json:"elapsed_s"`
	ScoredFPS float64 `json:"scored_fps"`
	// Gaps are the stretches in which a camera or stream delivered no frames.
	Gaps []record.Gap `json:"gaps,omitempty"`
	// SourceError says why the input ended early (the source was lost).
	SourceError string `json:"source_error,omitempty"`
	// SkippedFiles are the entries of an image folder that were not read,
	// with the reason (images that could not be read are rows with an
	// error: error_frames counts them).
	SkippedFiles []capture.SkippedFile `json:"skipped_files,omitempty"`
	// FrameErrors are the first few reasons of frames with an error (not
	// written: the rows' error column has every one).
	FrameErrors []string `json:"-"`
	aggregate.Summary
}

// FileOptions configure File.
type FileOptions struct {
	// Name labels the result (FrameScore.Source, FileSummary.Input).
	// Empty: the input path. A study worker that reads a downloaded copy of
	// a video names it as the manifest did, so its results equal a local
	// `affect score`.
	Name string
	// Base is the result files' base name (export.PathsFor); empty:
	// export.BaseName(Name). `affect score` of several inputs gives each a
	// unique one (export.BaseNames).
	Base string
	// Every and FPS sample the input (capture.Every, capture.FPS).
	Every int
	FPS   float64
	// Capture are further capture options (reconnect window, read timeout).
	Capture []capture.Option
	// Scorer configures detection and classification; Workers is the
	// number of parallel scorers (0: one per CPU).
	Scorer  classify.ScorerParams
	Workers int
	// Pool, when set, keeps the loaded scorers for the next input (see
	// score.Pool); nil loads them for this input only.
	Pool *score.Pool
	// Aggregate configures the summary (threshold, windows, calibration,
	// exclusion of low-quality faces); Markers are the stimulus markers.
	Aggregate aggregate.Config
	Markers   []aggregate.Marker
	// SmoothMS is the centred window of the happiness_smoothed column (0: none).
	SmoothMS float64
	// Plot writes the PNG plot too.
	Plot bool
	// Landmarks adds the participant's 68 landmarks to the per-frame CSV.
	Landmarks bool
	// Progress, when set, is called as frames are scored; total is 0 when
	// unknown (streams, --fps).
	Progress func(done, total int64)
}

// File scores one input (video file, image, image folder, stream or
// camera) with the offline path of `affect score` and writes its result
// files in outDir together or not at all: the per-frame CSV, the plot (if
// asked) and, last, the summary JSON. Rows stream to disk as they are
// scored, so memory stays small whatever the input's length. A lost or
// interrupted camera or stream still gives its files, with status
// incomplete, and an error wrapping ErrIncomplete.
func File(ctx context.Context, in, outDir string, o FileOptions) (export.Paths, FileSummary, error) {
	name := o.Name
	if name == "" {
		name = in
	}
	base := o.Base
	if base == "" {
		base = export.BaseName(name)
	}
	paths := export.PathsFor(outDir, base)
	every := max(o.Every, 1)
	src, err := capture.Open(in, append([]capture.Option{capture.Every(every), capture.FPS(o.FPS)}, o.Capture...)...)
	if err != nil {
		return paths, FileSummary{}, err
	}
	defer src.Close()
	info := src.Info()
	total := info.FrameCount
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
	sink, err := NewSink(o.Aggregate, paths, export.FramesOptions{Landmarks: o.Landmarks})
	if err != nil {
		return paths, FileSummary{}, err
	}
	defer sink.res.Abort()
	stats, err := score.Run(ctx, src, score.Config{
		Session:  base,
		Source:   name,
		Scorer:   o.Scorer,
		Workers:  o.Workers,
		Progress: progress,
		Pool:     o.Pool,
	}, sink.Add)
	lost := errors.Is(err, capture.ErrSourceLost)
	if err != nil && !lost {
		return paths, FileSummary{}, fmt.Errorf("after %d frames: %w", stats.Frames, err)
	}
	if stats.Frames == 0 {
		return paths, FileSummary{}, fmt.Errorf("%w: nothing to score in %s", capture.ErrEmpty, name)
	}
	for _, m := range o.Markers {
		sink.agg.AddMarker(m)
	}
	sum := sink.agg.Summary()
	sum.Session = base
	model, backend := o.Scorer.Model, o.Scorer.Backend
	if model == "" {
		model = classify.DefaultModel
	}
	if backend == "" {
		backend = classify.BackendOpenCV
	}
	detector, landmarks := o.Scorer.Detector.Cascade, o.Scorer.Landmarks
	if detector == "" {
		detector = classify.DefaultDetector
	}
	if landmarks == "" {
		landmarks = classify.DefaultLandmarks
	}
	if o.Scorer.Crops {
		detector = "" // the inputs are face crops: no detector
	}
	version := classify.ModelVersion(model)
	if sha, err := models.Version(model); err == nil {
		version += " " + sha
	}
	fsum := FileSummary{
		Input: name, Model: model, ModelVersion: version, Backend: backend, Detector: detector, LandmarkModel: landmarks, Status: "complete",
		ElapsedS: stats.Elapsed.Seconds(), ScoredFPS: stats.FPS(), Summary: sum,
		Gaps: capture.Gaps(src), SkippedFiles: info.Skipped, FrameErrors: sink.frameErrs,
	}
	if lost {
		fsum.SourceError = err.Error()
	}
	if lost || len(fsum.Gaps) > 0 {
		fsum.Status = "incomplete"
	}
	var po *export.PlotOptions
	if o.Plot {
		pm := make([]export.PlotMarker, len(o.Markers))
		for i, m := range o.Markers {
			pm[i] = export.PlotMarker{TimeMS: m.OnsetMS, Label: m.Label}
		}
		po = &export.PlotOptions{Title: base, Threshold: o.Aggregate.Threshold, Markers: pm}
	}
	if err := sink.res.Commit(o.SmoothMS, po, fsum); err != nil {
		return paths, fsum, err
	}
	if fsum.Status == "incomplete" {
		why := fmt.Sprintf("%d gaps in the source", len(fsum.Gaps))
		if lost {
			why = fsum.SourceError
		}
		return paths, fsum, fmt.Errorf("%w (%d frames scored): %s", ErrIncomplete, stats.Frames, why)
	}
	return paths, fsum, nil
}

// Elapsed returns the summary's scoring time as a duration.
func (s FileSummary) Elapsed() time.Duration { return time.Duration(s.ElapsedS * float64(time.Second)) }

// Sink takes the scored frames of one input: each row streams into the
// result files and only what the summary needs stays in memory.
type Sink struct {
	res       *export.ResultWriter
	agg       *aggregate.Aggregator
	frameErrs []string // the first few reasons of frames with an error
}

// NewSink starts the result files at paths with an aggregator of cfg.
func NewSink(cfg aggregate.Config, paths export.Paths, o export.FramesOptions) (*Sink, error) {
	agg, err := aggregate.New(cfg)
	if err != nil {
		return nil, err
	}
	res, err := export.NewResultWriterOptions(paths, o)
	if err != nil {
		return nil, err
	}
	return &Sink{res: res, agg: agg}, nil
}

// Add takes one scored frame.
func (s *Sink) Add(f record.FrameScore) error {
	if err := s.res.Add(&f); err != nil {
		return err
	}
	if f.Error != "" && len(s.frameErrs) < 5 {
		s.frameErrs = append(s.frameErrs, f.Error)
	}
	s.agg.Add(SummaryFrame(&f))
	return nil
}

// Abort discards the result files.
func (s *Sink) Abort() { s.res.Abort() }

// lowQuality is shared by every summary frame whose face fails the quality rule.
var lowQuality = &record.Quality{Low: true}

// SummaryFrame is what the summary needs of f (media time, frame, source,
// face, happiness, low quality, error): a few hundred bytes per frame
// instead of every face, box, probability and measure.
func SummaryFrame(f *record.FrameScore) record.FrameScore {
	s := record.FrameScore{Source: f.Source, Frame: f.Frame, MediaMS: f.MediaMS, FaceFound: f.FaceFound, Error: f.Error}
	if p := f.Primary; p != nil {
		q := (*record.Quality)(nil)
		if p.Quality != nil && p.Quality.Low {
			q = lowQuality
		}
		s.Primary = &record.Face{Happiness: p.Happiness, Quality: q}
	}
	return s
}
