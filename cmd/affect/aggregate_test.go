package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline"
)

// TestMarkAndAggregate drives `affect mark` and `affect aggregate` against a
// real embedded NATS server, then aggregates the same session again from the
// broker's data directory alone (--data-dir).
func TestMarkAndAggregate(t *testing.T) {
	quiet := natstest.Quiet
	dataDir := t.TempDir()
	nb := natstest.Start(t, dataDir)
	url, nc, js := nb.URL(), nb.NC, nb.JS
	ctx := context.Background()
	const session, n = "cmdtest", 90
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Participant: "P7", Source: "clip.mp4", FPS: 30}); err != nil {
		t.Fatal(err)
	}
	pub, _ := pipeline.NewPublisher(nc, pipeline.WithPublisherLogger(quiet))
	for i := range n {
		f := record.FrameScore{Session: session, Participant: "P7", Source: "clip.mp4", Frame: int64(i), MediaMS: float64(i) * 1000 / 30}
		if i%10 != 0 {
			f.FaceFound, f.NFaces, f.Primary = true, 1, &record.Face{Happiness: float64(i) / n}
		}
		if err := pub.Process(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := pub.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := affect(t, "mark", "--nats", url, "--session", session, "joke", "--condition", "funny", "--at-ms", "1000")
	if code != 0 || !strings.Contains(out, `marker "joke" (funny) at 1000.0 ms`) {
		t.Fatalf("mark: exit %d\n%s%s", code, out, errOut)
	}
	mcsv := t.TempDir() + "/m.csv"
	os.WriteFile(mcsv, []byte("onset_ms,label,condition\n2000,news,neutral\n"), 0o600)
	if code, out, errOut := affect(t, "mark", "--nats", url, "--session", session, "--markers", mcsv); code != 0 {
		t.Fatalf("mark --markers: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := affect(t, "mark", "--nats", url, "--session", "nosuch", "x"); code != 1 || !strings.Contains(errOut, "no such session") {
		t.Errorf("mark of a missing session: exit %d: %s", code, errOut)
	}
	if code, _, errOut := affect(t, "mark", "--session", "a.b", "x"); code != 2 || !strings.Contains(errOut, "dot") {
		t.Errorf("mark with a bad session name: exit %d: %s", code, errOut)
	}
	if err := pipeline.PublishEvent(ctx, js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: n, Published: rep.Published, Reason: "completed"})); err != nil {
		t.Fatal(err)
	}

	outDir := t.TempDir()
	code, out, errOut = affect(t, "aggregate", "--http", "off", "--nats", url, "--session", session, "--out", outDir, "--quiet")
	if code != 0 {
		t.Fatalf("aggregate: exit %d\n%s%s", code, out, errOut)
	}
	paths := export.PathsFor(outDir, session)
	rows := readCSV(t, paths.Frames)
	if len(rows) != n+1 {
		t.Errorf("frames CSV has %d rows, want %d + header", len(rows), n)
	}
	var ls LiveSummary
	b, err := os.ReadFile(paths.Summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ls); err != nil {
		t.Fatal(err)
	}
	if ls.Status != "complete" || ls.Overall.Frames != n || ls.Overall.FaceFrames != n-n/10 || len(ls.Epochs) != 2 || ls.Participant != "P7" || ls.Source != "clip.mp4" {
		t.Errorf("summary: status %s frames %d face %d epochs %d participant %q source %q", ls.Status, ls.Overall.Frames, ls.Overall.FaceFrames, len(ls.Epochs), ls.Participant, ls.Source)
	}
	if _, err := os.Stat(paths.Plot); err != nil {
		t.Errorf("no plot: %v", err)
	}
	last, err := pipeline.LastSummary(ctx, js, session)
	if err != nil || !strings.Contains(string(last), `"ended":true`) {
		t.Errorf("last published summary: %s, %v", last, err)
	}

	// Errors: a session that does not exist, an unreachable URL, --data-dir in use.
	if code, _, errOut := affect(t, "aggregate", "--http", "off", "--nats", url, "--session", "nosuch"); code != 1 || !strings.Contains(errOut, "no such session") {
		t.Errorf("aggregate of a missing session: exit %d: %s", code, errOut)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "nats://" + l.Addr().String()
	l.Close()
	if code, _, errOut := affect(t, "aggregate", "--http", "off", "--nats", dead, "--session", session); code != 1 || !strings.Contains(errOut, "cannot reach NATS") {
		t.Errorf("aggregate with an unreachable URL: exit %d: %s", code, errOut)
	}
	if code, _, errOut := affect(t, "aggregate", "--http", "off", "--data-dir", dataDir, "--session", session); code != 1 || !strings.Contains(errOut, "data directory in use") {
		t.Errorf("aggregate --data-dir of a running broker: exit %d: %s", code, errOut)
	}

	// After the broker is gone, the store alone gives the same result.
	nb.Close()
	outDir2 := t.TempDir()
	start := time.Now()
	code, out, errOut = affect(t, "aggregate", "--http", "off", "--data-dir", dataDir, "--session", session, "--name", "offline", "--out", outDir2, "--quiet", "--no-plot")
	if code != 0 {
		t.Fatalf("aggregate --data-dir: exit %d\n%s%s", code, out, errOut)
	}
	b2, err := os.ReadFile(export.PathsFor(outDir2, session).Summary)
	if err != nil {
		t.Fatal(err)
	}
	var ls2 LiveSummary
	json.Unmarshal(b2, &ls2)
	if ls2.Overall.Frames != n || len(ls2.Epochs) != 2 || *ls2.Overall.Mean != *ls.Overall.Mean {
		t.Errorf("aggregate from the data dir differs: %d frames, %d epochs", ls2.Overall.Frames, len(ls2.Epochs))
	}
	t.Logf("aggregate --data-dir took %v", time.Since(start).Round(time.Millisecond))
}

// Defect 5: a session whose publisher crashed (no session_end; its embedded
// broker died with it) is finished by `affect aggregate --data-dir` as
// incomplete with every frame that was stored, after a bounded idle time,
// saying so and exiting 1 (it used to wait forever and write nothing).
func TestAggregateCrashedSession(t *testing.T) {
	dataDir := t.TempDir()
	nb := natstest.Start(t, dataDir)
	ctx := context.Background()
	const session = "crashed"
	src, err := capture.Open(testenv.Sample(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	info := src.Info()
	tok := pipeline.NewSessionToken()
	_, endHash := pipeline.NewEndKey()
	if err := pipeline.StartSession(ctx, nb.JS, session, pipeline.SessionStart{Source: info.Name, FPS: info.FPS, FrameCount: info.FrameCount, Token: tok, EndKeyHash: endHash}); err != nil {
		t.Fatal(err)
	}
	pub, _ := pipeline.NewPublisher(nb.NC, pipeline.WithSessionToken(tok), pipeline.WithPublisherLogger(natstest.Quiet))
	const crashAt = 60 // frames published before the crash
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	n := 0
	_, err = score.Run(sctx, src, score.Config{Session: session, Source: info.Name, Workers: 1}, func(f record.FrameScore) error {
		if n == crashAt {
			stop()
			return context.Canceled
		}
		n++
		return pub.Process(ctx, f)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("scoring: %v", err)
	}
	if rep, err := pub.Close(ctx); err != nil || rep.Published != crashAt {
		t.Fatalf("published %+v, %v", rep, err)
	}
	nb.Close() // the process (and its broker) died: no session_end

	out := t.TempDir()
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		code, o, e := affect(t, "aggregate", "--http", "off", "--quiet", "--data-dir", dataDir, "--session", session, "--out", out)
		done <- result{code, o, e}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("affect aggregate --data-dir of a crashed session did not finish within 60 s")
	}
	if r.code != 1 || !strings.Contains(r.errOut, "incomplete") || !strings.Contains(r.errOut, "no session_end") {
		t.Errorf("exit %d, stderr does not say incomplete and why:\n%s%s", r.code, r.out, r.errOut)
	}
	var ls LiveSummary
	readJSON(t, export.PathsFor(out, session).Summary, &ls)
	if ls.Status != "incomplete" || ls.Overall.Frames != crashAt || len(ls.Why) == 0 || ls.Delivery == nil || ls.Delivery.Idle == "" {
		t.Errorf("summary: status %q, %d frames (want %d), why %q", ls.Status, ls.Overall.Frames, crashAt, ls.Why)
	}
	if rows := readCSV(t, export.PathsFor(out, session).Frames); len(rows) != crashAt+1 {
		t.Errorf("frames CSV has %d rows, want %d + header", len(rows), crashAt)
	}
	t.Logf("finished in %v: %q", time.Since(start).Round(time.Millisecond), ls.Why)
}
