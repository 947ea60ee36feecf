package aggregate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/record"
)

// nf marks a frame without a face in a happiness sequence.
const nf = -1.0

// seq builds frames at 100 ms intervals from happiness values (nf = no face).
func seq(hs ...float64) []record.FrameScore {
	out := make([]record.FrameScore, len(hs))
	for i, h := range hs {
		f := record.FrameScore{
			Schema: record.SchemaVersion, Session: "s1", Participant: "p1", Source: "cam0",
			Frame: int64(i), MediaMS: float64(i) * 100,
		}
		if h != nf {
			f.FaceFound, f.NFaces = true, 1
			f.Primary = &record.Face{Happiness: h}
			f.Primary.Probs[record.HappyIndex] = h
		}
		out[i] = f
	}
	return out
}

// handSeq is the known sequence the expectations below were worked out on by hand:
//
//	t(ms)  0   100 200 300 400 500 600 700 800 900 1000 1100
//	h      .1  .2  .3  --  .4  .6  .8  --  .9  .7  .5   .2     (-- = no face)
var handSeq = []float64{.1, .2, .3, nf, .4, .6, .8, nf, .9, .7, .5, .2}

func handConfig() Config {
	c := DefaultConfig()
	c.Threshold = 0.5
	c.Window = 400 * time.Millisecond
	c.Baseline = 300 * time.Millisecond
	c.ResponseFrom, c.ResponseTo = 0, 500*time.Millisecond
	return c
}

func p(x float64) *float64 { return &x }

const eps = 1e-9

func eqp(t *testing.T, what string, got, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, fmt.Sprint(deref(got)), fmt.Sprint(deref(want)))
	case math.Abs(*got-*want) > eps:
		t.Errorf("%s = %v, want %v", what, *got, *want)
	}
}

func deref(x *float64) any {
	if x == nil {
		return "nil"
	}
	return *x
}

func eqStats(t *testing.T, what string, got, want Stats) {
	t.Helper()
	if got.Frames != want.Frames || got.FaceFrames != want.FaceFrames {
		t.Errorf("%s frames/face frames = %d/%d, want %d/%d", what, got.Frames, got.FaceFrames, want.Frames, want.FaceFrames)
	}
	eqp(t, what+".FaceShare", got.FaceShare, want.FaceShare)
	eqp(t, what+".Mean", got.Mean, want.Mean)
	eqp(t, what+".Median", got.Median, want.Median)
	eqp(t, what+".Peak", got.Peak, want.Peak)
	eqp(t, what+".AboveShare", got.AboveShare, want.AboveShare)
	eqp(t, what+".FromMS", got.FromMS, want.FromMS)
	eqp(t, what+".ToMS", got.ToMS, want.ToMS)
	if math.Abs(got.LongestRunMS-want.LongestRunMS) > eps {
		t.Errorf("%s.LongestRunMS = %v, want %v", what, got.LongestRunMS, want.LongestRunMS)
	}
}

func eqEpoch(t *testing.T, got, want Epoch) {
	t.Helper()
	w := fmt.Sprintf("epoch %s@%v", want.Label, want.OnsetMS)
	if got.Label != want.Label || got.Condition != want.Condition || got.OnsetMS != want.OnsetMS {
		t.Errorf("%s: got label/condition/onset %q/%q/%v", w, got.Label, got.Condition, got.OnsetMS)
	}
	if got.BaselineFrames != want.BaselineFrames || got.ResponseFrames != want.ResponseFrames || got.ResponseNoFace != want.ResponseNoFace {
		t.Errorf("%s: baseline/response/no-face frames = %d/%d/%d, want %d/%d/%d", w,
			got.BaselineFrames, got.ResponseFrames, got.ResponseNoFace, want.BaselineFrames, want.ResponseFrames, want.ResponseNoFace)
	}
	eqp(t, w+".BaselineMean", got.BaselineMean, want.BaselineMean)
	eqp(t, w+".ResponseMean", got.ResponseMean, want.ResponseMean)
	eqp(t, w+".Corrected", got.Corrected, want.Corrected)
	eqp(t, w+".Peak", got.Peak, want.Peak)
	eqp(t, w+".LatencyMS", got.LatencyMS, want.LatencyMS)
	eqp(t, w+".Calibrated", got.Calibrated, want.Calibrated)
}

// TestHandWorkedSequence checks every statistic against values computed by
// hand on handSeq (the arithmetic is in the comments).
func TestHandWorkedSequence(t *testing.T) {
	markers := []Marker{
		{OnsetMS: 1000, Label: "b", Condition: "neutral"},
		{OnsetMS: 400, Label: "a", Condition: "funny"},
		{OnsetMS: 200, Label: "c", Condition: "funny"},
		{OnsetMS: 5000, Label: "late"},
	}
	cfg := handConfig()
	cfg.CalibrationMS = 250
	s, err := Compute(cfg, seq(handSeq...), markers)
	if err != nil {
		t.Fatal(err)
	}
	if s.Session != "s1" || s.Participant != "p1" || s.Schema != SummarySchemaVersion {
		t.Errorf("session/participant/schema = %q/%q/%d", s.Session, s.Participant, s.Schema)
	}
	if s.FrameIntervalMS != 100 {
		t.Errorf("FrameIntervalMS = %v, want 100", s.FrameIntervalMS)
	}
	// Face values .1 .2 .3 .4 .6 .8 .9 .7 .5 .2: sum 4.7 over 10 -> mean .47;
	// sorted .1 .2 .2 .3 .4 | .5 .6 .7 .8 .9 -> median .45; >= .5: 5 of 10.
	// Runs: 500-600 (ended by the no-face frame at 700) = 100+100 = 200 ms;
	// 800-1000 (ended by .2) = 200+100 = 300 ms.
	eqStats(t, "Overall", s.Overall, Stats{
		Frames: 12, FaceFrames: 10, FaceShare: p(10.0 / 12), Mean: p(.47), Median: p(.45), Peak: p(.9),
		AboveShare: p(.5), LongestRunMS: 300, FromMS: p(0), ToMS: p(1100),
	})
	// Window 400 ms ending at 1100: (700,1100] = .9 .7 .5 .2.
	eqStats(t, "Rolling", s.Rolling, Stats{
		Frames: 4, FaceFrames: 4, FaceShare: p(1), Mean: p(2.3 / 4), Median: p(.6), Peak: p(.9),
		AboveShare: p(.75), LongestRunMS: 300, FromMS: p(800), ToMS: p(1100),
	})
	if len(s.Epochs) != 4 {
		t.Fatalf("got %d epochs, want 4", len(s.Epochs))
	}
	// Neutral segment t < 250: .1 .2 .3 -> .2.
	// c@200: baseline [-100,200) .1 .2 -> .15; response [200,700) .3 -- .4 .6 .8 -> 2.1/4 = .525;
	//        corrected .375; peak .8; first >= .5 at 500 -> latency 300; calibrated .325.
	eqEpoch(t, s.Epochs[0], Epoch{Label: "c", Condition: "funny", OnsetMS: 200, BaselineFrames: 2, ResponseFrames: 4, ResponseNoFace: 1,
		BaselineMean: p(.15), ResponseMean: p(.525), Corrected: p(.375), Peak: p(.8), LatencyMS: p(300), Calibrated: p(.325)})
	// a@400: baseline [100,400) .2 .3 (-- excluded) -> .25; response [400,900) .4 .6 .8 -- .9 -> 2.7/4 = .675;
	//        corrected .425; peak .9; latency 100; calibrated .475.
	eqEpoch(t, s.Epochs[1], Epoch{Label: "a", Condition: "funny", OnsetMS: 400, BaselineFrames: 2, ResponseFrames: 4, ResponseNoFace: 1,
		BaselineMean: p(.25), ResponseMean: p(.675), Corrected: p(.425), Peak: p(.9), LatencyMS: p(100), Calibrated: p(.475)})
	// b@1000: baseline [700,1000) -- .9 .7 -> .8; response [1000,1500) .5 .2 -> .35; corrected -.45;
	//         peak .5; .5 >= threshold at 1000 -> latency 0; calibrated .15.
	eqEpoch(t, s.Epochs[2], Epoch{Label: "b", Condition: "neutral", OnsetMS: 1000, BaselineFrames: 2, ResponseFrames: 2,
		BaselineMean: p(.8), ResponseMean: p(.35), Corrected: p(-.45), Peak: p(.5), LatencyMS: p(0), Calibrated: p(.15)})
	// late@5000: no frames at all.
	eqEpoch(t, s.Epochs[3], Epoch{Label: "late", OnsetMS: 5000})

	// funny = mean of c and a: baseline .2, response .6, corrected .4, peak .85, latency 200, calibrated .4.
	want := []ConditionStats{
		{Condition: "funny", Epochs: 2, BaselineMean: p(.2), ResponseMean: p(.6), Corrected: p(.4), Peak: p(.85), LatencyMS: p(200), EpochsWithLatency: 2, Calibrated: p(.4)},
		{Condition: "neutral", Epochs: 1, BaselineMean: p(.8), ResponseMean: p(.35), Corrected: p(-.45), Peak: p(.5), LatencyMS: p(0), EpochsWithLatency: 1, Calibrated: p(.15)},
	}
	if len(s.Conditions) != len(want) {
		t.Fatalf("got %d conditions, want %d", len(s.Conditions), len(want))
	}
	for i, w := range want {
		g := s.Conditions[i]
		if g.Condition != w.Condition || g.Epochs != w.Epochs || g.EpochsWithLatency != w.EpochsWithLatency {
			t.Errorf("condition %d = %q epochs %d with latency %d, want %q %d %d", i, g.Condition, g.Epochs, g.EpochsWithLatency, w.Condition, w.Epochs, w.EpochsWithLatency)
		}
		eqp(t, w.Condition+".BaselineMean", g.BaselineMean, w.BaselineMean)
		eqp(t, w.Condition+".ResponseMean", g.ResponseMean, w.ResponseMean)
		eqp(t, w.Condition+".Corrected", g.Corrected, w.Corrected)
		eqp(t, w.Condition+".Peak", g.Peak, w.Peak)
		eqp(t, w.Condition+".LatencyMS", g.LatencyMS, w.LatencyMS)
		eqp(t, w.Condition+".Calibrated", g.Calibrated, w.Calibrated)
	}

	// Calibration: after 250 ms the face values are .4 .6 .8 .9 .7 .5 .2 (7, sum 4.1);
	// sorted .2 .4 .5 .6 .7 .8 .9 -> median .6; peak .9; minus neutral .2.
	c := s.Calibration
	if c == nil {
		t.Fatal("no calibration")
	}
	if c.UntilMS != 250 || c.NeutralFrames != 3 || c.FaceFrames != 7 {
		t.Errorf("calibration until/neutral/face = %v/%d/%d, want 250/3/7", c.UntilMS, c.NeutralFrames, c.FaceFrames)
	}
	eqp(t, "Neutral", c.Neutral, p(.2))
	eqp(t, "RawMean", c.RawMean, p(4.1/7))
	eqp(t, "RawMedian", c.RawMedian, p(.6))
	eqp(t, "RawPeak", c.RawPeak, p(.9))
	eqp(t, "CorrectedMean", c.CorrectedMean, p(4.1/7-.2))
	eqp(t, "CorrectedMedian", c.CorrectedMedian, p(.4))
	eqp(t, "CorrectedPeak", c.CorrectedPeak, p(.7))
}

// TestRunsAndEdgeCases covers the run definition and empty/degenerate inputs.
func TestRunsAndEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		hs      []float64
		wantRun float64
		mean    *float64
		above   *float64
		face    int
	}{
		{"single frame above lasts one interval", []float64{.2, .6, .2}, 100, p(1.0 / 3), p(1.0 / 3), 3},
		{"no-face frame breaks a run", []float64{.6, nf, .6}, 100, p(.6), p(1), 2},
		{"below-threshold frame breaks a run", []float64{.6, .2, .6, .6}, 200, p(.5), p(.75), 4},
		{"threshold itself counts as above", []float64{.5, .5, .5}, 300, p(.5), p(1), 3},
		{"all below", []float64{.1, .2, .49}, 0, p(.79 / 3), p(0), 3},
		{"no face at all: no happiness statistics, not zero", []float64{nf, nf}, 0, nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Compute(handConfig(), seq(tc.hs...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Overall.LongestRunMS != tc.wantRun {
				t.Errorf("LongestRunMS = %v, want %v", s.Overall.LongestRunMS, tc.wantRun)
			}
			if s.Overall.FaceFrames != tc.face {
				t.Errorf("FaceFrames = %d, want %d", s.Overall.FaceFrames, tc.face)
			}
			eqp(t, "Mean", s.Overall.Mean, tc.mean)
			eqp(t, "AboveShare", s.Overall.AboveShare, tc.above)
			if tc.face == 0 && (s.Overall.Median != nil || s.Overall.Peak != nil) {
				t.Error("median/peak set without face frames")
			}
		})
	}

	t.Run("empty summary is valid JSON with nulls", func(t *testing.T) {
		a, err := New(DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(a.Summary())
		if err != nil {
			t.Fatalf("marshal empty summary: %v", err)
		}
		if !strings.Contains(string(b), `"mean":null`) || !strings.Contains(string(b), `"epochs":[]`) {
			t.Errorf("empty summary JSON: %s", b)
		}
	})
	t.Run("uneven sampling uses the median interval", func(t *testing.T) {
		fs := seq(.6, .6, .6, .6)
		fs[3].MediaMS = 1000 // intervals 100,100,800 -> median 100; run 0..1000 = 1100
		s, _ := Compute(handConfig(), fs, nil)
		if s.FrameIntervalMS != 100 || s.Overall.LongestRunMS != 1100 {
			t.Errorf("interval %v run %v, want 100 and 1100", s.FrameIntervalMS, s.Overall.LongestRunMS)
		}
	})
	t.Run("error frames are counted and have no face", func(t *testing.T) {
		fs := seq(.6, nf)
		fs[1].Error = "classify: boom"
		s, _ := Compute(handConfig(), fs, nil)
		if s.ErrorFrames != 1 || s.Overall.FaceFrames != 1 || s.Overall.Frames != 2 {
			t.Errorf("error/face/frames = %d/%d/%d", s.ErrorFrames, s.Overall.FaceFrames, s.Overall.Frames)
		}
	})
}

// TestOrderAndDuplicates: any order of the same frames and markers gives the
// identical Summary; repeats are ignored and counted.
func TestOrderAndDuplicates(t *testing.T) {
	frames := seq(handSeq...)
	markers := []Marker{{OnsetMS: 400, Label: "a", Condition: "x"}, {OnsetMS: 200, Label: "c", Condition: "y"}, {OnsetMS: 400, Label: "a2", Condition: "x"}}
	cfg := handConfig()
	cfg.CalibrationMS = 300
	ref, err := Compute(cfg, frames, markers)
	if err != nil {
		t.Fatal(err)
	}
	refJSON, _ := json.Marshal(ref)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		a, _ := New(cfg)
		fs := append([]record.FrameScore(nil), frames...)
		r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		ms := append([]Marker(nil), markers...)
		r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		for _, m := range ms {
			a.AddMarker(m)
		}
		for _, f := range fs {
			a.Add(f)
		}
		s := a.Summary()
		if !reflect.DeepEqual(s, ref) {
			got, _ := json.Marshal(s)
			t.Fatalf("order %d gives a different summary:\n got %s\nwant %s", i, got, refJSON)
		}
	}
	a, _ := New(cfg)
	for _, f := range frames {
		a.Add(f)
		a.Add(f)
	}
	a.Add(frames[3])
	for _, m := range markers {
		a.AddMarker(m)
		a.AddMarker(m)
	}
	s := a.Summary()
	if s.DuplicateFrames != len(frames)+1 || s.DuplicateMarkers != len(markers) {
		t.Errorf("duplicates frames/markers = %d/%d, want %d/%d", s.DuplicateFrames, s.DuplicateMarkers, len(frames)+1, len(markers))
	}
	s.DuplicateFrames, s.DuplicateMarkers = 0, 0
	if !reflect.DeepEqual(s, ref) {
		t.Error("duplicates changed the statistics")
	}
	if got := a.Frames(); len(got) != len(frames) || got[0].Frame != 0 || got[len(got)-1].Frame != int64(len(frames)-1) {
		t.Errorf("Frames() returned %d frames out of order", len(got))
	}
}

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config { c := DefaultConfig(); f(&c); return c }
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default", DefaultConfig(), ""},
		{"threshold above 1", mod(func(c *Config) { c.Threshold = 1.5 }), "threshold"},
		{"threshold NaN", mod(func(c *Config) { c.Threshold = math.NaN() }), "threshold"},
		{"zero window", mod(func(c *Config) { c.Window = 0 }), "rolling window"},
		{"zero baseline", mod(func(c *Config) { c.Baseline = 0 }), "baseline"},
		{"negative response start", mod(func(c *Config) { c.ResponseFrom = -time.Second }), "response start"},
		{"empty response", mod(func(c *Config) { c.ResponseTo = c.ResponseFrom }), "response end"},
		{"negative calibration", mod(func(c *Config) { c.CalibrationMS = -1 }), "calibration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(DefaultConfig(), WithSession("a.b", "")); !errors.Is(err, pipeline.ErrBadSession) {
		t.Errorf("WithSession(a.b) err = %v, want ErrBadSession", err)
	}
}

func TestReadMarkersCSV(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Marker
		errLine  string
	}{
		{"full", "onset_ms,label,condition\n1000,joke,funny\n2500.5,news,neutral\n",
			[]Marker{{OnsetMS: 1000, Label: "joke", Condition: "funny"}, {OnsetMS: 2500.5, Label: "news", Condition: "neutral"}}, ""},
		{"no condition column, reordered, BOM, blank line", "\ufeffLabel,Onset_ms\nA,10\n\nB,20\n",
			[]Marker{{OnsetMS: 10, Label: "A"}, {OnsetMS: 20, Label: "B"}}, ""},
		{"empty", "", nil, "empty"},
		{"bad header", "time,label\n1,a\n", nil, "line 1"},
		{"bad number", "onset_ms,label\n1,a\nabc,b\n", nil, "line 3: onset_ms \"abc\""},
		{"empty label", "onset_ms,label\n1,\n", nil, "line 2: marker label is empty"},
		{"quote error", "onset_ms,label\n1,\"a\n", nil, "line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadMarkersCSV(strings.NewReader(tc.in))
			if tc.errLine != "" {
				if !errors.Is(err, ErrMarkersCSV) || !strings.Contains(err.Error(), tc.errLine) {
					t.Fatalf("err = %v, want ErrMarkersCSV containing %q", err, tc.errLine)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestExcludeLowQuality works by hand on a short sequence in which two faces
// fail the quality rule (marked *):
//
//	t(ms)  0   100  200  300  400  500
//	h      .2  .9*  .8   .7   .1*  .6
//
// Kept: all face frames: mean (.2+.9+.8+.7+.1+.6)/6 = 3.3/6 = .55, longest
// run ≥ .5 = 100..300 + .6 alone → 100,200,300 = 300 ms.
// Excluded: .2 .8 .7 .6 over 4 face frames of 6: mean 2.3/4 = .575, peak .8,
// above share 3/4; the low frame at 100 ms is not a face frame, so the run
// is 200..300 = 200 ms (and 500 alone = 100 ms).
func TestExcludeLowQuality(t *testing.T) {
	frames := seq(.2, .9, .8, .7, .1, .6)
	for _, i := range []int{1, 4} {
		frames[i].Primary.Quality = &record.Quality{FaceFrac: 0.05, Low: true}
	}
	for _, tc := range []struct {
		exclude bool
		want    Stats
	}{
		{false, Stats{Frames: 6, FaceFrames: 6, FaceShare: p(1), Mean: p(.55), Median: p(.65), Peak: p(.9), AboveShare: p(4.0 / 6), LongestRunMS: 300, FromMS: p(0), ToMS: p(500)}},
		{true, Stats{Frames: 6, FaceFrames: 4, FaceShare: p(4.0 / 6), Mean: p(.575), Median: p(.65), Peak: p(.8), AboveShare: p(.75), LongestRunMS: 200, FromMS: p(0), ToMS: p(500)}},
	} {
		cfg := DefaultConfig()
		cfg.ExcludeLowQuality = tc.exclude
		s, err := Compute(cfg, frames, nil)
		if err != nil {
			t.Fatal(err)
		}
		eqStats(t, fmt.Sprintf("exclude=%v overall", tc.exclude), s.Overall, tc.want)
		if s.LowQualityFrames != 2 || s.ExcludeLowQuality != tc.exclude {
			t.Errorf("exclude=%v: low_quality_frames %d, exclude_low_quality %v; want 2, %v", tc.exclude, s.LowQualityFrames, s.ExcludeLowQuality, tc.exclude)
		}
	}
	// The input frames are not changed.
	if frames[1].Primary == nil || !frames[1].FaceFound {
		t.Error("Compute changed its input frames")
	}
}
