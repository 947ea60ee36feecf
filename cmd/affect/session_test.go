package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
)

// Issue 3, point 1: a whole session on a real video through a real embedded
// NATS server gives exactly the numbers of the same video scored offline.
func TestSessionEqualsOfflineScore(t *testing.T) {
	dir := t.TempDir()
	markers := filepath.Join(dir, "markers.csv")
	os.WriteFile(markers, []byte("onset_ms,label,condition\n1500,smile1,happy\n5000,wall,neutral\n8500,group,happy\n"), 0o644)
	live, offline := filepath.Join(dir, "live"), filepath.Join(dir, "offline")

	code, stdout, stderr := affect(t, "session", "--source", testenv.Sample(t), "--session", "s1", "--participant", "p01",
		"--fast", "--nats-port", "-1", "--data-dir", filepath.Join(dir, "nats"), "--http", "off", "--quiet",
		"--markers", markers, "--out", live)
	if code != 0 {
		t.Fatalf("session exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "180 published, 0 undelivered") || !strings.Contains(stdout, "status complete") {
		t.Fatalf("session output:\n%s", stdout)
	}
	code, _, stderr = affect(t, "score", testenv.Sample(t), "--markers", markers, "--out", offline, "--quiet")
	if code != 0 {
		t.Fatalf("score exit %d: %s", code, stderr)
	}

	lp, op := export.PathsFor(live, "s1"), export.PathsFor(offline, "sample")
	var ls LiveSummary
	var os_ ScoreSummary
	readJSON(t, lp.Summary, &ls)
	readJSON(t, op.Summary, &os_)
	if ls.Status != "complete" || ls.Delivery == nil || ls.Delivery.MissingFrames != 0 || ls.Delivery.PublishedFrames != 180 {
		t.Fatalf("live summary status %q delivery %+v", ls.Status, ls.Delivery)
	}
	if ls.Participant != "p01" {
		t.Errorf("participant %q", ls.Participant)
	}
	for name, pair := range map[string][2]any{
		"overall":    {ls.Overall, os_.Overall},
		"epochs":     {ls.Epochs, os_.Epochs},
		"conditions": {ls.Conditions, os_.Conditions},
		"threshold":  {ls.Threshold, os_.Threshold},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			a, _ := json.Marshal(pair[0])
			b, _ := json.Marshal(pair[1])
			t.Errorf("%s differ:\nlive    %s\noffline %s", name, a, b)
		}
	}
	if len(ls.Epochs) != 3 || ls.Epochs[0].ResponseMean == nil {
		t.Fatalf("epochs: %+v", ls.Epochs)
	}
	// Per-frame rows are identical except the capture wall-clock time.
	lr, or := readCSV(t, lp.Frames), readCSV(t, op.Frames)
	if len(lr) != 181 || len(or) != 181 {
		t.Fatalf("rows: live %d offline %d", len(lr), len(or))
	}
	for i := range lr {
		lr[i][2], or[i][2] = "", ""
		if !reflect.DeepEqual(lr[i], or[i]) {
			t.Fatalf("row %d differs:\nlive    %v\noffline %v", i, lr[i], or[i])
		}
	}
}

func TestSessionBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"missing video", []string{"--source", filepath.Join(dir, "nope.mp4")}, 1, "input not found"},
		{"absent camera", []string{"--source", "7"}, 1, "no camera at index 7"},
		{"bad session name", []string{"--session", "a.b"}, 2, "dot"},
		{"unreachable NATS", []string{"--nats", "nats://127.0.0.1:1"}, 1, "127.0.0.1:1"},
		{"unsupported URL", []string{"--source", "gopher://x"}, 1, "unsupported input"},
		{"positional argument", []string{"video.mp4"}, 2, "--source"},
		// Reported at the start (it used to be reported after the whole session).
		{"unwritable out", []string{"--out", "/proc/self"}, 1, "cannot be written"},
		{"no-aggregate with out", []string{"--no-aggregate", "--out", dir}, 2, "--no-aggregate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"session", "--http", "off", "--fast"}
			if !strings.HasPrefix(tc.name, "unreachable") {
				args = append(args, "--nats-port", "-1", "--data-dir", filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")))
			}
			args = append(args, tc.args...)
			code, _, stderr := affect(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
				t.Fatalf("exit %d (want %d), stderr does not say %q:\n%s", code, tc.code, tc.inStderr, stderr)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The dashboard's default address taken by another program is an error, not
// a dashboard nobody sees.
func TestDashboardDefaultAddressBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nb := natstest.Start(t, t.TempDir())
	stop, err := startDashboard(context.Background(), nb.NC, l.Addr().String(), "", false, "s", io.Discard)
	if err == nil {
		stop()
		t.Fatal("the dashboard started on a busy default address without an error")
	}
	if !strings.Contains(err.Error(), "--http") {
		t.Errorf("error does not say what to do: %v", err)
	}
}
