package report_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/record"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/report"
	"github.com/affectlab/affect/score"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sampleMarkers fall on the sample video: smiling faces (0–6 s), a wall
// with no face (6–8 s), a group (8–12 s).
var sampleMarkers = []record.Marker{
	{OnsetMS: 2000, Label: "pan", Condition: "faces"},
	{OnsetMS: 5500, Label: "cut", Condition: "cut"},
	{OnsetMS: 8500, Label: "group", Condition: "faces"},
}

var (
	scoreOnce   sync.Once
	scored      []record.FrameScore
	scoredStats score.Stats
	scoreErr    error
)

// sampleFrames scores the bundled sample video once (the real capture →
// detect → classify loop) and returns its frames.
func sampleFrames(t *testing.T) []record.FrameScore {
	t.Helper()
	path := testenv.Sample(t)
	scoreOnce.Do(func() {
		src, err := capture.Open(path)
		if err != nil {
			scoreErr = err
			return
		}
		defer src.Close()
		scoredStats, scoreErr = score.Run(context.Background(), src, score.Config{Session: "sample", Participant: "P01", Source: "sample.mp4"},
			func(f record.FrameScore) error { scored = append(scored, f); return nil })
	})
	if scoreErr != nil {
		t.Fatalf("scoring the sample: %v", scoreErr)
	}
	return scored
}

// scoreSummary is the shape of `affect score`'s summary JSON.
type scoreSummary struct {
	Input     string  `json:"input"`
	Model     string  `json:"model"`
	Backend   string  `json:"backend"`
	Status    string  `json:"status"`
	ElapsedS  float64 `json:"elapsed_s"`
	ScoredFPS float64 `json:"scored_fps"`
	aggregate.Summary
}

// writeResult writes base's result files into dir as `affect score --out dir` does.
func writeResult(t *testing.T, dir, base string, frames []record.FrameScore, markers []record.Marker) aggregate.Summary {
	t.Helper()
	sum, err := aggregate.Compute(aggregate.DefaultConfig(), frames, markers)
	if err != nil {
		t.Fatal(err)
	}
	sum.Session = base
	p := export.PathsFor(dir, base)
	if err := export.WriteFramesCSV(p.Frames, frames); err != nil {
		t.Fatal(err)
	}
	if err := export.WriteJSON(p.Summary, scoreSummary{Input: "samples/sample.mp4", Model: "ensemble", Backend: "opencv", Status: "complete",
		ElapsedS: scoredStats.Elapsed.Seconds(), ScoredFPS: scoredStats.FPS(), Summary: sum}); err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestReadFramesCSVRoundTrip(t *testing.T) {
	frames := sampleFrames(t)
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "x.frames.csv")
	if err := export.WriteFramesCSV(path, frames); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	buf.Write(b)
	got, err := report.ReadFramesCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(frames) {
		t.Fatalf("%d frames read back, want %d", len(got), len(frames))
	}
	for i := range frames {
		w, g := frames[i], got[i]
		wh, wok := w.Happiness()
		gh, gok := g.Happiness()
		if w.Frame != g.Frame || math.Abs(w.MediaMS-g.MediaMS) > 1e-3 || wok != gok || math.Abs(wh-gh) > 1e-6 || w.NFaces != g.NFaces {
			t.Fatalf("frame %d read back as %+v, want %+v", i, g, w)
		}
		if wok && (g.Primary.Box != w.Primary.Box || math.Abs(g.Primary.Probs[record.HappyIndex]-w.Primary.Probs[record.HappyIndex]) > 1e-6) {
			t.Fatalf("frame %d face %+v, want %+v", i, g.Primary, w.Primary)
		}
	}
}

func TestReadFramesCSVBadInput(t *testing.T) {
	hdr := strings.Join(export.FramesHeader, ",") + "\n"
	row := func(cells map[int]string) string {
		c := make([]string, len(export.FramesHeader))
		for i, v := range cells {
			c[i] = v
		}
		return strings.Join(c, ",") + "\n"
	}
	for _, c := range []struct{ name, csv, want string }{
		{"empty", "", "empty"},
		{"not a frames CSV", "onset_ms,label\n1,a\n", `no column "frame"`},
		{"bad frame", hdr + row(map[int]string{0: "x", 1: "0", 3: "0"}), "line 2: frame"},
		{"bad face_found", hdr + row(map[int]string{0: "1", 1: "0", 3: "yes"}), "line 2: face_found"},
		{"face without happiness", hdr + row(map[int]string{0: "1", 1: "0", 3: "0"}) + row(map[int]string{0: "2", 1: "33", 3: "1"}), "line 3: happiness"},
		{"happiness out of range", hdr + row(map[int]string{0: "1", 1: "0", 3: "1", 9: "1.5"}), "line 2: happiness"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := report.ReadFramesCSV(strings.NewReader(c.csv))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// A frame with no face keeps no score (never 0).
	fs, err := report.ReadFramesCSV(strings.NewReader(hdr + row(map[int]string{0: "7", 1: "466.667", 3: "0", 4: "0"})))
	if err != nil || len(fs) != 1 || fs[0].FaceFound || fs[0].Primary != nil {
		t.Fatalf("no-face row read as %+v (%v)", fs, err)
	}
}

func TestLoadResultBadInput(t *testing.T) {
	frames := sampleFrames(t)
	good := t.TempDir()
	writeResult(t, good, "sample", frames, nil)
	csvOnly := t.TempDir()
	export.WriteFramesCSV(export.PathsFor(csvOnly, "half").Frames, frames)
	jsonOnly := t.TempDir()
	writeResult(t, jsonOnly, "nocsv", frames, nil)
	os.Remove(export.PathsFor(jsonOnly, "nocsv").Frames)
	mismatch := t.TempDir()
	writeResult(t, mismatch, "mix", frames, nil)
	export.WriteFramesCSV(export.PathsFor(mismatch, "mix").Frames, frames[:100])
	badJSON := t.TempDir()
	writeResult(t, badJSON, "bad", frames, nil)
	os.WriteFile(export.PathsFor(badJSON, "bad").Summary, []byte(`{"schema":1,`), 0o644)
	schema := t.TempDir()
	writeResult(t, schema, "v9", frames, nil)
	os.WriteFile(export.PathsFor(schema, "v9").Summary, []byte(`{"schema":9}`), 0o644)

	for _, c := range []struct {
		name, dir, base string
		want            error
	}{
		{"empty directory", t.TempDir(), "", report.ErrNoResults},
		{"frames without summary", csvOnly, "", report.ErrIncomplete},
		{"summary without frames", jsonOnly, "nocsv", report.ErrIncomplete},
		{"files of different runs", mismatch, "mix", report.ErrIncomplete},
		{"unknown base", good, "other", report.ErrIncomplete},
		{"broken JSON", badJSON, "bad", report.ErrBadFile},
		{"unknown schema", schema, "v9", report.ErrBadFile},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.base == "" {
				_, err = report.Bases(c.dir)
			} else {
				_, err = report.LoadResult(c.dir, c.base)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			t.Logf("as the user sees it: %v", err)
		})
	}
	if bases, err := report.Bases(good); err != nil || !reflect.DeepEqual(bases, []string{"sample"}) {
		t.Errorf("Bases = %v, %v", bases, err)
	}
}

// TestReportOfScoredSample writes the report of the scored sample video and
// checks the HTML stands alone and carries the summary, and the PNG.
func TestReportOfScoredSample(t *testing.T) {
	frames := sampleFrames(t)
	dir := t.TempDir()
	sum := writeResult(t, dir, "sample", frames, sampleMarkers)
	d, err := report.LoadResult(dir, "sample")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Summary.Overall, sum.Overall) || len(d.Summary.Epochs) != 3 || len(d.Markers) != 3 {
		t.Fatalf("loaded summary %+v, want %+v with 3 epochs", d.Summary.Overall, sum.Overall)
	}
	p, err := report.Write(filepath.Join(dir, "sample.report.html"), d, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.HTML)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		"<svg", `class="mean"`, `class="band"`, `class="noface"`, `class="marker"`,
		fmtp(sum.Overall.Mean), fmtp(sum.Overall.Median), fmtp(sum.Overall.Peak),
		"pan", "group", "faces", "sample.report.png", "ensemble (opencv backend)",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "src=", "href=", "http://", "https://", "@import", "url("} {
		if strings.Contains(strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("report contains %q: it must stand alone", bad)
		}
	}
	f, err := os.Open(p.PNG)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("PNG beside the report: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 600 || r.Dy() < 200 {
		t.Errorf("PNG is %v, want a plot-sized image", r)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	t.Logf("report %s: %d bytes; PNG %s", p.HTML, len(b), p.PNG)
}

// fmtp formats a value as the report prints it.
func fmtp(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.3f", *p)
}

// TestSessionReportEqualsOffline publishes the scored sample as a live
// session through a real embedded NATS server and reads it back: the
// report's summary equals the offline computation on the same frames.
func TestSessionReportEqualsOffline(t *testing.T) {
	frames := sampleFrames(t)
	dir := t.TempDir()
	nb := natstest.Start(t, dir)
	nc, js := nb.NC, nb.JS
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const session = "sample-session"
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Participant: "P01", Source: "sample.mp4", FPS: 15}); err != nil {
		t.Fatal(err)
	}
	pub, err := pipeline.NewPublisher(nc, pipeline.WithPublisherLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	live := make([]record.FrameScore, len(frames))
	for i, f := range frames {
		f.Session = session
		live[i] = f
		if err := pub.Process(ctx, f); err != nil {
			t.Fatal(err)
		}
		if i == 60 {
			for _, m := range sampleMarkers {
				if err := pipeline.PublishEvent(ctx, js, pipeline.NewMarkerEvent(session, m)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	rep, err := pub.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.PublishEvent(ctx, js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: len(frames), Published: rep.Published, Reason: "completed"})); err != nil {
		t.Fatal(err)
	}

	d, err := report.LoadSession(ctx, js, session)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := aggregate.Compute(aggregate.DefaultConfig(), live, sampleMarkers)
	if !reflect.DeepEqual(d.Summary.Overall, want.Overall) || !reflect.DeepEqual(d.Summary.Epochs, want.Epochs) || !reflect.DeepEqual(d.Summary.Conditions, want.Conditions) {
		t.Errorf("session report summary differs from the offline one:\n got %+v\nwant %+v", d.Summary.Overall, want.Overall)
	}
	if d.Summary.Delivery == nil || !d.Summary.Delivery.Ended || d.Summary.Delivery.MissingFrames != 0 || d.Meta.Participant != "P01" || d.Meta.Status != "completed" || len(d.Frames) != len(frames) {
		t.Errorf("delivery %+v, meta %+v, %d frames", d.Summary.Delivery, d.Meta, len(d.Frames))
	}
	p, err := report.Write(filepath.Join(t.TempDir(), "s.html"), d, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.HTML)
	if !strings.Contains(string(b), fmtp(want.Overall.Mean)) || !strings.Contains(string(b), "stored session") {
		t.Errorf("session report lacks the mean %s", fmtp(want.Overall.Mean))
	}

	if _, err := report.LoadSession(ctx, js, "never-ran"); !errors.Is(err, pipeline.ErrNoSession) {
		t.Errorf("unknown session: %v, want ErrNoSession", err)
	}
}
