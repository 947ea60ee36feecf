// Package report writes the report of a scored video or a finished session:
// ONE self-contained HTML file (inline CSS, an inline SVG plot, no script,
// nothing fetched from anywhere: it opens offline and can be attached to a lab
// notebook) with the happiness timeline, the summary, the epoch and
// condition tables and quality figures; and a PNG of the plot beside it.
//
// The data comes from the result files of `affect score --out DIR` or
// `affect session --out DIR` (LoadResult: BASE.summary.json and
// BASE.frames.csv) or from a session stored in the NATS stream (LoadSession).
// `affect report` is the command line.
package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
)

// Kinds of Data.
const (
	KindResult  = "result files"
	KindSession = "stored session"
)

// Meta says where the data comes from.
type Meta struct {
	Input, Source, Participant string
	Model, Backend             string
	// Status is the result's status ("complete") or the session's end reason.
	Status         string
	ScoredFPS      float64
	ElapsedS       float64
	Started, Ended time.Time
	// Files names the data the report was made from.
	Files []string
}

// Data is what a report shows.
type Data struct {
	Title   string
	Kind    string
	Meta    Meta
	Summary aggregate.Summary
	// Frames in media-time order.
	Frames  []record.FrameScore
	Markers []record.Marker
}

// Quality are the report's data-quality figures.
type Quality struct {
	Frames, FaceFrames, NoFaceFrames int
	FaceShare                        float64
	MultiFaceFrames                  int
	LowQualityFaces                  int
	ErrorFrames                      int
	// LongestNoFaceMS is the longest stretch of consecutive frames without a face.
	LongestNoFaceMS float64
	// DurationMS is the media time from the first to the last frame plus one interval.
	DurationMS float64
	// FPS is frames per second of media time.
	FPS float64
}

// QualityOf computes the quality figures of frames (in media-time order).
func QualityOf(frames []record.FrameScore, intervalMS float64) Quality {
	q := Quality{Frames: len(frames)}
	run := -1.0
	for _, f := range frames {
		if _, ok := f.Happiness(); ok {
			q.FaceFrames++
			if f.Primary.Quality != nil && f.Primary.Quality.Low {
				q.LowQualityFaces++
			}
			run = -1
		} else {
			if run < 0 {
				run = f.MediaMS
			}
			q.LongestNoFaceMS = max(q.LongestNoFaceMS, f.MediaMS-run+intervalMS)
		}
		if f.NFaces > 1 {
			q.MultiFaceFrames++
		}
		if f.Error != "" {
			q.ErrorFrames++
		}
	}
	q.NoFaceFrames = q.Frames - q.FaceFrames
	if q.Frames > 0 {
		q.FaceShare = float64(q.FaceFrames) / float64(q.Frames)
		q.DurationMS = frames[len(frames)-1].MediaMS - frames[0].MediaMS + intervalMS
		if q.DurationMS > 0 {
			q.FPS = float64(q.Frames) / (q.DurationMS / 1000)
		}
	}
	return q
}

// Paths are the files Write writes.
type Paths struct {
	HTML, PNG string
}

// PathsFor returns the report files for an HTML path: FILE.html and FILE.png.
func PathsFor(html string) Paths {
	return Paths{HTML: html, PNG: strings.TrimSuffix(html, filepath.Ext(html)) + ".png"}
}

// Options of Write.
type Options struct {
	// NoPNG skips the PNG beside the HTML (it needs OpenCV's image encoder).
	NoPNG bool
	// Now is the generation time printed in the report (default time.Now()).
	Now time.Time
}

// Write writes the HTML report to htmlPath and the PNG plot beside it, each
// atomically (a crash never leaves a half file).
func Write(htmlPath string, d *Data, o Options) (Paths, error) {
	p := PathsFor(htmlPath)
	if !o.NoPNG {
		pm := make([]export.PlotMarker, len(d.Markers))
		for i, m := range d.Markers {
			pm[i] = export.PlotMarker{TimeMS: m.OnsetMS, Label: m.Label}
		}
		err := export.WritePlot(p.PNG, d.Frames, export.PlotOptions{Title: d.Title, Threshold: d.Summary.Threshold, Markers: pm})
		if err != nil {
			return p, err
		}
	} else {
		p.PNG = ""
	}
	err := export.WriteFile(p.HTML, func(w io.Writer) error { return Render(w, d, o, filepath.Base(p.PNG)) })
	return p, err
}

// Render writes the report's HTML. png, if not empty, is the name of the
// PNG beside it (mentioned, not linked: the HTML stands alone).
func Render(w io.Writer, d *Data, o Options, png string) error {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	s := d.Summary
	q := QualityOf(d.Frames, s.FrameIntervalMS)
	v := view{
		D: d, S: s, Q: q, PNG: png,
		Generated: o.Now.Format("2006-01-02 15:04:05 MST"),
		Plot:      template.HTML(plotSVG(d.Frames, d.Markers, s, 1000, 340)),
	}
	if len(d.Frames) > 0 {
		v.Span = clock(d.Frames[0].MediaMS) + " – " + clock(d.Frames[len(d.Frames)-1].MediaMS)
	}
	return page.Execute(w, v)
}

type view struct {
	D         *Data
	S         aggregate.Summary
	Q         Quality
	Plot      template.HTML
	PNG       string
	Generated string
	Span      string
}

// clock formats media milliseconds as [h:]mm:ss.s.
func clock(ms float64) string {
	if math.IsNaN(ms) {
		return "–"
	}
	neg := ms < 0
	ms = math.Abs(ms)
	t := time.Duration(ms * float64(time.Millisecond))
	h := int(t / time.Hour)
	m := int(t/time.Minute) % 60
	sec := math.Mod(ms/1000, 60)
	out := fmt.Sprintf("%d:%04.1f", m, sec)
	if h > 0 {
		out = fmt.Sprintf("%d:%02d:%04.1f", h, m, sec)
	}
	if neg {
		out = "-" + out
	}
	return out
}

var funcs = template.FuncMap{
	"f3": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.3f", *p)
	},
	"signed": func(p *float64) string {
		if p == nil {
			return "–"
		}
		if math.Abs(*p) < 0.0005 {
			return "0.000" // not "-0.000"
		}
		return fmt.Sprintf("%+.3f", *p)
	},
	"pct": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f %%", 100**p)
	},
	"pctv": func(v float64) string { return fmt.Sprintf("%.1f %%", 100*v) },
	"ms": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.0f ms", *p)
	},
	"secs":  func(v float64) string { return fmt.Sprintf("%.1f s", v/1000) },
	"clock": clock,
	"ratio": func(a, b int) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f %%", 100*float64(a)/float64(b))
	},
	"f1":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"join": func(s []string) string { return strings.Join(slices.Clone(s), ", ") },
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("2006-01-02 15:04:05 MST")
	},
}

var page = template.Must(template.New("report").Funcs(funcs).Parse(pageHTML))
