package export

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"

	"github.com/affectlab/affect/chart"

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
	t0, t1 := chart.Range(len(frames), func(i int) float64 { return frames[i].MediaMS })
	s := chart.NewSeries(t0, t1, PlotColumns(o))
	for i := range frames {
		h, ok := frames[i].Happiness()
		s.Add(frames[i].MediaMS, ok, h)
	}
	return PlotSeriesPNG(w, s, o)
}

// plot margins in pixels.
const plotLeft, plotRight, plotTop, plotBottom = 70, 20, 40, 60

func (o *PlotOptions) defaults() error {
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
	return nil
}

// PlotColumns is the number of bins PlotSeriesPNG draws for o: one per pixel
// column of the plot area.
func PlotColumns(o PlotOptions) int {
	o.defaults()
	return max(1, o.Width-plotLeft-plotRight)
}

// PlotSeriesPNG draws the chart s (binned by chart.Series, ideally with
// PlotColumns(o) bins) as a PNG.
func PlotSeriesPNG(w io.Writer, s *chart.Series, o PlotOptions) error {
	if err := o.defaults(); err != nil {
		return err
	}
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), o.Height, o.Width, gocv.MatTypeCV8UC3)
	defer img.Close()
	left, top := plotLeft, plotTop
	pw, ph := o.Width-plotLeft-plotRight, o.Height-plotTop-plotBottom
	ax := chart.Axis{T0: s.T0, T1: s.T1, Left: float64(left), Top: float64(top), W: float64(pw - 1), H: float64(ph - 1)}
	xOf := func(t float64) int { return int(ax.X(t) + 0.5) }
	yOf := func(h float64) int { return int(ax.Y(h) + 0.5) }

	// Grid and axes.
	for _, h := range chart.ValueTicks {
		y := yOf(h)
		gocv.Line(&img, image.Pt(left, y), image.Pt(left+pw-1, y), colGrid, 1)
		gocv.PutText(&img, fmt.Sprintf("%.2f", h), image.Pt(18, y+5), gocv.FontHersheySimplex, 0.45, colAxis, 1)
	}
	gocv.Rectangle(&img, image.Rect(left, top, left+pw, top+ph), colAxis, 1)
	ticks, _ := ax.TimeTicks(8)
	for _, t := range ticks {
		x := xOf(t)
		gocv.Line(&img, image.Pt(x, top+ph), image.Pt(x, top+ph+5), colAxis, 1)
		gocv.PutText(&img, formatSeconds(t/1000), image.Pt(x-15, top+ph+22), gocv.FontHersheySimplex, 0.45, colAxis, 1)
	}
	gocv.PutText(&img, "time (s)", image.Pt(left+pw/2-30, o.Height-12), gocv.FontHersheySimplex, 0.5, colAxis, 1)
	gocv.PutText(&img, "happiness", image.Pt(left, top-12), gocv.FontHersheySimplex, 0.5, colAxis, 1)
	if o.Title != "" {
		gocv.PutText(&img, o.Title, image.Pt(left+110, top-12), gocv.FontHersheySimplex, 0.5, colAxis, 1)
	}

	// One bin per column (the series may have fewer or more: bins map to columns by their centre).
	n := len(s.Bins)
	col := func(i int) int { return left + min(pw-1, int((float64(i)+0.5)*float64(pw)/float64(n))) }
	for i := range s.Bins {
		b := &s.Bins[i]
		x := col(i)
		if b.NF > 0 && b.Max > b.Min {
			gocv.Line(&img, image.Pt(x, yOf(float64(b.Min))), image.Pt(x, yOf(float64(b.Max))), colBand, 1)
		}
		if b.N > 0 && b.NF == 0 {
			gocv.Line(&img, image.Pt(x, top+ph-8), image.Pt(x, top+ph-2), colNoFace, 1)
		}
	}
	if o.Threshold > 0 {
		y := yOf(o.Threshold)
		for x := left; x < left+pw; x += 12 {
			gocv.Line(&img, image.Pt(x, y), image.Pt(min(x+6, left+pw-1), y), colThr, 1)
		}
	}
	for _, run := range s.Runs() {
		prev := image.Point{-1, -1}
		for _, i := range run {
			p := image.Pt(col(i), yOf(s.Bins[i].Mean()))
			if prev.X >= 0 {
				gocv.Line(&img, prev, p, colLine, 2)
			} else {
				gocv.Circle(&img, p, 1, colLine, -1)
			}
			prev = p
		}
	}
	for _, m := range o.Markers {
		if m.TimeMS < s.T0 || m.TimeMS > s.T1 {
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

func formatSeconds(s float64) string {
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.0f", s)
	}
	return fmt.Sprintf("%.1f", s)
}
