package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/record"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/report"
)

// TestReportCommand scores the sample with `affect score`, then makes
// reports of the result folder and of the same frames stored as a session
// in an embedded broker's store, and tries bad command lines.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	markers := filepath.Join(dir, "markers.csv")
	os.WriteFile(markers, []byte("onset_ms,label,condition\n2000,pan,faces\n8500,group,faces\n"), 0o644)
	out := filepath.Join(dir, "out")
	if code, _, stderr := affect(t, "score", testenv.Sample(t), "--out", out, "--markers", markers, "--quiet"); code != 0 {
		t.Fatalf("affect score: exit %d: %s", code, stderr)
	}

	// One result: DIR/BASE.report.html and its PNG.
	code, stdout, stderr := affect(t, "report", out)
	if code != 0 {
		t.Fatalf("affect report DIR: exit %d: %s", code, stderr)
	}
	html := filepath.Join(out, "sample.report.html")
	b, err := os.ReadFile(html)
	if err != nil || !strings.Contains(stdout, html) || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "group") {
		t.Fatalf("report %s: %v; stdout %q", html, err, stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "sample.report.png")); err != nil {
		t.Errorf("PNG beside the report: %v", err)
	}

	// A second result in the folder: --out then needs --base.
	for _, suf := range []string{export.FramesSuffix, export.SummarySuffix} {
		data, _ := os.ReadFile(filepath.Join(out, "sample"+suf))
		os.WriteFile(filepath.Join(out, "other"+suf), data, 0o644)
	}
	one := filepath.Join(dir, "one.html")
	if code, _, stderr := affect(t, "report", out, "--out", one); code != 2 || !strings.Contains(stderr, "--base") {
		t.Errorf("two results with --out: exit %d, %q; want 2 and a hint to --base", code, stderr)
	}
	if code, _, stderr := affect(t, "report", out, "--base", "other", "--out", one, "--no-png"); code != 0 {
		t.Errorf("--base other --out: exit %d: %s", code, stderr)
	}
	if code, stdout, _ := affect(t, "report", out); code != 0 || strings.Count(stdout, "->") != 2 {
		t.Errorf("two results: exit %d, %q; want two reports", code, stdout)
	}

	// The same frames as a session stored by an embedded broker (no broker runs afterwards).
	f, _ := os.Open(filepath.Join(out, "sample"+export.FramesSuffix))
	frames, err := report.ReadFramesCSV(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	storeSession(t, store, "pilot-1", frames)
	sessHTML := filepath.Join(dir, "pilot.html")
	code, stdout, stderr = affect(t, "report", "pilot-1", "--data-dir", store, "--out", sessHTML)
	if code != 0 {
		t.Fatalf("affect report SESSION --data-dir: exit %d: %s", code, stderr)
	}
	b, _ = os.ReadFile(sessHTML)
	dirHTML, _ := os.ReadFile(html)
	mean := between(string(dirHTML), `id="mean">`, "<")
	if mean == "" || between(string(b), `id="mean">`, "<") != mean || !strings.Contains(stdout, "180 frames") {
		t.Errorf("session report mean %q, result folder's %q; stdout %q", between(string(b), `id="mean">`, "<"), mean, stdout)
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no argument", []string{"report"}, 2, "give one SESSION or DIR"},
		{"two arguments", []string{"report", out, out}, 2, "give one SESSION or DIR"},
		{"not HTML", []string{"report", out, "--base", "sample", "--out", "x.pdf"}, 2, "HTML file"},
		{"missing path", []string{"report", filepath.Join(dir, "nope")}, 1, "neither a directory"},
		{"empty folder", []string{"report", t.TempDir()}, 1, "no affect results"},
		{"folder with --nats", []string{"report", out, "--nats", "nats://127.0.0.1:1"}, 2, "for a SESSION"},
		{"unknown session", []string{"report", "nobody", "--data-dir", store}, 1, "no such session"},
		{"missing store", []string{"report", "pilot-1", "--data-dir", filepath.Join(dir, "nostore")}, 1, "broker store"},
		{"unknown base", []string{"report", out, "--base", "x"}, 1, "x.summary.json is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := affect(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, c.code, c.msg)
			}
		})
	}
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// storeSession publishes frames as a complete session into a new broker store.
func storeSession(t *testing.T, store, session string, frames []record.FrameScore) {
	t.Helper()
	nb := natstest.Start(t, store)
	defer nb.Close() // the report opens the store itself afterwards
	nc, js := nb.NC, nb.JS
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Source: "sample.mp4"}); err != nil {
		t.Fatal(err)
	}
	pub, err := pipeline.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		f.Session, f.Source = session, "sample.mp4"
		if err := pub.Process(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := pub.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []record.Marker{{OnsetMS: 2000, Label: "pan", Condition: "faces"}, {OnsetMS: 8500, Label: "group", Condition: "faces"}} {
		if err := pipeline.PublishEvent(ctx, js, pipeline.NewMarkerEvent(session, m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pipeline.PublishEvent(ctx, js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: len(frames), Published: rep.Published, Reason: "completed"})); err != nil {
		t.Fatal(err)
	}
}
