package export

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"

	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// PlotMarker is a labelled vertical line on the plot (a stimulus onset).
type PlotMarker struct {
	TimeMS float64
	Label  string
}

// PlotOptions configure PlotPNG. Zero values mean the documented defaults.
type PlotOptions struct {
	// Title is printed above the plot.
	Title string
	// Width and Height in pixels. Default 1200x420.
	Width, Height int
	// Threshold is drawn as a dashed line. Default 0.5; negative hides it.
	Threshold float64
	Markers   []PlotMarker
}

var (
	colAxis   = color.RGBA{60, 60, 60, 0}
	colGrid   = color.RGBA{225, 225, 225, 0}
	colLine   = color.RGBA{200, 110, 20, 0}  // happiness line
	colBand   = color.RGBA{235, 210, 200, 0} // min-max envelope
	colNoFace = color.RGBA{180, 180, 180, 0} // frames with no face
	colThr    = color.RGBA{60, 60, 200, 0}   // threshold
	colMarker = color.RGBA{40, 140, 40, 0}   // stimulus markers
)

// PlotPNG draws happiness over time: the mean per pixel column as a line, its
// min-max as a band, a grey strip under the axis where no face was found, the
// threshold and the markers. It works for hours of frames (one pass, binned).
func PlotPNG(w io.Writer, frames []record.FrameScore, o PlotOptions) error {
	if o.Width == 0 {
		o.Width = 1200
	}
	if o.Height == 0 {
		o.Height = 420
	}
	if o.Threshold == 0 {
		o.Threshold = 0.5
	}
	if o.Width < 200 || o.Height < 150 {
		return fmt.Errorf("export: plot size %dx%d is too small", o.Width, o.Height)
	}
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), o.Height, o.Width, gocv.MatTypeCV8UC3)
	defer img.Close()
	left, right, top, bottom := 70, 20, 40, 60
	pw, ph := o.Width-left-right, o.Height-top-bottom

	t0, t1 := math.Inf(1), math.Inf(-1)
	for i := range frames {
		t0 = math.Min(t0, frames[i].MediaMS)
		t1 = math.Max(t1, frames[i].MediaMS)
	}
	if len(frames) == 0 {
		t0, t1 = 0, 1000
	}
	if t1 <= t0 {
		t1 = t0 + 1000
	}
	xOf := func(t float64) int { return left + int((t-t0)/(t1-t0)*float64(pw-1)+0.5) }
	yOf := func(h float64) int { return top + int((1-h)*float64(ph-1)+0.5) }

	// Grid and axes.
	for _, h := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := yOf(h)
		gocv.Line(&img, image.Pt(left, y), image.Pt(left+pw-1, y), colGrid, 1)
		gocv.PutText(&img, fmt.Sprintf("%.2f", h), image.Pt(18, y+5), gocv.FontHersheySimplex, 0.45, colAxis, 1)
	}
	gocv.Rectangle(&img, image.Rect(left, top, left+pw, top+ph), colAxis, 1)
	span := (t1 - t0) / 1000
	step := niceStep(span / 8)
	for s := math.Ceil(t0/1000/step) * step; s <= t1/1000+1e-9; s += step {
		x := xOf(s * 1000)
		gocv.Line(&img, image.Pt(x, top+ph), image.Pt(x, top+ph+5), colAxis, 1)
		gocv.PutText(&img, formatSeconds(s), image.Pt(x-15, top+ph+22), gocv.FontHersheySimplex, 0.45, colAxis, 1)
	}
	gocv.PutText(&img, "time (s)", image.Pt(left+pw/2-30, o.Height-12), gocv.FontHersheySimplex, 0.5, colAxis, 1)
	gocv.PutText(&img, "happiness", image.Pt(left, top-12), gocv.FontHersheySimplex, 0.5, colAxis, 1)
	if o.Title != "" {
		gocv.PutText(&img, o.Title, image.Pt(left+110, top-12), gocv.FontHersheySimplex, 0.5, colAxis, 1)
	}

	// Bin frames into pixel columns.
	type bin struct {
		n, noFace int
		sum       float64
		lo, hi    float64
	}
	bins := make([]bin, pw)
	for i := range frames {
		c := xOf(frames[i].MediaMS) - left
		c = min(max(c, 0), pw-1)
		b := &bins[c]
		if h, ok := frames[i].Happiness(); ok {
			if b.n == 0 {
				b.lo, b.hi = h, h
			}
			b.n++
			b.sum += h
			b.lo = math.Min(b.lo, h)
			b.hi = math.Max(b.hi, h)
		} else {
			b.noFace++
		}
	}
	for c, b := range bins {
		x := left + c
		if b.n > 0 && b.hi > b.lo {
			gocv.Line(&img, image.Pt(x, yOf(b.lo)), image.Pt(x, yOf(b.hi)), colBand, 1)
		}
		if b.noFace > 0 && b.n == 0 {
			gocv.Line(&img, image.Pt(x, top+ph-8), image.Pt(x, top+ph-2), colNoFace, 1)
		}
	}
	if o.Threshold > 0 {
		y := yOf(o.Threshold)
		for x := left; x < left+pw; x += 12 {
			gocv.Line(&img, image.Pt(x, y), image.Pt(min(x+6, left+pw-1), y), colThr, 1)
		}
	}
	prev := image.Point{-1, -1}
	for c, b := range bins {
		if b.n == 0 {
			if b.noFace > 0 {
				prev = image.Point{-1, -1} // a gap: do not draw across frames with no face
			}
			continue
		}
		p := image.Pt(left+c, yOf(b.sum/float64(b.n)))
		if prev.X >= 0 {
			gocv.Line(&img, prev, p, colLine, 2)
		} else {
			gocv.Circle(&img, p, 1, colLine, -1)
		}
		prev = p
	}
	for _, m := range o.Markers {
		if m.TimeMS < t0 || m.TimeMS > t1 {
			continue
		}
		x := xOf(m.TimeMS)
		gocv.Line(&img, image.Pt(x, top), image.Pt(x, top+ph), colMarker, 1)
		gocv.PutText(&img, m.Label, image.Pt(x+3, top+14), gocv.FontHersheySimplex, 0.4, colMarker, 1)
	}
	gocv.PutText(&img, "grey strip at the bottom: no face", image.Pt(left+pw-250, o.Height-12), gocv.FontHersheySimplex, 0.4, colNoFace, 1)

	buf, err := gocv.IMEncode(gocv.PNGFileExt, img)
	if err != nil {
		return fmt.Errorf("export: encoding plot: %w", err)
	}
	defer buf.Close()
	_, err = w.Write(buf.GetBytes())
	return err
}

// WritePlot writes the happiness plot to path atomically.
func WritePlot(path string, frames []record.FrameScore, o PlotOptions) error {
	return WriteFile(path, func(w io.Writer) error { return PlotPNG(w, frames, o) })
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func formatSeconds(s float64) string {
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.0f", s)
	}
	return fmt.Sprintf("%.1f", s)
}
