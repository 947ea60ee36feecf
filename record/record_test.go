package record_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/affectlab/affect/record"
)

func TestFrameScoreHappiness(t *testing.T) {
	face := &record.Face{Happiness: 0.7}
	tests := []struct {
		name   string
		f      record.FrameScore
		want   float64
		wantOK bool
	}{
		{"face", record.FrameScore{FaceFound: true, Primary: face}, 0.7, true},
		{"no face", record.FrameScore{}, 0, false},
		{"face_found without primary", record.FrameScore{FaceFound: true}, 0, false},
		{"primary without face_found", record.FrameScore{Primary: face}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.f.Happiness()
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("Happiness() = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestFrameScoreKey(t *testing.T) {
	f := record.FrameScore{Session: "s01", Source: "0", Frame: 42}
	if got, want := f.Key(), "s01/0/42"; got != want {
		t.Fatalf("Key() = %q, want %q", got, want)
	}
}

func TestMarkerValidate(t *testing.T) {
	tests := []struct {
		m    record.Marker
		ok   bool
		name string
	}{
		{record.Marker{OnsetMS: 1000, Label: "happy_baby"}, true, "plain"},
		{record.Marker{OnsetMS: 0, Label: " "}, false, "blank label"},
		{record.Marker{OnsetMS: posInf(), Label: "x"}, false, "infinite onset"},
	}
	for _, tc := range tests {
		if err := tc.m.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func posInf() float64 { var z float64; return 1 / z }

// TestLayering keeps the scoring core free of the transport: the packages
// that find, score, evaluate, smooth and write faces must not pull in NATS
// or Prometheus, and record itself imports nothing of affect.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/affectlab/affect/classify",
		"github.com/affectlab/affect/score", "github.com/affectlab/affect/evaluate",
		"github.com/affectlab/affect/export", "github.com/affectlab/affect/smooth",
		"github.com/affectlab/affect/capture").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "nats-io") || strings.Contains(dep, "prometheus") ||
			dep == "github.com/affectlab/affect/pipeline" || dep == "github.com/affectlab/affect/metrics" {
			t.Errorf("the scoring core depends on %s", dep)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "github.com/affectlab/affect/record").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/affectlab/affect/") && dep != "github.com/affectlab/affect/record" {
			t.Errorf("record is not a leaf: it depends on %s", dep)
		}
	}
}
