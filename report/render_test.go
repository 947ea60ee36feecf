package report_test

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/report"
)

// hourFrames returns n frames at 30 frames/s; every 7th has no face.
func hourFrames(n int) []record.FrameScore {
	out := make([]record.FrameScore, n)
	for i := range out {
		f := record.FrameScore{Schema: 1, Session: "long", Source: "cam", Frame: int64(i), MediaMS: float64(i) * 1000 / 30}
		if i%7 != 3 {
			f.FaceFound, f.NFaces = true, 1
			f.Primary = &record.Face{Happiness: 0.5 + 0.45*math.Sin(float64(i)/200)}
		}
		out[i] = f
	}
	return out
}

// TestRenderEscapesAndStaysSmall: text from the data (labels, names) is
// escaped, and a 1-hour session's report stays small (the plot has one
// bin per pixel column, not one point per frame).
func TestRenderEscapesAndStaysSmall(t *testing.T) {
	frames := hourFrames(108000)
	markers := []record.Marker{{OnsetMS: 60000, Label: `<script>alert(1)</script>`, Condition: `"><img src=x>`}}
	sum, err := aggregate.Compute(aggregate.DefaultConfig(), frames, markers)
	if err != nil {
		t.Fatal(err)
	}
	sum.Participant = `<b>P01</b>`
	d := &report.Data{Title: `long & <odd>`, Kind: report.KindResult, Summary: sum, Frames: frames, Markers: markers,
		Meta: report.Meta{Input: `C:\\videos\\<x>.mp4`, Files: []string{"a.summary.json"}}}
	var buf bytes.Buffer
	if err := report.Render(&buf, d, report.Options{Now: time.Unix(0, 0)}, ""); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, bad := range []string{"<script", "<img", "<b>P01", "<odd>"} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;P01&lt;/b&gt;", "long &amp; &lt;odd&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks escaped %q", want)
		}
	}
	if buf.Len() > 200<<10 {
		t.Errorf("a 1-hour report is %d bytes, want <= 200 KiB", buf.Len())
	}
	t.Logf("1-hour session (108,000 frames): report HTML %d bytes", buf.Len())
}

// BenchmarkRenderHour renders the HTML report of a 1-hour session.
func BenchmarkRenderHour(b *testing.B) {
	frames := hourFrames(108000)
	sum, _ := aggregate.Compute(aggregate.DefaultConfig(), frames, nil)
	d := &report.Data{Title: "hour", Kind: report.KindResult, Summary: sum, Frames: frames}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := report.Render(&buf, d, report.Options{}, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}
