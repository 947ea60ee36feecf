package study

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/offline"
	"github.com/affectlab/affect/pipeline/aggregate"
)

// Schema is the version of the Job and Record JSON.
const Schema = 1

// ErrBadJob is wrapped when a job or record from the network is invalid.
var ErrBadJob = errors.New("invalid study job")

// Params are the scoring settings of a study: the flags of `affect score`
// that change results. Every job of a study carries them, so every worker
// scores alike whatever its own defaults.
type Params struct {
	Model         string  `json:"model"`
	Backend       string  `json:"backend"`
	Detector      string  `json:"detector"`
	DetectWidth   int     `json:"detect_width,omitempty"`
	MinFace       float64 `json:"min_face,omitempty"`
	KeyframeEvery int     `json:"keyframe_every,omitempty"`
	Every         int     `json:"every,omitempty"`
	FPS           float64 `json:"fps,omitempty"`
	SmoothMS      float64 `json:"smooth_ms"`
	// Aggregate holds threshold, windows and exclusion of low-quality faces;
	// its CalibrationMS is set per job from the manifest's calibration.
	Threshold      float64 `json:"threshold"`
	WindowMS       float64 `json:"window_ms"`
	BaselineMS     float64 `json:"baseline_ms"`
	ResponseFromMS float64 `json:"response_from_ms"`
	ResponseToMS   float64 `json:"response_to_ms"`
	ExcludeLow     bool    `json:"exclude_low,omitempty"`
}

// AggregateConfig returns the summary settings of p with calibration calMS.
func (p Params) AggregateConfig(calMS float64) aggregate.Config {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	cfg := aggregate.DefaultConfig()
	cfg.Threshold = p.Threshold
	cfg.Window = ms(p.WindowMS)
	cfg.Baseline = ms(p.BaselineMS)
	cfg.ResponseFrom = ms(p.ResponseFromMS)
	cfg.ResponseTo = ms(p.ResponseToMS)
	cfg.ExcludeLowQuality = p.ExcludeLow
	cfg.CalibrationMS = calMS
	return cfg
}

// ParamsFrom returns Params for offline.File options.
func ParamsFrom(o offline.FileOptions) Params {
	c := o.Aggregate
	return Params{
		Model: o.Scorer.Model, Backend: o.Scorer.Backend, Detector: o.Scorer.Detector.Cascade,
		DetectWidth: o.Scorer.Detector.DetectWidth, MinFace: o.Scorer.Detector.MinFaceFrac,
		KeyframeEvery: o.Scorer.Detector.KeyframeEvery, Every: o.Every, FPS: o.FPS, SmoothMS: o.SmoothMS,
		Threshold: c.Threshold, WindowMS: msOf(c.Window), BaselineMS: msOf(c.Baseline),
		ResponseFromMS: msOf(c.ResponseFrom), ResponseToMS: msOf(c.ResponseTo), ExcludeLow: c.ExcludeLowQuality,
	}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FileOptions returns the offline.File options of a job with these params.
func (p Params) FileOptions(j *Job) offline.FileOptions {
	return offline.FileOptions{
		Name: j.Source, Every: p.Every, FPS: p.FPS,
		Scorer: classify.ScorerParams{Model: p.Model, Backend: p.Backend, Detector: classify.DetectorParams{
			Cascade: p.Detector, DetectWidth: p.DetectWidth, MinFaceFrac: p.MinFace, KeyframeEvery: p.KeyframeEvery}},
		Aggregate: p.AggregateConfig(j.CalibrationMS), Markers: j.Markers, SmoothMS: p.SmoothMS, Plot: true,
	}
}

// Validate checks params that came over the network.
func (p Params) Validate() error {
	if !slices.Contains(classify.ScorerNames(), p.Model) {
		return fmt.Errorf("model %q: not one of %v", p.Model, classify.ScorerNames())
	}
	if p.Backend != classify.BackendOpenCV && p.Backend != classify.BackendONNXGo {
		return fmt.Errorf("backend %q: not opencv or onnxgo", p.Backend)
	}
	for _, v := range []float64{p.MinFace, p.FPS, p.SmoothMS, p.Threshold, p.WindowMS, p.BaselineMS, p.ResponseFromMS, p.ResponseToMS} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("a numeric setting is %v", v)
		}
	}
	if p.Threshold > 1 || p.MinFace >= 1 || p.Every < 0 || p.DetectWidth < 0 || p.KeyframeEvery < 0 {
		return errors.New("a setting is out of range")
	}
	if p.Detector != "" && !classify.IsBlazeFace(p.Detector) {
		if _, err := classify.FindCascade(p.Detector); err != nil {
			return fmt.Errorf("detector: %w", err)
		}
	}
	return p.AggregateConfig(0).Validate()
}

// Job is one manifest row on the jobs stream.
type Job struct {
	Schema      int    `json:"schema"`
	Study       string `json:"study"`
	ID          string `json:"id"`
	Line        int    `json:"line"`
	Participant string `json:"participant"`
	Session     string `json:"session"`
	Condition   string `json:"condition"`
	Group       string `json:"group,omitempty"`
	// Source is the video as the manifest named it (resolved): the path a
	// worker reads, or the name results carry when Object is set.
	Source string `json:"source"`
	// Object, when set, is the uploaded video in VideosBucket and Digest
	// its SHA-256 (object store format).
	Object        string             `json:"object,omitempty"`
	Digest        string             `json:"digest,omitempty"`
	Markers       []aggregate.Marker `json:"markers,omitempty"`
	CalibrationMS float64            `json:"calibration_ms,omitempty"`
	Params        Params             `json:"params"`
}

// JobID is the ID of participant × session × condition: the first 16 hex
// digits of their SHA-256.
func JobID(participant, session, condition string) string {
	h := sha256.Sum256([]byte(participant + "\x00" + session + "\x00" + condition))
	return hex.EncodeToString(h[:8])
}

// Fingerprint identifies what a job scores: the same fingerprint means the
// same result. Resubmitting a row with another fingerprint is refused.
func (j *Job) Fingerprint() string {
	c := *j
	c.Line = 0
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Validate checks a job that came over the network (treated as hostile).
func (j *Job) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %s/%s: %s", ErrBadJob, j.Study, j.ID, fmt.Sprintf(format, a...))
	}
	if j.Schema != Schema {
		return bad("schema %d, this worker knows %d (update affect)", j.Schema, Schema)
	}
	if err := ValidateName(j.Study); err != nil {
		return bad("%v", err)
	}
	for _, v := range []string{j.Participant, j.Session, j.Condition} {
		if err := validID(v); err != nil {
			return bad("%v", err)
		}
	}
	if j.Group != "" {
		if err := validID(j.Group); err != nil {
			return bad("%v", err)
		}
	}
	if j.ID != JobID(j.Participant, j.Session, j.Condition) {
		return bad("the ID does not match participant, session and condition")
	}
	if j.Source == "" || strings.ContainsRune(j.Source, 0) {
		return bad("no source")
	}
	if j.Object != "" && (j.Object != VideoObject(j.Study, j.ID, j.Source) || j.Digest == "") {
		return bad("bad video object %q", j.Object)
	}
	for _, m := range j.Markers {
		if err := m.Validate(); err != nil {
			return bad("marker: %v", err)
		}
	}
	if math.IsNaN(j.CalibrationMS) || j.CalibrationMS < 0 {
		return bad("calibration %v", j.CalibrationMS)
	}
	if err := j.Params.Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// Key is the job's key in StatusBucket.
func (j *Job) Key() string { return JobKey(j.Study, j.ID) }

// JobKey is the StatusBucket key of a job.
func JobKey(study, id string) string { return study + ".job." + id }

// ResultPrefix is the ResultsBucket name prefix of a job's result objects.
func ResultPrefix(study, id string) string { return study + "/" + id + "/" }

// VideoObject is the VideosBucket name of an uploaded video.
func VideoObject(study, id, source string) string {
	return study + "/" + id + "/" + baseOf(source)
}

func baseOf(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// Job states.
const (
	StateQueued   = "queued"
	StateRunning  = "running"
	StateRetrying = "retrying"
	StateDone     = "done"
	StateFailed   = "failed"
)

// Record is a job's entry in StatusBucket.
type Record struct {
	Schema      int    `json:"schema"`
	Job         Job    `json:"job"`
	Fingerprint string `json:"fingerprint"`
	State       string `json:"state"`
	// Worker is the worker running (or that finished) the job.
	Worker string `json:"worker,omitempty"`
	// Attempt is the delivery of the job the state belongs to (1: first).
	Attempt     int       `json:"attempt,omitempty"`
	FramesDone  int64     `json:"frames_done,omitempty"`
	FramesTotal int64     `json:"frames_total,omitempty"`
	SubmittedAt time.Time `json:"submitted_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
	// ETAS is the expected seconds to finish (running jobs with a known total).
	ETAS  float64 `json:"eta_s,omitempty"`
	Error string  `json:"error,omitempty"`
	// Result is set when State is done.
	Result *Result `json:"result,omitempty"`
}

// Result names a finished job's objects in ResultsBucket and what made them.
type Result struct {
	Frames        string  `json:"frames"`
	FramesDigest  string  `json:"frames_digest"`
	Summary       string  `json:"summary"`
	SummaryDigest string  `json:"summary_digest"`
	Plot          string  `json:"plot,omitempty"`
	Rows          int     `json:"rows"`
	Model         string  `json:"model"`
	ModelVersion  string  `json:"model_version"`
	Backend       string  `json:"backend"`
	ElapsedS      float64 `json:"elapsed_s"`
}

// decodeRecord parses and checks a record read from the bucket.
func decodeRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: record: %v", ErrBadJob, err)
	}
	if r.Schema != Schema {
		return r, fmt.Errorf("%w: record schema %d, want %d", ErrBadJob, r.Schema, Schema)
	}
	switch r.State {
	case StateQueued, StateRunning, StateRetrying, StateDone, StateFailed:
	default:
		return r, fmt.Errorf("%w: record state %q", ErrBadJob, r.State)
	}
	if r.State == StateDone && r.Result == nil {
		return r, fmt.Errorf("%w: done without result", ErrBadJob)
	}
	return r, nil
}
