// Package smooth filters a per-frame happiness series over time.
//
// Two filters are offered:
//
//   - Centered, a zero-phase (centred) moving average for offline runs: it
//     looks HalfWidth frames ahead as well as back, so a step in the score is
//     not shifted in time (onset lag 0; the step is spread over the window).
//   - EMA, a causal exponential filter for live runs: it only looks back and
//     delays an onset: the output of a unit step crosses 0.5 after Tau·ln 2.
//
// Frames without a face have no score: they are skipped (the filters use the
// frames with a score only) and stay without a score.
package smooth

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/affectlab/affect/record"
)

// DefaultWindowMS is the default width of the centred window of Frames:
// 300 ms, about a third of the rise time of a spontaneous smile, so that
// frame-to-frame jitter is averaged out while onsets stay in place.
const DefaultWindowMS = 300

// Frames sets Primary.Smoothed on every frame with a face to the centred
// moving average of the participant's happiness over windowMS (frames are
// in order; the window in frames comes from the median frame interval).
// windowMS 0 leaves frames alone. Each Primary is replaced by a copy, so
// faces shared with other holders are not changed.
func Frames(frames []record.FrameScore, windowMS float64) error {
	if windowMS < 0 || math.IsNaN(windowMS) {
		return fmt.Errorf("%w: window %v ms must be ≥ 0", ErrBadParam, windowMS)
	}
	if windowMS == 0 || len(frames) == 0 {
		return nil
	}
	var steps []float64
	for i := 1; i < len(frames); i++ {
		if d := frames[i].MediaMS - frames[i-1].MediaMS; d > 0 {
			steps = append(steps, d)
		}
	}
	interval := 1000.0 / 30
	if len(steps) > 0 {
		slices.Sort(steps)
		interval = steps[len(steps)/2]
	}
	half := int(math.Round(windowMS / 2 / interval))
	x := make([]float64, len(frames))
	ok := make([]bool, len(frames))
	for i := range frames {
		x[i], ok[i] = frames[i].Happiness()
	}
	y, err := Centered(x, ok, half)
	if err != nil {
		return err
	}
	for i := range frames {
		if ok[i] {
			p := *frames[i].Primary
			v := y[i]
			p.Smoothed = &v
			frames[i].Primary = &p
		}
	}
	return nil
}

// ErrBadParam is returned for a filter parameter out of range.
var ErrBadParam = errors.New("smooth: bad parameter")

// Centered returns the zero-phase moving average of x over the frames
// i-halfWidth..i+halfWidth that have a score (ok[i]); frames without a score
// get NaN. halfWidth 0 returns x unchanged.
func Centered(x []float64, ok []bool, halfWidth int) ([]float64, error) {
	if halfWidth < 0 {
		return nil, errors.Join(ErrBadParam, errors.New("halfWidth must be ≥ 0"))
	}
	if len(ok) != len(x) {
		return nil, errors.Join(ErrBadParam, errors.New("x and ok differ in length"))
	}
	// Prefix sums over frames with a score.
	sum := make([]float64, len(x)+1)
	cnt := make([]int, len(x)+1)
	for i, v := range x {
		sum[i+1], cnt[i+1] = sum[i], cnt[i]
		if ok[i] {
			sum[i+1] += v
			cnt[i+1]++
		}
	}
	out := make([]float64, len(x))
	for i := range x {
		if !ok[i] {
			out[i] = math.NaN()
			continue
		}
		lo, hi := max(i-halfWidth, 0), min(i+halfWidth+1, len(x))
		out[i] = (sum[hi] - sum[lo]) / float64(cnt[hi]-cnt[lo])
	}
	return out, nil
}

// EMA is a causal exponential moving average with time constant Tau in
// milliseconds: y += (1 - exp(-dt/Tau)) * (x - y), dt being the media time
// since the last frame with a score. Gaps longer than ResetAfterMS restart it.
// The zero value is not usable: make one with NewEMA.
type EMA struct {
	tau, reset float64
	y, lastMS  float64
	has        bool
}

// NewEMA returns an EMA with time constant tauMS (> 0) that restarts after a
// gap of resetAfterMS without a score (0: never).
func NewEMA(tauMS, resetAfterMS float64) (*EMA, error) {
	if !(tauMS > 0) || resetAfterMS < 0 {
		return nil, errors.Join(ErrBadParam, errors.New("tau must be > 0 and reset ≥ 0"))
	}
	return &EMA{tau: tauMS, reset: resetAfterMS}, nil
}

// Update feeds the score x at media time tMS and returns the smoothed score.
func (e *EMA) Update(tMS, x float64) float64 {
	if !e.has || (e.reset > 0 && tMS-e.lastMS > e.reset) || tMS < e.lastMS {
		e.y, e.lastMS, e.has = x, tMS, true
		return x
	}
	a := 1 - math.Exp(-(tMS-e.lastMS)/e.tau)
	e.y += a * (x - e.y)
	e.lastMS = tMS
	return e.y
}

// OnsetLag returns how many frames after the step at index step the series y
// first reaches level (e.g. 0.5 for a 0→1 step); negative means before the
// step, and NaN that it never does.
func OnsetLag(y []float64, step int, level float64) float64 {
	for i, v := range y {
		if v >= level {
			return float64(i - step)
		}
	}
	return math.NaN()
}
