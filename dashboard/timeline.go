package dashboard

import (
	"github.com/affectlab/affect/chart"
	"math"
	"strconv"
)

// bin is a chart bin (count, face count, sum, min and max of the face
// frames' happiness: chart.Bin, the same binning export and report draw)
// stamped with the session version of its last change.
type bin struct {
	chart.Bin
	ver uint64 // session version of the last change
}

func (b *bin) add(face bool, h float64) { b.Add(face, h) }

func (b *bin) merge(o *bin) { b.Merge(&o.Bin) }

// appendJSON appends [index,n,nf] or [index,n,nf,mean,min,max].
func (b *bin) appendJSON(dst []byte, index int64) []byte {
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, index, 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(b.N), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(b.NF), 10)
	if b.NF > 0 {
		for _, v := range []float64{b.Sum / float64(b.NF), float64(b.Min), float64(b.Max)} {
			dst = append(dst, ',')
			dst = appendFloat4(dst, v)
		}
	}
	return append(dst, ']')
}

// appendFloat4 appends v with at most 4 decimals, without trailing zeros.
func appendFloat4(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, math.Round(v*1e4)/1e4, 'f', -1, 64)
}

// pyramid is the whole-session timeline: at most maxBins bins of equal width
// starting at media time 0. When a frame falls beyond the last bin, pairs of
// bins are merged and the width doubles (as often as needed), so the memory
// and the points sent to a page stay bounded however long the session: after
// a merge between maxBins/2 and maxBins bins cover the session. Each bin keeps
// count, face count, sum, min and max, so merging is exact for every value
// shown (mean, min, max, share of frames with a face).
type pyramid struct {
	width   float64 // ms
	bins    []bin
	maxBins int
	merges  int
}

func newPyramid(baseWidthMS float64, maxBins int) *pyramid {
	return &pyramid{width: baseWidthMS, maxBins: maxBins, bins: make([]bin, 0, maxBins)}
}

// add adds a frame at media time t (ms, >= 0) and stamps its bin with ver.
func (p *pyramid) add(t float64, face bool, h float64, ver uint64) {
	i := int(t / p.width)
	for i >= p.maxBins {
		p.merge(ver)
		i = int(t / p.width)
	}
	if i >= len(p.bins) {
		p.bins = p.bins[:i+1] // new bins are zero: capacity is maxBins and merge zeroes the tail
	}
	p.bins[i].add(face, h)
	p.bins[i].ver = ver
}

// merge halves the number of bins, doubling their width; every bin is
// stamped with ver so that a page receives the new layout.
func (p *pyramid) merge(ver uint64) {
	n := (len(p.bins) + 1) / 2
	for j := range n {
		b := p.bins[2*j]
		if 2*j+1 < len(p.bins) {
			b.merge(&p.bins[2*j+1])
		}
		b.ver = ver
		p.bins[j] = b
	}
	clear(p.bins[n:cap(p.bins)])
	p.bins = p.bins[:n]
	p.width *= 2
	p.merges++
}

// appendJSON appends {"w":width,"m":merges,"n":bins,"b":[changed bins]}:
// the non-empty bins changed after version since. A page that sees "m"
// change drops its bins first (a merge re-sends every non-empty bin).
func (p *pyramid) appendJSON(dst []byte, since uint64) []byte {
	dst = append(dst, `{"w":`...)
	dst = appendFloat4(dst, p.width)
	dst = append(dst, `,"m":`...)
	dst = strconv.AppendInt(dst, int64(p.merges), 10)
	dst = append(dst, `,"n":`...)
	dst = strconv.AppendInt(dst, int64(len(p.bins)), 10)
	dst = append(dst, `,"b":[`...)
	first := true
	for i := range p.bins {
		b := &p.bins[i]
		if b.N == 0 || b.ver <= since {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = b.appendJSON(dst, int64(i))
	}
	return append(dst, "]}"...)
}

// recent is the latest part of the session at fixed resolution: a ring of
// slots bins of width ms covering (last-slots*width, last]. Bin k covers
// media times [k*width, (k+1)*width).
type recent struct {
	width float64
	ring  []bin
	keys  []int64 // absolute bin index held by each slot
	last  int64   // highest bin index seen; -1 before any frame
}

func newRecent(widthMS float64, slots int) *recent {
	r := &recent{width: widthMS, ring: make([]bin, slots), keys: make([]int64, slots), last: -1}
	for i := range r.keys {
		r.keys[i] = -1
	}
	return r
}

// first is the oldest bin index in the window.
func (r *recent) first() int64 { return r.last - int64(len(r.ring)) + 1 }

func (r *recent) add(t float64, face bool, h float64, ver uint64) {
	k := int64(t / r.width)
	if k < r.first() {
		return // older than the window: only the pyramid keeps it
	}
	r.last = max(r.last, k)
	s := int(k % int64(len(r.ring)))
	if r.keys[s] != k {
		r.ring[s] = bin{}
		r.keys[s] = k
	}
	r.ring[s].add(face, h)
	r.ring[s].ver = ver
}

// appendJSON appends {"w":width,"len":slots,"first":k0,"b":[changed bins in the window]}.
func (r *recent) appendJSON(dst []byte, since uint64) []byte {
	dst = append(dst, `{"w":`...)
	dst = appendFloat4(dst, r.width)
	dst = append(dst, `,"len":`...)
	dst = strconv.AppendInt(dst, int64(len(r.ring)), 10)
	dst = append(dst, `,"first":`...)
	dst = strconv.AppendInt(dst, max(0, r.first()), 10)
	dst = append(dst, `,"b":[`...)
	first := true
	for k := max(0, r.first()); k <= r.last; k++ {
		s := int(k % int64(len(r.ring)))
		b := &r.ring[s]
		if r.keys[s] != k || b.N == 0 || b.ver <= since {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = b.appendJSON(dst, k)
	}
	return append(dst, "]}"...)
}

// seenFrames remembers which frame indices of one source were received, in a
// sliding window of seenWindow frames below the highest index (a fixed 8 KiB).
// Frames older than the window are reported as too old.
type seenFrames struct {
	max  int64
	bits [seenWindow / 64]uint64
}

const seenWindow = 1 << 16

func newSeenFrames() *seenFrames { return &seenFrames{max: -1} }

// check marks frame as seen and reports whether it was seen before or is
// older than the window.
func (s *seenFrames) check(frame int64) (dup, tooOld bool) {
	if frame < 0 {
		return false, true
	}
	if frame > s.max {
		if frame-s.max >= seenWindow {
			clear(s.bits[:])
		} else {
			for f := s.max + 1; f < frame; f++ {
				s.clear(f)
			}
		}
		s.max = frame
		s.clear(frame)
	} else if frame <= s.max-seenWindow {
		return false, true
	}
	i, m := (frame%seenWindow)/64, uint64(1)<<(frame%64)
	if s.bits[i]&m != 0 {
		return true, false
	}
	s.bits[i] |= m
	return false, false
}

func (s *seenFrames) clear(frame int64) {
	s.bits[(frame%seenWindow)/64] &^= 1 << (frame % 64)
}
