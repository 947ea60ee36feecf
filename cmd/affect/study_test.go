package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/affectlab/affect/dashboard/browsertest"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/study"
)

// TestMain lets the test binary run as the affect command: a test starts
// `affect worker` processes as copies of itself (AFFECT_TEST_EXEC=1), so
// that it can kill one with SIGKILL like a crashed machine.
func TestMain(m *testing.M) {
	if os.Getenv("AFFECT_TEST_EXEC") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// workerProc is an `affect worker` process.
type workerProc struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startWorker(t *testing.T, url, id string) *workerProc {
	t.Helper()
	w := &workerProc{cmd: exec.Command(os.Args[0], "worker", "--nats", url, "--id", id, "--workers", "1", "--tmp", t.TempDir())}
	w.cmd.Env = append(os.Environ(), "AFFECT_TEST_EXEC=1")
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	})
	return w
}

// Issue 12, point 1: the six CREMA-D clips as a study, scored by two
// `affect worker` processes, one killed -9 mid-job and replaced: every
// video is scored (done) exactly once, each video's results equal a local
// `affect score` of it, status shows 6 of 6 done and the table has every row.
func TestStudyWorkersKilledMidJob(t *testing.T) {
	clipsDir := testenv.Shared(t, "video/crema_d")
	clips, _ := filepath.Glob(filepath.Join(clipsDir, "*.mp4"))
	if len(clips) != 6 {
		t.Fatalf("want the 6 CREMA-D clips in %s, found %d", clipsDir, len(clips))
	}
	dir := t.TempDir()
	b := natstest.Start(t, filepath.Join(dir, "nats"))
	url := b.URL()

	// Design: participants P1-P3, sessions v1 (first three clips) and v2,
	// condition from the clip's emotion code; markers on one video and a
	// calibration segment on another.
	markers := filepath.Join(dir, "markers.csv")
	os.WriteFile(markers, []byte("onset_ms,label,condition\n500,face1,happy\n1200,face2,neutral\n"), 0o644)
	var man strings.Builder
	man.WriteString("participant,session,condition,source,markers,group,calibration\n")
	extra := map[int][]string{}
	for i, c := range clips {
		cond := strings.ToLower(strings.Split(filepath.Base(c), "_")[2])
		m, cal := "", ""
		switch i {
		case 3:
			m = markers
			extra[i] = []string{"--markers", markers}
		case 4:
			cal = "500ms"
			extra[i] = []string{"--calibration", "500ms"}
		}
		fmt.Fprintf(&man, "P%d,v%d,%s,%s,%s,g%d,%s\n", i%3+1, i/3+1, cond, c, m, i%3%2+1, cal)
	}
	manifest := filepath.Join(dir, "study.csv")
	os.WriteFile(manifest, []byte(man.String()), 0o644)

	code, stdout, stderr := affect(t, "study", "submit", manifest, "--study", "crema", "--nats", url, "--ack-wait", "3s")
	if code != 0 || !strings.Contains(stdout, "6 rows, 6 new jobs") {
		t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = affect(t, "study", "submit", manifest, "--study", "crema", "--nats", url)
	if code != 0 || !strings.Contains(stdout, "0 new jobs, 6 already submitted") {
		t.Fatalf("second submit is not idempotent: exit %d\n%s\n%s", code, stdout, stderr)
	}
	res, err := study.Ensure(context.Background(), b.JS, study.Setup{})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := res.Jobs.Info(context.Background()); info.State.Msgs != 6 {
		t.Fatalf("jobs stream holds %d messages after two submits, want 6", info.State.Msgs)
	}

	// Two workers; kill A with SIGKILL as soon as it is running a job, then
	// start C in its place.
	a := startWorker(t, url, "A")
	bw := startWorker(t, url, "B")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var killed study.Record
	for killed.Job.ID == "" {
		if ctx.Err() != nil {
			t.Fatalf("worker A never started a job:\n%s", a.out.String())
		}
		st, err := study.ReadStatus(ctx, res, "crema")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range st.Records {
			if r.State == study.StateRunning && r.Worker == "A" && r.FramesDone > 0 {
				killed = r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	t.Logf("killed worker A while it ran job %s (%s), %d frames done", killed.Job.ID, filepath.Base(killed.Job.Source), killed.FramesDone)
	c := startWorker(t, url, "C")

	var st *study.Status
	for {
		st, err = study.ReadStatus(ctx, res, "crema")
		if err != nil {
			t.Fatal(err)
		}
		if st.Finished() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("study not finished: %s\nB:\n%s\nC:\n%s", st.Bar(20), bw.out.String(), c.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, w := range []*workerProc{bw, c} {
		w.cmd.Process.Signal(os.Interrupt)
		if err := w.cmd.Wait(); err != nil {
			t.Errorf("worker stopped with Ctrl-C: %v\n%s", err, w.out.String())
		}
	}
	if st.Done != 6 {
		t.Fatalf("%d of 6 done:\n%s\n%s", st.Done, bw.out.String(), c.out.String())
	}

	// Exactly once: each job went to done once (the status history), and
	// the killed job was finished by another worker on a later delivery.
	for _, r := range st.Records {
		dones, err := study.TimesDone(ctx, res, &r.Job)
		if err != nil {
			t.Fatal(err)
		}
		if dones != 1 {
			t.Errorf("job %s went to done %d times", r.Job.ID, dones)
		}
		if r.Job.ID == killed.Job.ID && (r.Worker == "A" || r.Attempt < 2) {
			t.Errorf("killed job finished by %s on attempt %d, want another worker on attempt ≥ 2", r.Worker, r.Attempt)
		}
	}
	objs, err := res.Results.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 18 {
		t.Errorf("%d result objects, want 18 (3 per video)", len(objs))
	}
	if info, _ := res.Jobs.Info(ctx); info.State.Msgs != 0 {
		t.Errorf("%d jobs left on the work queue", info.State.Msgs)
	}

	// Each video's results equal a local `affect score` of it.
	for i, r := range st.Records {
		ref := filepath.Join(dir, "ref")
		args := append([]string{"score", r.Job.Source, "--out", ref, "--quiet"}, extra[r.Job.Line-2]...)
		if code, _, stderr := affect(t, args...); code != 0 {
			t.Fatalf("local score: %s", stderr)
		}
		p := export.PathsFor(ref, export.BaseName(r.Job.Source))
		lf, _ := os.ReadFile(p.Frames)
		ls, _ := os.ReadFile(p.Summary)
		wf, err := study.LoadFramesCSV(ctx, res, &st.Records[i])
		if err != nil {
			t.Fatal(err)
		}
		ws, err := res.Results.GetBytes(ctx, r.Result.Summary)
		if err != nil {
			t.Fatal(err)
		}
		if err := study.SameResult(lf, wf, ls, ws); err != nil {
			t.Errorf("%s: worker result differs from local affect score: %v", filepath.Base(r.Job.Source), err)
		}
	}

	code, stdout, _ = affect(t, "study", "status", "crema", "--nats", url)
	if code != 0 || !strings.Contains(stdout, "6 of 6 done") {
		t.Errorf("status: exit %d\n%s", code, stdout)
	}
	table := filepath.Join(dir, "crema.csv")
	code, stdout, stderr = affect(t, "study", "table", "crema", "--nats", url, "--out", table)
	if code != 0 {
		t.Fatalf("table: exit %d\n%s\n%s", code, stdout, stderr)
	}
	rows := readCSV(t, table)
	perJob := map[string]map[string]bool{}
	for _, row := range rows[1:] {
		if perJob[row[5]] == nil {
			perJob[row[5]] = map[string]bool{}
		}
		perJob[row[5]][row[6]+"/"+row[10]] = true
		if row[12] == "" || row[13] == "" {
			t.Fatalf("row without model or model version: %v", row)
		}
	}
	for _, r := range st.Records {
		got := perJob[r.Job.ID]
		for _, want := range []string{"overall/mean", "overall/face_share", "overall/low_quality_share", "overall/frames"} {
			if !got[want] {
				t.Errorf("table lacks %s of %s", want, r.Job.ID)
			}
		}
		if r.Job.Line-2 == 3 && (!got["epoch/corrected"] || !got["condition/corrected"]) {
			t.Errorf("table lacks the epochs of the video with markers")
		}
		if r.Job.Line-2 == 4 && !got["calibration/corrected_mean"] {
			t.Errorf("table lacks the calibration of the video with one")
		}
	}
	html := filepath.Join(dir, "crema.html")
	if code, stdout, stderr = affect(t, "study", "report", "crema", "--nats", url, "--out", html); code != 0 {
		t.Fatalf("report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	page, _ := os.ReadFile(html)
	browsertest.SaveArtifact(t, "study-report.html", page)
	tab, _ := os.ReadFile(table)
	browsertest.SaveArtifact(t, "study-table.csv", tab)
	for _, want := range []string{"6 of 6 videos done", "P1", "P3", "Per condition", "hap", "None: every video"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}

	// Worker A may have been killed while storing a result: study gc
	// reports such leftovers (younger than a minute here: left alone).
	code, stdout, stderr = affect(t, "study", "gc", "--nats", url, "--min-age", "1m", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "AFFECT_RESULTS: would remove 0 unfinished uploads") || !strings.Contains(stdout, "AFFECT_VIDEOS: would remove 0") {
		t.Errorf("study gc: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr = affect(t, "study", "gc", "--nats", url, "--min-age", "5s"); code != 2 || !strings.Contains(stderr, "may still be running") {
		t.Errorf("study gc --min-age 5s: exit %d, want 2 (usage)\n%s", code, stderr)
	}
}
