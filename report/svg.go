package report

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
)

// column accumulates the frames drawn in one pixel column.
type column struct {
	n, nf    int
	sum      float64
	min, max float64
}

// timeStep returns a clock-friendly tick step (ms) of at least raw.
func timeStep(raw float64) float64 {
	for _, s := range []float64{100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5} {
		if s >= raw {
			return s
		}
	}
	return math.Ceil(raw/216e5) * 216e5
}

func tickLabel(ms, step float64) string {
	s := clock(ms)
	if step >= 1000 {
		s = strings.TrimSuffix(s, ".0")
	}
	return s
}

// plotSVG draws happiness over media time as an inline SVG of viewBox w x h:
// the mean per bin (a pixel column, or a frame when there are fewer frames
// than columns) as a line, its min–max as a band, a grey strip
// under the plot where frames had no face (darker: more of them), the
// threshold, and each marker with its response window shaded. One pass over
// the frames: hours of frames become at most one column per pixel.
func plotSVG(frames []record.FrameScore, markers []record.Marker, s aggregate.Summary, w, h int) string {
	const L, R, T, B, strip = 46.0, 12.0, 16.0, 40.0, 8.0
	pw, ph := float64(w)-L-R, float64(h)-T-B-strip-3
	var t0, t1 float64
	if len(frames) > 0 {
		t0 = min(0, frames[0].MediaMS)
		t1 = frames[len(frames)-1].MediaMS + s.FrameIntervalMS
	}
	for _, m := range markers {
		t1 = max(t1, m.OnsetMS)
	}
	if t1 <= t0 {
		t1 = t0 + 1000
	}
	x := func(t float64) float64 { return L + (t-t0)/(t1-t0)*pw }
	y := func(v float64) float64 { return T + (1-v)*ph }
	// One bin per pixel column, or per frame when there are fewer frames.
	ncol := max(1, min(int(pw), len(frames)))
	bw := pw / float64(ncol)
	cols := make([]column, ncol)
	for i := range frames {
		f := &frames[i]
		c := int((f.MediaMS - t0) / (t1 - t0) * float64(ncol))
		c = min(max(c, 0), ncol-1)
		col := &cols[c]
		col.n++
		if v, ok := f.Happiness(); ok {
			if col.nf == 0 || v < col.min {
				col.min = v
			}
			if col.nf == 0 || v > col.max {
				col.max = v
			}
			col.nf++
			col.sum += v
		}
	}
	xc := func(c int) float64 { return L + (float64(c)+0.5)*bw }

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="happiness over time">`, w, h)
	p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fff" stroke="#9aa0a8"/>`, L, T, pw, ph)
	// Response windows of the markers.
	for _, m := range markers {
		xa, xb := x(m.OnsetMS+s.ResponseFromMS), x(m.OnsetMS+s.ResponseToMS)
		xa, xb = max(xa, L), min(xb, L+pw)
		if xb > xa {
			p(`<rect class="resp" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2a8c2a" fill-opacity="0.07"/>`, xa, T, xb-xa, ph)
		}
	}
	// Grid and axes.
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		p(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e3e6eb"/>`, L, L+pw, y(v), y(v))
		p(`<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle" class="ax">%.2f</text>`, L-5, y(v), v)
	}
	step := timeStep((t1 - t0) / math.Max(2, math.Floor(pw/90)))
	for t := math.Ceil(t0/step) * step; t <= t1; t += step {
		xt := x(t)
		p(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e3e6eb"/>`, xt, xt, T, T+ph)
		anchor := "middle"
		if xt > L+pw-30 {
			anchor = "end"
		}
		p(`<text x="%.1f" y="%.1f" text-anchor="%s" class="ax">%s</text>`, xt, T+ph+strip+16, anchor, tickLabel(t, step))
	}
	p(`<text x="%.1f" y="%.1f" text-anchor="middle" class="ax">media time</text>`, L+pw/2, float64(h)-4)
	// Frames without a face: a strip under the plot, darker where more frames lack one.
	opacity := func(c column) float64 { return 0.25 + 0.75*float64(c.n-c.nf)/float64(c.n) }
	for c := 0; c < ncol; {
		if cols[c].n == 0 || cols[c].nf == cols[c].n {
			c++
			continue
		}
		op := opacity(cols[c])
		e, end := c+1, c+1
		for e < ncol && (cols[e].n == 0 || cols[e].nf < cols[e].n && math.Abs(opacity(cols[e])-op) < 0.05) {
			e++
			if cols[e-1].n > 0 {
				end = e // empty bins continue a run, but do not end one
			}
		}
		e = end
		p(`<rect class="noface" x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="#9aa0a8" fill-opacity="%.2f"/>`, L+float64(c)*bw, T+ph+2, float64(e-c)*bw, strip, op)
		c = e
	}
	// Min–max band and mean line through the bins with a face. A bin whose
	// frames all lack a face breaks them; an empty bin (no frame sampled
	// there) does not.
	var band, line strings.Builder
	for c := 0; c < ncol; {
		if cols[c].nf == 0 {
			c++
			continue
		}
		var run []int
		for e := c; e < ncol && (cols[e].nf > 0 || cols[e].n == 0); e++ {
			if cols[e].nf > 0 {
				run = append(run, e)
			}
			c = e + 1
		}
		if len(run) == 1 { // a lone bin: a short flat segment
			i := run[0]
			m := cols[i].sum / float64(cols[i].nf)
			fmt.Fprintf(&line, "M%.1f %.1fL%.1f %.1f", xc(i)-bw/2, y(m), xc(i)+bw/2, y(m))
			fmt.Fprintf(&band, "M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ", xc(i)-bw/2, y(cols[i].max), xc(i)+bw/2, y(cols[i].max), xc(i)+bw/2, y(cols[i].min), xc(i)-bw/2, y(cols[i].min))
			continue
		}
		for k, i := range run {
			cmd := "L"
			if k == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&band, "%s%.1f %.1f", cmd, xc(i), y(cols[i].max))
			fmt.Fprintf(&line, "%s%.1f %.1f", cmd, xc(i), y(cols[i].sum/float64(cols[i].nf)))
		}
		for k := len(run) - 1; k >= 0; k-- {
			fmt.Fprintf(&band, "L%.1f %.1f", xc(run[k]), y(cols[run[k]].min))
		}
		band.WriteString("Z")
	}
	if band.Len() > 0 {
		p(`<path class="band" d="%s" fill="#c86e14" fill-opacity="0.22" stroke="#c86e14" stroke-opacity="0.22" stroke-width="1"/>`, band.String())
		p(`<path class="mean" d="%s" fill="none" stroke="#c86e14" stroke-width="1.5" stroke-linejoin="round"/>`, line.String())
	}
	if s.Threshold > 0 {
		p(`<line class="thr" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#3c3cc8" stroke-dasharray="5 4"/>`, L, L+pw, y(s.Threshold), y(s.Threshold))
	}
	for _, m := range markers {
		xm := x(m.OnsetMS)
		if xm < L || xm > L+pw {
			continue
		}
		p(`<line class="marker" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#2a8c2a"/>`, xm, xm, T, T+ph)
		p(`<text x="%.1f" y="%.1f" class="mk">%s</text>`, xm+3, T+10, html.EscapeString(m.Label))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
