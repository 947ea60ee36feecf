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
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

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
	// CapturedFrames is the session's own count of frames it produced
	// (SessionEnd.Frames; 0 before the end).
	CapturedFrames int `json:"captured_frames"`
	// Rejected counts messages that parsed but were not used (a frame from
	// another source, without the session's token, out of range, with
	// impossible values; a forged or second start or end...), by reason
	// (pipeline.Reject*); RejectedTotal is their sum.
	Rejected      map[string]int `json:"rejected,omitempty"`
	RejectedTotal int            `json:"rejected_total"`
	// SessionEnds counts the session_end messages with the session's token;
	// SuspectEnds those whose counts contradict the frames that arrived (not trusted).
	SessionEnds int `json:"session_ends"`
	SuspectEnds int `json:"suspect_ends"`
	// Redelivered counts messages the broker delivered again (an
	// acknowledgment lost); they are not counted again anywhere.
	Redelivered int `json:"redelivered"`
	// Idle is set when reading stopped because no message came for the
	// idle timeout before a matching session_end: what exists was used.
	Idle string `json:"idle,omitempty"`
}

// Summary is the aggregate of a session so far.
type Summary struct {
	Schema      int    `json:"schema"`
	Session     string `json:"session"`
	Participant string `json:"participant,omitempty"`
	// Model, ModelVersion and Backend say what produced the scores (live:
	// from the session_start; empty when unknown).
	Model        string  `json:"model,omitempty"`
	ModelVersion string  `json:"model_version,omitempty"`
	Backend      string  `json:"backend,omitempty"`
	Threshold    float64 `json:"threshold"`
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

// point is what the statistics need of a frame: 32 bytes, whatever the
// frame carries (faces, probabilities, quality, strings).
type point struct {
	media float64
	frame int64
	h     float64 // happiness of the primary face (when pFace)
	src   int32   // index in Aggregator.sources
	flags uint8
}

const (
	pFace uint8 = 1 << iota // a face frame (FaceFound with a primary face)
	pLow                    // its face fails the quality rule
	pErr                    // the frame carries an Error
)

// happy returns the point's happiness when it counts as a face frame.
func (p *point) happy(excludeLow bool) (float64, bool) {
	if p.flags&pFace == 0 || (excludeLow && p.flags&pLow != 0) {
		return 0, false
	}
	return p.h, true
}

// Aggregator accumulates frames and markers. It is safe for concurrent use.
//
// Memory: the statistics keep the exact median, so they need every face
// frame's value; the aggregator holds one compact point (32 bytes) per
// distinct frame, its happiness and media-time difference in sorted order
// (8 bytes each) and one bit per frame number for de-duplication, not the
// frames: about 50 bytes per frame, 11 MB for a two-hour session at 30
// frames/s (TestAggregatorMemoryPerFrame). WithFrames also keeps the whole
// frames (for the per-frame result files, about 450 bytes each).
//
// Work: the sorted values make a Summary a single pass over the points
// without sorting or allocating (BenchmarkLiveSecond: one second of a
// two-hour session, 30 frames and a Summary, 11 ms and 19 kB).
type Aggregator struct {
	cfg        Config
	keepFrames bool

	mu sync.Mutex
	// points are the distinct frames' points, kept sorted by (media time,
	// source, frame); frames, with WithFrames, the frames in the same order.
	points  []point
	frames  []record.FrameScore
	sources []string
	srcIdx  map[string]int32
	seen    []bitset          // per source: frame numbers added
	seenBig map[[2]int64]bool // frame numbers outside the bitset's range
	// first is the point of the earliest frame (in order) that named a
	// session and participant (the Summary's defaults).
	firstSession, firstParticipant     string
	firstSessionAt, firstParticipantAt *point
	errFrames, lowFrames               int
	markers                            []Marker
	markerSet                          map[Marker]bool
	dupFrames                          int
	dupMarkers                         int
	session                            string
	participant                        string
	model                              [3]string // model, version, backend
	delivery                           *Delivery
	cached                             *Summary // the last Summary, until something changes
	// Kept sorted as frames arrive, so that a Summary needs no sort: the
	// happiness values of the face frames the statistics count (all, and
	// with calibration those after the neutral segment), and the positive
	// differences between consecutive media times (rebuilt when a frame
	// arrives out of order).
	sortedH, sortedRest []float64
	diffs               []float64
	diffsStale          bool
}

// maxBitsetFrame bounds the frame numbers de-duplicated by bitset (64 MB of bits at most).
const maxBitsetFrame = 1 << 29

type bitset []uint64

func (b bitset) has(i int64) bool {
	w := i / 64
	return w < int64(len(b)) && b[w]&(1<<(uint64(i)%64)) != 0
}

func (b *bitset) set(i int64) {
	w := i / 64
	for int64(len(*b)) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint64(i) % 64)
}

// WithFrames keeps every distinct frame (Frames), for writing the per-frame
// result files; without it the aggregator keeps only the statistics' points.
func WithFrames() Option {
	return func(a *Aggregator) error { a.keepFrames = true; return nil }
}

// Option configures an Aggregator.
type Option func(*Aggregator) error

// WithSession sets the session and participant reported in the Summary
// (by default they are taken from the frames).
func WithSession(session, participant string) Option {
	return func(a *Aggregator) error {
		if session != "" {
			if err := record.ValidateSession(session); err != nil {
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
	a := &Aggregator{cfg: cfg, srcIdx: map[string]int32{}, markerSet: map[Marker]bool{}}
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
	a.mu.Lock()
	defer a.mu.Unlock()
	src, ok := a.srcIdx[f.Source]
	if !ok {
		src = int32(len(a.sources))
		a.sources = append(a.sources, f.Source)
		a.srcIdx[f.Source] = src
		a.seen = append(a.seen, nil)
	}
	if f.Frame >= 0 && f.Frame < maxBitsetFrame {
		if a.seen[src].has(f.Frame) {
			a.dupFrames++
			return
		}
		a.seen[src].set(f.Frame)
	} else {
		k := [2]int64{int64(src), f.Frame}
		if a.seenBig[k] {
			a.dupFrames++
			return
		}
		if a.seenBig == nil {
			a.seenBig = map[[2]int64]bool{}
		}
		a.seenBig[k] = true
	}
	a.cached = nil
	p := point{media: f.MediaMS, frame: f.Frame, src: src}
	if h, ok := f.Happiness(); ok {
		p.flags |= pFace
		p.h = h
		if f.Primary.Quality != nil && f.Primary.Quality.Low {
			p.flags |= pLow
			a.lowFrames++
		}
	}
	if f.Error != "" {
		p.flags |= pErr
		a.errFrames++
	}
	n := len(a.points)
	i := n
	if n > 0 && !a.less(&a.points[n-1], &p) {
		i = sort.Search(n, func(i int) bool { return a.less(&p, &a.points[i]) })
	}
	if i == n {
		a.points = append(a.points, p) // the usual case: frames arrive in order
	} else {
		a.points = slices.Insert(a.points, i, p)
	}
	if a.keepFrames {
		f.Faces = slices.Clone(f.Faces)
		a.frames = slices.Insert(a.frames, i, f)
	}
	if h, ok := p.happy(a.cfg.ExcludeLowQuality); ok {
		a.sortedH = insertSorted(a.sortedH, h)
		if a.cfg.CalibrationMS > 0 && p.media >= a.cfg.CalibrationMS {
			a.sortedRest = insertSorted(a.sortedRest, h)
		}
	}
	switch {
	case i != n:
		a.diffsStale = true
	case n > 0:
		if d := p.media - a.points[n-1].media; d > 0 {
			a.diffs = insertSorted(a.diffs, d)
		}
	}
	if f.Session != "" && (a.firstSessionAt == nil || a.less(&p, a.firstSessionAt)) {
		pp := p
		a.firstSession, a.firstSessionAt = f.Session, &pp
	}
	if f.Participant != "" && (a.firstParticipantAt == nil || a.less(&p, a.firstParticipantAt)) {
		pp := p
		a.firstParticipant, a.firstParticipantAt = f.Participant, &pp
	}
}

func insertSorted(v []float64, x float64) []float64 {
	i, _ := slices.BinarySearch(v, x)
	return slices.Insert(v, i, x)
}

// sortedMedian is the median of sorted values (see package documentation).
func sortedMedian(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// less orders points by media time, then source, then frame index.
func (a *Aggregator) less(x, y *point) bool {
	if x.media != y.media {
		return x.media < y.media
	}
	if x.src != y.src {
		return a.sources[x.src] < a.sources[y.src]
	}
	return x.frame < y.frame
}

// AddMarker adds a marker. An identical marker (same onset, label and
// condition) is ignored and counted in DuplicateMarkers.
func (a *Aggregator) AddMarker(m Marker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cached = nil
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
	a.cached = nil
	if session != "" {
		a.session = session
	}
	if participant != "" {
		a.participant = participant
	}
}

// SetModel records which model (and its version) and backend produced the scores.
func (a *Aggregator) SetModel(model, version, backend string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cached = nil
	a.model = [3]string{model, version, backend}
}

// SetDelivery records live delivery information shown in Summary.Delivery.
func (a *Aggregator) SetDelivery(d Delivery) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cached = nil
	a.delivery = &d
}

// Len returns the number of distinct frames added.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.points)
}

// Frames returns the distinct frames in media-time order (a copy); nil
// unless the aggregator was made WithFrames.
func (a *Aggregator) Frames() []record.FrameScore {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.frames)
}

// Summary computes the summary of everything added so far. It is computed
// again only when something changed since the last call.
func (a *Aggregator) Summary() Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cached != nil {
		return a.cached.clone()
	}
	markers := slices.Clone(a.markers)
	s := Summary{
		Schema:           SummarySchemaVersion,
		Session:          a.session,
		Participant:      a.participant,
		Model:            a.model[0],
		ModelVersion:     a.model[1],
		Backend:          a.model[2],
		DuplicateFrames:  a.dupFrames,
		DuplicateMarkers: a.dupMarkers,
	}
	if a.delivery != nil {
		d := *a.delivery
		if d.Rejected != nil {
			d.Rejected = maps.Clone(d.Rejected)
		}
		if d.Ended {
			d.MissingFrames = max(0, d.PublishedFrames-len(a.points))
		}
		s.Delivery = &d
	}
	if s.Session == "" {
		s.Session = a.firstSession
	}
	if s.Participant == "" {
		s.Participant = a.firstParticipant
	}
	s.ErrorFrames, s.LowQualityFrames = a.errFrames, a.lowFrames
	if a.diffsStale {
		a.diffs = a.diffs[:0]
		for i := 1; i < len(a.points); i++ {
			if d := a.points[i].media - a.points[i-1].media; d > 0 {
				a.diffs = append(a.diffs, d)
			}
		}
		slices.Sort(a.diffs)
		a.diffsStale = false
	}
	s = compute(a.cfg, a.points, markers, s, sorted{h: a.sortedH, rest: a.sortedRest, diffs: a.diffs})
	a.cached = &s
	return s.clone()
}

// clone returns a copy that shares nothing mutable with s.
func (s *Summary) clone() Summary {
	c := *s
	c.Epochs = slices.Clone(s.Epochs)
	c.Conditions = slices.Clone(s.Conditions)
	if s.Calibration != nil {
		cal := *s.Calibration
		c.Calibration = &cal
	}
	if s.Delivery != nil {
		d := *s.Delivery
		d.Rejected = maps.Clone(d.Rejected)
		c.Delivery = &d
	}
	return c
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

// sorted are the Aggregator's sorted values (see Aggregator).
type sorted struct{ h, rest, diffs []float64 }

func compute(cfg Config, frames []point, markers []Marker, s Summary, sv sorted) Summary {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	s.Threshold = cfg.Threshold
	s.WindowMS = ms(cfg.Window)
	s.BaselineMS = ms(cfg.Baseline)
	s.ResponseFromMS = ms(cfg.ResponseFrom)
	s.ResponseToMS = ms(cfg.ResponseTo)
	s.ExcludeLowQuality = cfg.ExcludeLowQuality
	ex := cfg.ExcludeLowQuality
	interval := 0.0
	if len(sv.diffs) > 0 {
		interval = sortedMedian(sv.diffs)
	}
	s.FrameIntervalMS = interval
	s.Overall = stats(frames, cfg.Threshold, interval, ex, sv.h)
	if n := len(frames); n > 0 {
		tmax := frames[n-1].media
		from := tmax - s.WindowMS
		i := sort.Search(n, func(i int) bool { return frames[i].media > from })
		s.Rolling = stats(frames[i:], cfg.Threshold, interval, ex, nil)
	} else {
		s.Rolling = stats(nil, cfg.Threshold, interval, ex, nil)
	}

	var neutral *float64
	if cfg.CalibrationMS > 0 {
		s.Calibration, neutral = calibrate(frames, cfg.CalibrationMS, ex, sv.rest)
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
		s.Epochs = append(s.Epochs, epoch(cfg, frames, m, neutral, ex))
	}
	s.Conditions = conditions(s.Epochs)
	return s
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

// stats computes Stats over frames sorted by media time. sortedH, when
// not nil, holds the counted happiness values sorted (the median then needs
// no sort and stats allocates nothing).
func stats(frames []point, threshold, interval float64, ex bool, sortedH []float64) Stats {
	st := Stats{Frames: len(frames)}
	if len(frames) == 0 {
		return st
	}
	st.FromMS, st.ToMS = ptr(frames[0].media), ptr(frames[len(frames)-1].media)
	var hs []float64
	above, faces := 0, 0
	var sum, peak float64
	var runStart float64
	inRun := false
	var last float64
	for i := range frames {
		h, ok := frames[i].happy(ex)
		if ok {
			if sortedH == nil {
				hs = append(hs, h)
			}
			if faces == 0 || h > peak {
				peak = h
			}
			faces++
			sum += h
		}
		if ok && h >= threshold {
			above++
			if !inRun {
				inRun, runStart = true, frames[i].media
			}
			last = frames[i].media
			st.LongestRunMS = max(st.LongestRunMS, last-runStart+interval)
		} else {
			inRun = false
		}
	}
	st.FaceFrames = faces
	st.FaceShare = ptr(float64(faces) / float64(len(frames)))
	if faces > 0 {
		st.Mean = ptr(sum / float64(faces))
		if sortedH != nil {
			st.Median = ptr(sortedMedian(sortedH))
		} else {
			st.Median = ptr(median(hs))
		}
		st.Peak = ptr(peak)
		st.AboveShare = ptr(float64(above) / float64(faces))
	}
	return st
}

func calibrate(frames []point, until float64, ex bool, sortedRest []float64) (*Calibration, *float64) {
	c := &Calibration{UntilMS: until}
	var neutral, rest []float64
	for i := range frames {
		h, ok := frames[i].happy(ex)
		if !ok {
			continue
		}
		if frames[i].media < until {
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
		c.RawMean, c.RawMedian, c.RawPeak = ptr(mean(rest)), ptr(sortedMedian(sortedRest)), ptr(slices.Max(rest))
		if c.Neutral != nil {
			n := *c.Neutral
			c.CorrectedMean = ptr(*c.RawMean - n)
			c.CorrectedMedian = ptr(*c.RawMedian - n)
			c.CorrectedPeak = ptr(*c.RawPeak - n)
		}
	}
	return c, c.Neutral
}

func epoch(cfg Config, frames []point, m Marker, neutral *float64, ex bool) Epoch {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	e := Epoch{Label: m.Label, Condition: m.Condition, OnsetMS: m.OnsetMS}
	bFrom, bTo := m.OnsetMS-ms(cfg.Baseline), m.OnsetMS
	rFrom, rTo := m.OnsetMS+ms(cfg.ResponseFrom), m.OnsetMS+ms(cfg.ResponseTo)
	lo := sort.Search(len(frames), func(i int) bool { return frames[i].media >= min(bFrom, rFrom) })
	var base, resp []float64
	for i := lo; i < len(frames) && frames[i].media < max(bTo, rTo); i++ {
		t := frames[i].media
		h, ok := frames[i].happy(ex)
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
