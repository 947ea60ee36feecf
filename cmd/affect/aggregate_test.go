package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/record"

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
