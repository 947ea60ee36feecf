package chart

import (
	"math"
	"reflect"
	"testing"
)

func TestSeriesBinsAndRuns(t *testing.T) {
	s := NewSeries(0, 1000, 5) // bins of 200 ms
	for _, p := range []struct {
		t    float64
		face bool
		h    float64
	}{
		{0, true, 0.2}, {100, true, 0.6}, // bin 0
		{250, false, 0},  // bin 1: no face breaks the line
		{450, true, 0.4}, // bin 2
		// bin 3 empty: does not break it
		{999, true, 0.8}, {1500, true, 1}, // bin 4 (the last time is clamped into it)
	} {
		s.Add(p.t, p.face, p.h)
	}
	b0 := s.Bins[0]
	if b0.N != 2 || b0.NF != 2 || math.Abs(b0.Mean()-0.4) > 1e-9 || b0.Min != 0.2 || b0.Max != 0.6 {
		t.Errorf("bin 0 %+v", b0)
	}
	if b1 := s.Bins[1]; b1.N != 1 || b1.NF != 0 || !math.IsNaN(b1.Mean()) {
		t.Errorf("bin 1 %+v: a frame without a face counts, with no happiness", b1)
	}
	if got, want := s.Runs(), [][]int{{0}, {2, 4}}; !reflect.DeepEqual(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	var m Bin
	m.Merge(&s.Bins[0])
	m.Merge(&s.Bins[4])
	if m.N != 4 || m.NF != 4 || m.Min != 0.2 || m.Max != 1 || math.Abs(m.Sum-2.6) > 1e-9 {
		t.Errorf("merged %+v", m)
	}
}

func TestAxisTicks(t *testing.T) {
	a := Axis{T0: 0, T1: 10000, Left: 10, Top: 5, W: 100, H: 50}
	if a.X(5000) != 60 || a.Y(1) != 5 || a.Y(0) != 55 {
		t.Errorf("mapping: x(5s)=%v y(1)=%v y(0)=%v", a.X(5000), a.Y(1), a.Y(0))
	}
	ticks, step := a.TimeTicks(5)
	if step != 2000 || len(ticks) != 6 || ticks[0] != 0 || ticks[5] != 10000 {
		t.Errorf("ticks %v step %v", ticks, step)
	}
}
