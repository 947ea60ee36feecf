package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/affectlab/affect/internal/testenv"
)

// `affect bench` prints a summary and a JSON line whose counts and per-stage
// times are consistent (correctness only: the figures themselves are for the
// machine that runs it).
func TestBenchReportsEveryStage(t *testing.T) {
	code, stdout, stderr := affect(t, "bench", testenv.Sample(t), "--frames", "40")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var r BenchResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, stdout)
	}
	if r.Frames != 40 || r.FaceFrames <= 0 || r.FaceFrames > r.Frames || r.FPS <= 0 || r.Model != "combined" {
		t.Errorf("counts: %+v", r)
	}
	if r.DecodeMS <= 0 || r.DetectMS <= 0 || r.ClassifyMS <= 0 || r.LandmarksMS <= 0 || r.LandmarksMS >= r.ClassifyMS {
		t.Errorf("stages: decode %v, detect %v, classify %v, landmarks %v ms", r.DecodeMS, r.DetectMS, r.ClassifyMS, r.LandmarksMS)
	}
	if !strings.Contains(stdout, "frames/s") || !strings.Contains(stdout, "landmarks") {
		t.Errorf("summary lines:\n%s", stdout)
	}
}
