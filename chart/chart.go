// Package chart is affect's one model of the happiness-over-time chart: it
// bins frames by media time (count, face count, sum, min and max of the
// happiness of face frames per bin) and lays out the axes (value and time
// ticks, pixel mapping). export draws it as PNG, report as SVG and the
// dashboard sends the same bins to its pages, so the three pictures of a
// session agree.
//
// A frame with no face enters a bin's count but no happiness value: it is a
// gap in the line, never happiness 0.
package chart

import "math"

// Bin accumulates the frames whose media time falls in one time bin.
type Bin struct {
	N, NF    int32   // frames, frames with a face
	Sum      float64 // sum of face frames' happiness
	Min, Max float32 // of face frames' happiness
}

// Add adds one frame: face says whether it has a face, h is its happiness.
func (b *Bin) Add(face bool, h float64) {
	b.N++
	if !face {
		return
	}
	f := float32(h)
	if b.NF == 0 || f < b.Min {
		b.Min = f
	}
	if b.NF == 0 || f > b.Max {
		b.Max = f
	}
	b.NF++
	b.Sum += h
}

// Merge adds the frames of o (exact for every value shown).
func (b *Bin) Merge(o *Bin) {
	if o.NF > 0 {
		if b.NF == 0 || o.Min < b.Min {
			b.Min = o.Min
		}
		if b.NF == 0 || o.Max > b.Max {
			b.Max = o.Max
		}
	}
	b.N += o.N
	b.NF += o.NF
	b.Sum += o.Sum
}

// Mean is the mean happiness of the bin's face frames (NaN without one).
func (b *Bin) Mean() float64 {
	if b.NF == 0 {
		return math.NaN()
	}
	return b.Sum / float64(b.NF)
}

// Series is a chart's data: len(Bins) equal bins over media time [T0, T1].
type Series struct {
	T0, T1 float64
	Bins   []Bin
}

// NewSeries returns n (≥ 1) empty bins over [t0, t1] (t1 > t0, else t0+1000).
func NewSeries(t0, t1 float64, n int) *Series {
	if !(t1 > t0) {
		t1 = t0 + 1000
	}
	return &Series{T0: t0, T1: t1, Bins: make([]Bin, max(n, 1))}
}

// Index is the bin of media time t, clamped to the series.
func (s *Series) Index(t float64) int {
	n := len(s.Bins)
	i := int((t - s.T0) / (s.T1 - s.T0) * float64(n))
	return min(max(i, 0), n-1)
}

// Add adds a frame at media time t.
func (s *Series) Add(t float64, face bool, h float64) { s.Bins[s.Index(t)].Add(face, h) }

// Range returns the smallest and largest media time of n points given by at.
func Range(n int, at func(i int) float64) (t0, t1 float64) {
	if n == 0 {
		return 0, 1000
	}
	t0, t1 = math.Inf(1), math.Inf(-1)
	for i := range n {
		t := at(i)
		t0, t1 = math.Min(t0, t), math.Max(t1, t)
	}
	return t0, t1
}

// Axis maps media time [T0, T1] and happiness [0, 1] onto a plot area of
// W x H pixels whose top-left corner is (Left, Top).
type Axis struct {
	T0, T1          float64
	Left, Top, W, H float64
}

// X is the pixel column of media time t.
func (a Axis) X(t float64) float64 { return a.Left + (t-a.T0)/(a.T1-a.T0)*a.W }

// Y is the pixel row of happiness v.
func (a Axis) Y(v float64) float64 { return a.Top + (1-v)*a.H }

// ValueTicks are the happiness grid lines.
var ValueTicks = []float64{0, 0.25, 0.5, 0.75, 1}

// TimeStep returns a clock-friendly tick step in ms of at least raw ms.
func TimeStep(raw float64) float64 {
	for _, s := range []float64{100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5} {
		if s >= raw {
			return s
		}
	}
	return math.Ceil(raw/216e5) * 216e5
}

// TimeTicks are the media times (ms) of the time axis' ticks, a step of
// TimeStep(span/maxTicks) apart.
func (a Axis) TimeTicks(maxTicks int) (ticks []float64, step float64) {
	step = TimeStep((a.T1 - a.T0) / math.Max(2, float64(maxTicks)))
	for t := math.Ceil(a.T0/step) * step; t <= a.T1+1e-9; t += step {
		ticks = append(ticks, t)
	}
	return ticks, step
}

// Runs returns the runs of bins that the mean line joins: consecutive bins
// with a face frame, where a bin whose frames all lack a face breaks a run
// and an empty bin (no frame there) does not. Each run lists bin indices.
func (s *Series) Runs() [][]int {
	var runs [][]int
	var run []int
	for i := range s.Bins {
		b := &s.Bins[i]
		switch {
		case b.NF > 0:
			run = append(run, i)
		case b.N > 0:
			if len(run) > 0 {
				runs = append(runs, run)
			}
			run = nil
		}
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	return runs
}
