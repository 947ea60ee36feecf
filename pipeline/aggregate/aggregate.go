// Package aggregate computes a participant's expressed affect from per-frame
// happiness scores: whole-session and rolling-window statistics, stimulus-locked
// epochs around markers, per-condition averages and an optional neutral
// calibration. It is pure computation (no I/O besides reading a marker CSV) and
// is shared by `affect score` (offline), `affect aggregate` (live) and the dashboard.
//
// # Definitions
//
// All times are media times in milliseconds (record.FrameScore.MediaMS).
// Frames are ordered by media time, then source, then frame index.
//
//   - A face frame is a frame with FaceFound and a primary face. Frames with no
//     face are counted (Frames, FaceShare) but never enter a happiness statistic:
//     they are not happiness 0.
//   - Mean, Median, Peak: of the primary face's happiness over face frames.
//     Median of an even count is the mean of the two middle values.
//   - AboveShare: face frames with happiness >= Threshold / face frames.
//   - Frame interval: the median of the positive differences between the media
//     times of consecutive frames of the session (0 with fewer than two distinct times).
//   - A run above threshold is a maximal sequence of consecutive frames that are
//     all face frames with happiness >= Threshold. A face frame below threshold
//     AND a frame without a face both end a run (a frame without a face is not
//     evidence of a smile). Its duration is
//     last.MediaMS - first.MediaMS + frame interval, so one frame lasts one
//     interval. LongestRunMS is the longest such duration (0 when there is none).
//   - Rolling statistics cover the frames with media time in (tmax-Window, tmax],
//     where tmax is the latest media time received.
//   - Epoch of a marker at onset t: baseline = face frames with media time in
//     [t-Baseline, t); response = face frames in [t+ResponseFrom, t+ResponseTo).
//     Corrected = ResponseMean - BaselineMean. Peak = max response happiness.
//     LatencyMS = media time of the first response face frame with happiness
//     >= Threshold, minus t (nil when none; when the face is already above
//     threshold at onset the latency is that of the first response frame).
//   - Conditions: for each non-empty marker condition, the mean over its epochs
//     of each epoch value, taken over the epochs where that value exists.
//   - With ExcludeLowQuality, a frame whose face fails the quality rule counts
//     as a frame without a face in every statistic below.
//   - Calibration (CalibrationMS > 0): the face frames with media time <
//     CalibrationMS are the participant's neutral segment; their mean happiness
//     is Neutral; the rest of the session's face frames are reported raw and
//     with Neutral subtracted, and each epoch gets Calibrated = ResponseMean - Neutral.
//
// Summary is a pure function of the set of distinct frames and markers: the
// same frames added in any order give an identical Summary.
package aggregate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/record"
)

// SummarySchemaVersion is the version of the Summary JSON.
const SummarySchemaVersion = 1

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid aggregation config")

// Config sets the aggregation parameters. The zero value is not valid; start
// from DefaultConfig.
type Config struct {
	// Threshold is the happiness at or above which a face frame counts as a
	// smile (AboveShare, runs, latency). In [0,1]. Default 0.5.
	Threshold float64
	// Window is the length of the rolling window. > 0. Default 10s.
	Window time.Duration
	// Baseline is the length of the pre-onset baseline of an epoch. > 0. Default 1s.
	Baseline time.Duration
	// ResponseFrom and ResponseTo bound the response window after onset,
	// [onset+ResponseFrom, onset+ResponseTo). ResponseFrom >= 0, ResponseTo > ResponseFrom.
	// Default 0 to 5s.
	ResponseFrom, ResponseTo time.Duration
	// CalibrationMS, when > 0, marks the frames with media time below it as the
	// participant's neutral segment (see package documentation). 0 disables it.
	CalibrationMS float64
	// ExcludeLowQuality leaves the faces that fail the quality rule
	// (record.Quality.Low) out of every statistic: such a frame then counts
	// like a frame without a face (in Frames, not FaceFrames; it ends a run).
	// Either way Summary.LowQualityFrames counts them.
	ExcludeLowQuality bool
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Threshold:    0.5,
		Window:       10 * time.Second,
		Baseline:     time.Second,
		ResponseFrom: 0,
		ResponseTo:   5 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.Threshold) || c.Threshold < 0 || c.Threshold > 1:
		return fmt.Errorf("%w: threshold %v is not in [0,1]", ErrConfig, c.Threshold)
	case c.Window <= 0:
		return fmt.Errorf("%w: rolling window %v must be > 0", ErrConfig, c.Window)
	case c.Baseline <= 0:
		return fmt.Errorf("%w: baseline %v must be > 0", ErrConfig, c.Baseline)
	case c.ResponseFrom < 0:
		return fmt.Errorf("%w: response start %v must be >= 0", ErrConfig, c.ResponseFrom)
	case c.ResponseTo <= c.ResponseFrom:
		return fmt.Errorf("%w: response end %v must be after response start %v", ErrConfig, c.ResponseTo, c.ResponseFrom)
	case math.IsNaN(c.CalibrationMS) || math.IsInf(c.CalibrationMS, 0) || c.CalibrationMS < 0:
		return fmt.Errorf("%w: calibration segment %v ms must be >= 0", ErrConfig, c.CalibrationMS)
	}
	return nil
}

// Marker is a stimulus marker; it is the pipeline's marker message.
type Marker = record.Marker

// Stats are happiness statistics over a set of frames. Pointer fields are nil
// (JSON null) when there is no data for them, never NaN.
type Stats struct {
	// Frames counts all frames, with or without a face.
	Frames int `json:"frames"`
	// FaceFrames counts frames with a primary face.
	FaceFrames int `json:"face_frames"`
	// FaceShare is FaceFrames/Frames.
	FaceShare *float64 `json:"face_share"`
	Mean      *float64 `json:"mean"`
	Median    *float64 `json:"median"`
	Peak      *float64 `json:"peak"`
	// AboveShare is the share of face frames with happiness >= threshold.
	AboveShare *float64 `json:"above_share"`
	// LongestRunMS is the longest run above threshold (see package doc).
	LongestRunMS float64 `json:"longest_run_ms"`
	// FromMS and ToMS are the media times of the first and last frame.
	FromMS *float64 `json:"from_ms"`
	ToMS   *float64 `json:"to_ms"`
}

// Epoch is the stimulus-locked analysis of one marker.
type Epoch struct {
	Label     string  `json:"label"`
	Condition string  `json:"condition,omitempty"`
	OnsetMS   float64 `json:"onset_ms"`
	// BaselineFrames and ResponseFrames count the face frames used.
	BaselineFrames int `json:"baseline_frames"`
	ResponseFrames int `json:"response_frames"`
	// ResponseNoFace counts frames without a face in the response window.
	ResponseNoFace int      `json:"response_no_face"`
	BaselineMean   *float64 `json:"baseline_mean"`
	ResponseMean   *float64 `json:"response_mean"`
	// Corrected is ResponseMean - BaselineMean.
	Corrected *float64 `json:"corrected"`
	Peak      *float64 `json:"peak"`
	// LatencyMS is the time from onset to the first response face frame at or above threshold.
	LatencyMS *float64 `json:"latency_ms"`
	// Calibrated is ResponseMean minus the calibration's neutral mean (only with calibration).
	Calibrated *float64 `json:"calibrated,omitempty"`
}

// ConditionStats averages the epochs of one condition.
type ConditionStats struct {
	Condition string `json:"condition"`
	Epochs    int    `json:"epochs"`
	// Each mean is over the epochs where the value exists; nil when none has it.
	BaselineMean *float64 `json:"baseline_mean"`
	ResponseMean *float64 `json:"response_mean"`
	Corrected    *float64 `json:"corrected"`
	Peak         *float64 `json:"peak"`
	LatencyMS    *float64 `json:"latency_ms"`
	// EpochsWithLatency counts the epochs with a threshold crossing.
	EpochsWithLatency int      `json:"epochs_with_latency"`
	Calibrated        *float64 `json:"calibrated,omitempty"`
}

// Calibration compares the session after the neutral segment raw and corrected.
type Calibration struct {
	UntilMS float64 `json:"until_ms"`
	// NeutralFrames counts the face frames of the neutral segment.
	NeutralFrames int `json:"neutral_frames"`
	// Neutral is their mean happiness; nil when the segment has no face.
	Neutral *float64 `json:"neutral"`
	// Frames after the segment: counts and raw statistics.
	FaceFrames int      `json:"face_frames"`
	RawMean    *float64 `json:"raw_mean"`
	RawMedian  *float64 `json:"raw_median"`
	RawPeak    *float64 `json:"raw_peak"`
	// Corrected* are the raw values minus Neutral.
	CorrectedMean   *float64 `json:"corrected_mean"`
	CorrectedMedian *float64 `json:"corrected_median"`
	CorrectedPeak   *float64 `json:"corrected_peak"`
}

// Delivery describes how the frames reached the aggregator; set by a live
// consumer with SetDelivery, absent offline.
type Delivery struct {
	// Started and Ended are true once SessionStart / SessionEnd were received.
	Started bool `json:"started"`
	Ended   bool `json:"ended"`
	// PublishedFrames and UndeliveredFrames are the publisher's counts from SessionEnd.
	PublishedFrames   int `json:"published_frames"`
	UndeliveredFrames int `json:"undelivered_frames"`
	// MissingFrames = PublishedFrames - distinct frames received (after SessionEnd).
	MissingFrames int `json:"missing_frames"`
	// Malformed and UnknownSchema count skipped messages.
	Malformed     int `json:"malformed"`
	UnknownSchema int `json:"unknown_schema"`
}

// Summary is the aggregate of a session so far.
type Summary struct {
	Schema      int     `json:"schema"`
	Session     string  `json:"session"`
	Participant string  `json:"participant,omitempty"`
	Threshold   float64 `json:"threshold"`
	// Window, baseline and response settings, in ms.
	WindowMS       float64 `json:"window_ms"`
	BaselineMS     float64 `json:"baseline_ms"`
	ResponseFromMS float64 `json:"response_from_ms"`
	ResponseToMS   float64 `json:"response_to_ms"`
	// FrameIntervalMS is the frame interval used for run durations.
	FrameIntervalMS float64 `json:"frame_interval_ms"`
	// Overall covers the whole session; Rolling the last WindowMS.
	Overall    Stats            `json:"overall"`
	Rolling    Stats            `json:"rolling"`
	Epochs     []Epoch          `json:"epochs"`
	Conditions []ConditionStats `json:"conditions"`
	// Calibration is present when Config.CalibrationMS > 0.
	Calibration *Calibration `json:"calibration,omitempty"`
	// ErrorFrames counts frames that carry an Error (they count as frames without a face).
	ErrorFrames int `json:"error_frames"`
	// LowQualityFrames counts the face frames whose face fails the quality
	// rule; ExcludeLowQuality says whether they were left out of the statistics.
	LowQualityFrames  int  `json:"low_quality_frames"`
	ExcludeLowQuality bool `json:"exclude_low_quality"`
	// DuplicateFrames and DuplicateMarkers count ignored repeats.
	DuplicateFrames  int       `json:"duplicate_frames"`
	DuplicateMarkers int       `json:"duplicate_markers"`
	Delivery         *Delivery `json:"delivery,omitempty"`
}

type frameKey struct {
	source string
	frame  int64
}

// Aggregator accumulates frames and markers. It is safe for concurrent use.
type Aggregator struct {
	cfg Config

	mu sync.Mutex
	// frames are the distinct frames, kept sorted by frameLess.
	frames      []record.FrameScore
	seen        map[frameKey]struct{}
	markers     []Marker
	markerSet   map[Marker]bool
	dupFrames   int
	dupMarkers  int
	session     string
	participant string
	delivery    *Delivery
}

// Option configures an Aggregator.
type Option func(*Aggregator) error

// WithSession sets the session and participant reported in the Summary
// (by default they are taken from the frames).
func WithSession(session, participant string) Option {
	return func(a *Aggregator) error {
		if session != "" {
			if err := pipeline.ValidateSession(session); err != nil {
				return err
			}
		}
		a.session, a.participant = session, participant
		return nil
	}
}

// New returns an Aggregator, or an error wrapping ErrConfig.
func New(cfg Config, opts ...Option) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Aggregator{cfg: cfg, seen: map[frameKey]struct{}{}, markerSet: map[Marker]bool{}}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Config returns the aggregator's configuration.
func (a *Aggregator) Config() Config { return a.cfg }

// Add adds a frame. A repeat of an already added (source, frame) is ignored
// and counted in DuplicateFrames; frames may arrive in any order.
func (a *Aggregator) Add(f record.FrameScore) {
	k := frameKey{f.Source, f.Frame}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.seen[k]; dup {
		a.dupFrames++
		return
	}
	a.seen[k] = struct{}{}
	n := len(a.frames)
	if n == 0 || frameLess(&a.frames[n-1], &f) {
		a.frames = append(a.frames, f) // the usual case: frames arrive in order
		return
	}
	i := sort.Search(n, func(i int) bool { return frameLess(&f, &a.frames[i]) })
	a.frames = slices.Insert(a.frames, i, f)
}

// AddMarker adds a marker. An identical marker (same onset, label and
// condition) is ignored and counted in DuplicateMarkers.
func (a *Aggregator) AddMarker(m Marker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.markerSet[m] {
		a.dupMarkers++
		return
	}
	a.markerSet[m] = true
	a.markers = append(a.markers, m)
}

// SetMeta sets the session and participant for the Summary; empty values are ignored.
func (a *Aggregator) SetMeta(session, participant string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if session != "" {
		a.session = session
	}
	if participant != "" {
		a.participant = participant
	}
}

// SetDelivery records live delivery information shown in Summary.Delivery.
func (a *Aggregator) SetDelivery(d Delivery) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delivery = &d
}

// Len returns the number of distinct frames added.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.frames)
}

// Frames returns the distinct frames in media-time order (a copy).
func (a *Aggregator) Frames() []record.FrameScore {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.frames)
}

// frameLess orders frames by media time, then source, then frame index.
func frameLess(x, y *record.FrameScore) bool {
	if x.MediaMS != y.MediaMS {
		return x.MediaMS < y.MediaMS
	}
	if x.Source != y.Source {
		return x.Source < y.Source
	}
	return x.Frame < y.Frame
}

// Summary computes the summary of everything added so far.
func (a *Aggregator) Summary() Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	frames := a.frames
	markers := slices.Clone(a.markers)
	s := Summary{
		Schema:           SummarySchemaVersion,
		Session:          a.session,
		Participant:      a.participant,
		DuplicateFrames:  a.dupFrames,
		DuplicateMarkers: a.dupMarkers,
	}
	if a.delivery != nil {
		d := *a.delivery
		if d.Ended {
			d.MissingFrames = max(0, d.PublishedFrames-len(frames))
		}
		s.Delivery = &d
	}
	return compute(a.cfg, frames, markers, s)
}

// Compute is the offline entry point: the Summary of a complete set of frames
// and markers, as an Aggregator fed with them would give.
func Compute(cfg Config, frames []record.FrameScore, markers []Marker) (Summary, error) {
	a, err := New(cfg)
	if err != nil {
		return Summary{}, err
	}
	for _, f := range frames {
		a.Add(f)
	}
	for _, m := range markers {
		a.AddMarker(m)
	}
	return a.Summary(), nil
}

func compute(cfg Config, frames []record.FrameScore, markers []Marker, s Summary) Summary {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	s.Threshold = cfg.Threshold
	s.WindowMS = ms(cfg.Window)
	s.BaselineMS = ms(cfg.Baseline)
	s.ResponseFromMS = ms(cfg.ResponseFrom)
	s.ResponseToMS = ms(cfg.ResponseTo)
	for _, f := range frames {
		if s.Session == "" && f.Session != "" {
			s.Session = f.Session
		}
		if s.Participant == "" && f.Participant != "" {
			s.Participant = f.Participant
		}
		if f.Error != "" {
			s.ErrorFrames++
		}
	}
	s.ExcludeLowQuality = cfg.ExcludeLowQuality
	var kept []record.FrameScore
	for i, f := range frames {
		if f.FaceFound && f.Primary != nil && f.Primary.Quality != nil && f.Primary.Quality.Low {
			s.LowQualityFrames++
			if cfg.ExcludeLowQuality {
				if kept == nil {
					kept = slices.Clone(frames)
				}
				kept[i].FaceFound, kept[i].Primary = false, nil
			}
		}
	}
	if kept != nil {
		frames = kept
	}
	interval := frameInterval(frames)
	s.FrameIntervalMS = interval
	s.Overall = stats(frames, cfg.Threshold, interval)
	if n := len(frames); n > 0 {
		tmax := frames[n-1].MediaMS
		from := tmax - s.WindowMS
		i := sort.Search(n, func(i int) bool { return frames[i].MediaMS > from })
		s.Rolling = stats(frames[i:], cfg.Threshold, interval)
	} else {
		s.Rolling = stats(nil, cfg.Threshold, interval)
	}

	var neutral *float64
	if cfg.CalibrationMS > 0 {
		s.Calibration, neutral = calibrate(frames, cfg.CalibrationMS)
	}

	slices.SortStableFunc(markers, func(x, y Marker) int {
		switch {
		case x.OnsetMS < y.OnsetMS:
			return -1
		case x.OnsetMS > y.OnsetMS:
			return 1
		case x.Label != y.Label:
			if x.Label < y.Label {
				return -1
			}
			return 1
		case x.Condition < y.Condition:
			return -1
		case x.Condition > y.Condition:
			return 1
		}
		return 0
	})
	s.Epochs = make([]Epoch, 0, len(markers))
	for _, m := range markers {
		s.Epochs = append(s.Epochs, epoch(cfg, frames, m, neutral))
	}
	s.Conditions = conditions(s.Epochs)
	return s
}

// happy returns the frame's happiness if it is a face frame.
func happy(f *record.FrameScore) (float64, bool) { return f.Happiness() }

func frameInterval(frames []record.FrameScore) float64 {
	var d []float64
	for i := 1; i < len(frames); i++ {
		if x := frames[i].MediaMS - frames[i-1].MediaMS; x > 0 {
			d = append(d, x)
		}
	}
	if len(d) == 0 {
		return 0
	}
	return median(d)
}

func ptr(x float64) *float64 { return &x }

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// stats computes Stats over frames sorted by media time.
func stats(frames []record.FrameScore, threshold, interval float64) Stats {
	st := Stats{Frames: len(frames)}
	if len(frames) == 0 {
		return st
	}
	st.FromMS, st.ToMS = ptr(frames[0].MediaMS), ptr(frames[len(frames)-1].MediaMS)
	var hs []float64
	above := 0
	var runStart float64
	inRun := false
	var last float64
	for i := range frames {
		h, ok := happy(&frames[i])
		if ok {
			hs = append(hs, h)
		}
		if ok && h >= threshold {
			above++
			if !inRun {
				inRun, runStart = true, frames[i].MediaMS
			}
			last = frames[i].MediaMS
			st.LongestRunMS = max(st.LongestRunMS, last-runStart+interval)
		} else {
			inRun = false
		}
	}
	st.FaceFrames = len(hs)
	st.FaceShare = ptr(float64(len(hs)) / float64(len(frames)))
	if len(hs) > 0 {
		st.Mean = ptr(mean(hs))
		st.Median = ptr(median(hs))
		st.Peak = ptr(slices.Max(hs))
		st.AboveShare = ptr(float64(above) / float64(len(hs)))
	}
	return st
}

func calibrate(frames []record.FrameScore, until float64) (*Calibration, *float64) {
	c := &Calibration{UntilMS: until}
	var neutral, rest []float64
	for i := range frames {
		h, ok := happy(&frames[i])
		if !ok {
			continue
		}
		if frames[i].MediaMS < until {
			neutral = append(neutral, h)
		} else {
			rest = append(rest, h)
		}
	}
	c.NeutralFrames, c.FaceFrames = len(neutral), len(rest)
	if len(neutral) > 0 {
		c.Neutral = ptr(mean(neutral))
	}
	if len(rest) > 0 {
		c.RawMean, c.RawMedian, c.RawPeak = ptr(mean(rest)), ptr(median(rest)), ptr(slices.Max(rest))
		if c.Neutral != nil {
			n := *c.Neutral
			c.CorrectedMean = ptr(*c.RawMean - n)
			c.CorrectedMedian = ptr(*c.RawMedian - n)
			c.CorrectedPeak = ptr(*c.RawPeak - n)
		}
	}
	return c, c.Neutral
}

func epoch(cfg Config, frames []record.FrameScore, m Marker, neutral *float64) Epoch {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	e := Epoch{Label: m.Label, Condition: m.Condition, OnsetMS: m.OnsetMS}
	bFrom, bTo := m.OnsetMS-ms(cfg.Baseline), m.OnsetMS
	rFrom, rTo := m.OnsetMS+ms(cfg.ResponseFrom), m.OnsetMS+ms(cfg.ResponseTo)
	lo := sort.Search(len(frames), func(i int) bool { return frames[i].MediaMS >= min(bFrom, rFrom) })
	var base, resp []float64
	for i := lo; i < len(frames) && frames[i].MediaMS < max(bTo, rTo); i++ {
		t := frames[i].MediaMS
		h, ok := happy(&frames[i])
		if t >= bFrom && t < bTo && ok {
			base = append(base, h)
		}
		if t >= rFrom && t < rTo {
			if !ok {
				e.ResponseNoFace++
				continue
			}
			resp = append(resp, h)
			if h >= cfg.Threshold && e.LatencyMS == nil {
				e.LatencyMS = ptr(t - m.OnsetMS)
			}
		}
	}
	e.BaselineFrames, e.ResponseFrames = len(base), len(resp)
	if len(base) > 0 {
		e.BaselineMean = ptr(mean(base))
	}
	if len(resp) > 0 {
		e.ResponseMean = ptr(mean(resp))
		e.Peak = ptr(slices.Max(resp))
		if e.BaselineMean != nil {
			e.Corrected = ptr(*e.ResponseMean - *e.BaselineMean)
		}
		if neutral != nil {
			e.Calibrated = ptr(*e.ResponseMean - *neutral)
		}
	}
	return e
}

func conditions(epochs []Epoch) []ConditionStats {
	byCond := map[string][]Epoch{}
	var names []string
	for _, e := range epochs {
		if e.Condition == "" {
			continue
		}
		if _, ok := byCond[e.Condition]; !ok {
			names = append(names, e.Condition)
		}
		byCond[e.Condition] = append(byCond[e.Condition], e)
	}
	sort.Strings(names)
	out := make([]ConditionStats, 0, len(names))
	avg := func(es []Epoch, get func(Epoch) *float64) (*float64, int) {
		var v []float64
		for _, e := range es {
			if p := get(e); p != nil {
				v = append(v, *p)
			}
		}
		if len(v) == 0 {
			return nil, 0
		}
		return ptr(mean(v)), len(v)
	}
	for _, n := range names {
		es := byCond[n]
		c := ConditionStats{Condition: n, Epochs: len(es)}
		c.BaselineMean, _ = avg(es, func(e Epoch) *float64 { return e.BaselineMean })
		c.ResponseMean, _ = avg(es, func(e Epoch) *float64 { return e.ResponseMean })
		c.Corrected, _ = avg(es, func(e Epoch) *float64 { return e.Corrected })
		c.Peak, _ = avg(es, func(e Epoch) *float64 { return e.Peak })
		c.LatencyMS, c.EpochsWithLatency = avg(es, func(e Epoch) *float64 { return e.LatencyMS })
		c.Calibrated, _ = avg(es, func(e Epoch) *float64 { return e.Calibrated })
		out = append(out, c)
	}
	return out
}
