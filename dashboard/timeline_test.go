package dashboard

import (
	"encoding/json"
	"math"
	"testing"
)

func TestPyramidStaysBoundedAndExact(t *testing.T) {
	const maxBins = 64
	p := newPyramid(100, maxBins)
	var n, nf int
	var sum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	ver := uint64(1)
	// One hour at 30 frames/s; every 7th frame has no face.
	for i := range 108000 {
		tm := float64(i) * 1000 / 30
		face := i%7 != 0
		h := 0.5 + 0.5*math.Sin(float64(i)/300)
		ver++
		p.add(tm, face, h, ver)
		n++
		if face {
			nf++
			sum += h
			lo, hi = min(lo, h), max(hi, h)
		}
		if len(p.bins) > maxBins {
			t.Fatalf("frame %d: %d bins, bound %d", i, len(p.bins), maxBins)
		}
	}
	// 3,600,000 ms / 64 bins needs bins of 100*2^10 = 102,400 ms.
	if p.width != 102400 || p.merges != 10 {
		t.Errorf("width %v ms after %d merges, want 102400 after 10", p.width, p.merges)
	}
	if len(p.bins) < maxBins/2 {
		t.Errorf("%d bins, want at least %d after a merge", len(p.bins), maxBins/2)
	}
	var gn, gnf int
	var gsum float64
	glo, ghi := math.Inf(1), math.Inf(-1)
	for _, b := range p.bins {
		gn += int(b.N)
		gnf += int(b.NF)
		gsum += b.Sum
		if b.NF > 0 {
			glo, ghi = min(glo, float64(b.Min)), max(ghi, float64(b.Max))
		}
	}
	if gn != n || gnf != nf {
		t.Errorf("bins hold %d frames (%d with a face), want %d (%d)", gn, gnf, n, nf)
	}
	if math.Abs(gsum-sum) > 1e-6 || math.Abs(glo-lo) > 1e-6 || math.Abs(ghi-hi) > 1e-6 {
		t.Errorf("sum/min/max %v/%v/%v, want %v/%v/%v", gsum, glo, ghi, sum, lo, hi)
	}
}

func TestPyramidJSONDelta(t *testing.T) {
	p := newPyramid(100, 8)
	p.add(50, true, 0.25, 2)
	p.add(150, false, 0, 3)
	p.add(160, true, 0.75, 4)
	var full struct {
		W float64     `json:"w"`
		M int         `json:"m"`
		N int         `json:"n"`
		B [][]float64 `json:"b"`
	}
	if err := json.Unmarshal(p.appendJSON(nil, 0), &full); err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{0, 1, 1, 0.25, 0.25, 0.25}, {1, 2, 1, 0.75, 0.75, 0.75}}
	if full.W != 100 || full.N != 2 || full.M != 0 || !equal2(full.B, want) {
		t.Errorf("full = %+v, want w 100, n 2, bins %v", full, want)
	}
	// Since version 3 only bin 1 (changed at 4) is sent.
	var delta struct{ B [][]float64 }
	json.Unmarshal(p.appendJSON(nil, 3), &delta)
	if len(delta.B) != 1 || delta.B[0][0] != 1 {
		t.Errorf("delta since 3 = %v, want only bin 1", delta.B)
	}
	// A frame beyond the 8 bins merges pairs: every bin is re-sent.
	p.add(850, true, 1, 5)
	json.Unmarshal(p.appendJSON(nil, 4), &full)
	if full.W != 200 || full.M != 1 || full.N != 5 {
		t.Errorf("after merge w %v m %d n %d, want 200, 1, 5", full.W, full.M, full.N)
	}
	if want := [][]float64{{0, 3, 2, 0.5, 0.25, 0.75}, {4, 1, 1, 1, 1, 1}}; !equal2(full.B, want) {
		t.Errorf("after merge bins %v, want %v", full.B, want)
	}
}

func equal2(a, b [][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Abs(a[i][j]-b[i][j]) > 1e-4 {
				return false
			}
		}
	}
	return true
}

func TestRecentWindow(t *testing.T) {
	r := newRecent(100, 10) // one second
	for i := range 30 {
		r.add(float64(i)*50, true, 0.5, uint64(i+2)) // 1.5 s at 20 frames/s
	}
	if r.last != 14 || r.first() != 5 {
		t.Fatalf("last %d first %d, want 14 and 5", r.last, r.first())
	}
	var got struct {
		Len   int         `json:"len"`
		First int64       `json:"first"`
		B     [][]float64 `json:"b"`
	}
	if err := json.Unmarshal(r.appendJSON(nil, 0), &got); err != nil {
		t.Fatal(err)
	}
	if got.Len != 10 || got.First != 5 || len(got.B) != 10 || got.B[0][0] != 5 || got.B[9][0] != 14 {
		t.Errorf("window = %+v, want bins 5..14", got)
	}
	for _, b := range got.B {
		if b[1] != 2 {
			t.Errorf("bin %v holds %v frames, want 2", b[0], b[1])
		}
	}
	// A frame older than the window is ignored by the ring.
	r.add(100, true, 1, 99)
	json.Unmarshal(r.appendJSON(nil, 98), &got)
	if len(got.B) != 0 {
		t.Errorf("old frame changed the window: %v", got.B)
	}
}

func TestSeenFrames(t *testing.T) {
	s := newSeenFrames()
	for _, c := range []struct {
		frame       int64
		dup, tooOld bool
	}{
		{0, false, false},
		{1, false, false},
		{1, true, false},
		{5, false, false},
		{3, false, false}, // late but new
		{3, true, false},
		{5, true, false},
		{seenWindow + 10, false, false},
		{9, false, true}, // fell out of the window
		{seenWindow + 9, false, false},
		{seenWindow + 10, true, false},
		{-1, false, true},
		{10 * seenWindow, false, false}, // a jump clears everything
		{10*seenWindow - 1, false, false},
	} {
		dup, old := s.check(c.frame)
		if dup != c.dup || old != c.tooOld {
			t.Errorf("check(%d) = dup %v old %v, want %v %v", c.frame, dup, old, c.dup, c.tooOld)
		}
	}
}
