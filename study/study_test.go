package study

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/offline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/smooth"
)

func TestReadManifest(t *testing.T) {
	dir := t.TempDir()
	video := filepath.Join(dir, "v.mp4")
	os.WriteFile(video, []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "m.csv"), []byte("onset_ms,label,condition\n100,a,happy\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("onset,label\n"), 0o644)
	tests := []struct {
		name, csv string
		want      []string // substrings of the error; none: valid
		rows      int
	}{
		{"valid", "participant,session,condition,source,markers,group,calibration\nP1,v1,happy,v.mp4,m.csv,g1,20s\nP1,v2,happy,v.mp4,,g1,\n", nil, 2},
		{"any column order", "source,condition,session,participant\nv.mp4,c,s,p\n", nil, 1},
		{"empty", "", []string{"the manifest is empty"}, 0},
		{"missing column", "participant,session,source\nP1,v1,v.mp4\n", []string{`missing column "condition"`}, 0},
		{"unknown column", "participant,session,condition,source,visit\nP1,v1,c,v.mp4,1\n", []string{`unknown column "visit"`}, 0},
		{"every bad row with its line", "participant,session,condition,source,markers,calibration\n" +
			"P1,v1,happy,v.mp4,,\n" +
			"P 2,v1,happy,v.mp4,,\n" +
			"P3,,happy,v.mp4,,\n" +
			"P4,v1,happy,missing.mp4,,\n" +
			"P5,v1,happy,v.mp4,bad.csv,\n" +
			"P6,v1,happy,v.mp4,,twenty\n" +
			"P1,v1,happy,v.mp4,,\n",
			[]string{"6 errors", `line 3: participant: "P 2" contains ' '`, "line 4: session: empty", "line 5: source: stat", "line 6: markers:",
				`line 7: calibration "twenty"`, "line 8: participant P1, session v1, condition happy is already on line 2"}, 0},
		{"no rows", "participant,session,condition,source\n", []string{"no rows"}, 0},
		{"one group per participant", "participant,session,condition,source,group\nP1,v1,a,v.mp4,g1\nP1,v2,a,v.mp4,g2\n",
			[]string{`line 3: participant P1 is in group "g2" here and in group "g1" on line 2`}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ReadManifest(strings.NewReader(tt.csv), dir)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != tt.rows {
					t.Fatalf("%d rows, want %d", len(rows), tt.rows)
				}
				if rows[0].Source != video {
					t.Errorf("source %q not resolved against the manifest's folder", rows[0].Source)
				}
				return
			}
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("error %v does not wrap ErrManifest", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	rows, err := ReadManifest(strings.NewReader("participant,session,condition,source,markers,group,calibration\nP1,v1,happy,v.mp4,m.csv,g1,20s\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := rows[0]; r.Line != 2 || r.Group != "g1" || r.Calibration != 20*time.Second || len(r.Markers) != 1 || r.Markers[0].Condition != "happy" {
		t.Errorf("row %+v", r)
	}
}

func TestPseudonymiser(t *testing.T) {
	if _, err := NewPseudonymiser([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	p, _ := NewPseudonymiser([]byte("0123456789abcdef-study-key\n"))
	q, _ := NewPseudonymiser([]byte("another key of enough length"))
	a, b := p.ID("Jane Doe"), p.ID("Jane Doe")
	if a != b || a == p.ID("John Doe") || a == q.ID("Jane Doe") || strings.Contains(a, "Jane") || len(a) != 18 || validID(a) != nil {
		t.Errorf("pseudonyms %q %q %q %q", a, b, p.ID("John Doe"), q.ID("Jane Doe"))
	}
	rows := []Row{{Participant: "Jane Doe"}}
	p.Apply(rows)
	if rows[0].Participant != a {
		t.Errorf("Apply gave %q", rows[0].Participant)
	}
}

func TestBootstrap(t *testing.T) {
	c := Bootstrap("x", []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8})
	if math.Abs(c.Mean-0.45) > 1e-12 || !c.HasCI || !(c.Lo < 0.45 && c.Hi > 0.45 && c.Lo > 0.2 && c.Hi < 0.7) {
		t.Errorf("bootstrap %+v", c)
	}
	if d := Bootstrap("x", []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}); d != c {
		t.Errorf("not reproducible: %+v %+v", c, d)
	}
	if one := Bootstrap("y", []float64{0.3}); one.HasCI || !one.HasValue {
		t.Errorf("one value: %+v", one)
	}
}

// defaultParams are the study settings of `affect score` with no flags.
func defaultParams() Params {
	cfg := aggregate.DefaultConfig()
	return ParamsFrom(offline.FileOptions{Scorer: classify.ScorerParams{Model: classify.DefaultModel, Backend: classify.BackendOpenCV,
		Detector: classify.DetectorParams{Cascade: "haar"}}, Aggregate: cfg, SmoothMS: smooth.DefaultWindowMS})
}

func setup(t *testing.T, s Setup) (*natstest.Broker, *Resources) {
	t.Helper()
	b := natstest.Start(t, t.TempDir())
	res, err := Ensure(context.Background(), b.JS, s)
	if err != nil {
		t.Fatal(err)
	}
	return b, res
}

func waitFor(t *testing.T, ctx context.Context, res *Resources, study string, cond func(*Status) bool) *Status {
	t.Helper()
	for {
		st, err := ReadStatus(ctx, res, study)
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out; status: %s", st.Bar(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A job that keeps failing goes to the dead-letter state with its error after
// MaxDeliver attempts; a changed row is refused; --retry-failed queues it again.
func TestFailingJobIsDeadLettered(t *testing.T) {
	_, res := setup(t, Setup{AckWait: 2 * time.Second, MaxDeliver: 2})
	dir := t.TempDir()
	bad := filepath.Join(dir, "notes.mp4")
	os.WriteFile(bad, []byte("not a video\n"), 0o644)
	rows := []Row{{Line: 2, Participant: "P1", Session: "v1", Condition: "c", Source: bad}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Submit(ctx, res, "s", rows, SubmitOptions{Params: defaultParams()})
	if err != nil || rep.New != 1 {
		t.Fatalf("submit: %+v %v", rep, err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan WorkerStats)
	go func() {
		st, _ := (&Worker{Res: res, ID: "w1", Logger: natstest.Quiet}).Run(wctx)
		done <- st
	}()
	st := waitFor(t, ctx, res, "s", func(s *Status) bool { return s.Failed == 1 })
	wcancel()
	ws := <-done
	r := st.Records[0]
	if r.Attempt != 2 || !strings.Contains(r.Error, "notes.mp4") || ws.Failed != 1 || ws.Retried != 1 {
		t.Errorf("record %+v, worker %+v", r, ws)
	}
	if info, _ := res.Jobs.Info(ctx); info.State.Msgs != 0 {
		t.Errorf("failed job still on the queue")
	}
	var sb strings.Builder
	st.WriteText(&sb, time.Now())
	if !strings.Contains(sb.String(), "FAILED    line 2 P1/v1/c") {
		t.Errorf("status text:\n%s", sb.String())
	}

	// The same row with another source is refused, nothing changes.
	other := rows
	other[0].Source = filepath.Join(dir, "other.mp4")
	if _, err := Submit(ctx, res, "s", other, SubmitOptions{Params: defaultParams()}); !errors.Is(err, ErrChangedRow) {
		t.Errorf("changed row: %v", err)
	}
	rows[0].Source = bad
	rep, err = Submit(ctx, res, "s", rows, SubmitOptions{Params: defaultParams(), RetryFailed: true})
	if err != nil || rep.Retried != 1 {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	if info, _ := res.Jobs.Info(ctx); info.State.Msgs != 1 {
		t.Errorf("retried job not on the queue")
	}
}

// A worker that dies without a word (here: it takes the job and never
// answers) MaxDeliver times sends the job to the dead-letter state through
// the server's max-deliveries advisory.
func TestDeadWorkersDeadLetterViaAdvisory(t *testing.T) {
	_, res := setup(t, Setup{AckWait: time.Second, MaxDeliver: 1})
	video := testenv.Sample(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Submit(ctx, res, "s", []Row{{Line: 2, Participant: "P1", Session: "v1", Condition: "c", Source: video}}, SubmitOptions{Params: defaultParams()}); err != nil {
		t.Fatal(err)
	}
	m, err := res.Consumer.Next(jetstream.FetchMaxWait(5 * time.Second)) // the dying worker
	if err != nil {
		t.Fatal(err)
	}
	_ = m
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go (&Worker{Res: res, ID: "w2", Logger: natstest.Quiet}).Run(wctx)
	st := waitFor(t, ctx, res, "s", func(s *Status) bool { return s.Failed == 1 })
	if e := st.Records[0].Error; !strings.Contains(e, "delivered 1 times without finishing") {
		t.Errorf("error %q", e)
	}
	if info, _ := res.Jobs.Info(ctx); info.State.Msgs != 0 {
		t.Errorf("dead job still on the queue")
	}
}

// Ctrl-C in a worker hands the running job back at once (nak, record
// queued); another worker then finishes it, with the uploaded video.
func TestInterruptedWorkerHandsJobBack(t *testing.T) {
	clip := testenv.Shared(t, "video/crema_d/1001_DFA_HAP_XX.mp4")
	_, res := setup(t, Setup{AckWait: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Submit(ctx, res, "s", []Row{{Line: 2, Participant: "P1", Session: "v1", Condition: "hap", Source: clip}},
		SubmitOptions{Params: defaultParams(), Upload: true})
	if err != nil || rep.Uploaded != 1 {
		t.Fatalf("submit: %+v %v", rep, err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan WorkerStats)
	go func() {
		st, _ := (&Worker{Res: res, ID: "w1", Scorers: 1, Logger: natstest.Quiet, ProgressEvery: 100 * time.Millisecond}).Run(wctx)
		done <- st
	}()
	waitFor(t, ctx, res, "s", func(s *Status) bool { return s.Running == 1 && s.Records[0].FramesDone > 0 })
	wcancel()
	if ws := <-done; ws.Returned != 1 || ws.Done != 0 {
		t.Fatalf("worker stats %+v", ws)
	}
	st := waitFor(t, ctx, res, "s", func(s *Status) bool { return true })
	if r := st.Records[0]; r.State != StateQueued || !strings.Contains(r.Error, "handed back") {
		t.Fatalf("after Ctrl-C: %+v", r)
	}
	// Handed back at once: a second worker gets it well within AckWait.
	start := time.Now()
	w2ctx, w2cancel := context.WithCancel(ctx)
	defer w2cancel()
	go (&Worker{Res: res, ID: "w2", Logger: natstest.Quiet}).Run(w2ctx)
	st = waitFor(t, ctx, res, "s", func(s *Status) bool { return s.Done == 1 })
	if time.Since(start) > 45*time.Second || st.Records[0].Worker != "w2" || st.Records[0].Attempt != 2 {
		t.Errorf("record %+v after %v", st.Records[0], time.Since(start))
	}
	// The worker scored the uploaded copy; results name the original.
	s, err := LoadSummary(ctx, res, &st.Records[0])
	if err != nil || s.Input != clip || s.Status != "complete" {
		t.Errorf("summary %+v %v", s.Input, err)
	}
	b, _ := json.Marshal(st.Records[0].Result)
	if !strings.Contains(string(b), "sha256:") {
		t.Errorf("result without model version: %s", b)
	}
}
