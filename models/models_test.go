package models_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/affectlab/affect/models"
)

func TestGetAndOpen(t *testing.T) {
	names := models.Names()
	if strings.Join(names, ",") != "faceapi,human" {
		t.Fatalf("Names() = %v", names)
	}
	for _, n := range names {
		s, err := models.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != n || s.InputSize <= 0 || (s.Channels != 1 && s.Channels != 3) || s.Scale <= 0 ||
			s.Margin < 0 || s.Margin > 0.5 || s.Source == "" || s.License == "" || s.Training == "" {
			t.Errorf("%s: incomplete spec %+v", n, s)
		}
		if s.Labels[s.HappyIndex] != "happy" {
			t.Errorf("%s: HappyIndex %d is %q", n, s.HappyIndex, s.Labels[s.HappyIndex])
		}
		for _, f := range []string{s.File, s.FastFile} {
			b, err := models.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 100000 {
				t.Errorf("%s: %d bytes", f, len(b))
			}
		}
	}
	if _, err := models.Get("emotion-ferplus"); !errors.Is(err, models.ErrUnknownModel) {
		t.Errorf("unknown model: got %v", err)
	}
	if _, err := models.Open("nope.onnx"); err == nil {
		t.Error("Open of a missing file: no error")
	}
}

// TestOnlyModelFiles: every .onnx file in the folder belongs to a Spec (they
// are all embedded, so a stray one would bloat the binary).
func TestOnlyModelFiles(t *testing.T) {
	var want []string
	for _, n := range models.Names() {
		s, _ := models.Get(n)
		want = append(want, s.File, s.FastFile)
	}
	for _, n := range models.LandmarkModelNames {
		lm, err := models.GetLandmarks(n)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, lm.File, lm.FastFile)
	}
	for _, n := range models.DetectorNames() {
		s, _ := models.GetDetector(n)
		want = append(want, s.File)
	}
	got, err := filepath.Glob("*.onnx")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf(".onnx files %v, specs name %v", got, want)
	}
}

// TestModelCardHashes: README.md (the model card) lists the sha256 of every
// model file as it is committed.
func TestModelCardHashes(t *testing.T) {
	card, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.onnx")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if !strings.Contains(string(card), hex.EncodeToString(sum[:])) {
			t.Errorf("README.md does not list %s's sha256 %x (rebuild? update the card)", f, sum)
		}
	}
}

func TestGetLandmarks(t *testing.T) {
	for _, n := range models.LandmarkModelNames {
		s, err := models.GetLandmarks(n)
		if err != nil || s.Name != n || s.InputSize != 112 || s.Channels != 3 || !s.PadToSquare || s.Source == "" || s.License == "" {
			t.Errorf("GetLandmarks(%q) = %+v, %v", n, s, err)
		}
		if b, err := models.Open(s.FastFile); err != nil || len(b) < 100000 {
			t.Errorf("%s: %d bytes, %v", s.FastFile, len(b), err)
		}
	}
	for _, n := range []string{"", "faceapi", "landmark5"} {
		if _, err := models.GetLandmarks(n); !errors.Is(err, models.ErrUnknownModel) {
			t.Errorf("GetLandmarks(%q): %v, want ErrUnknownModel", n, err)
		}
	}
}

func TestLandmarksSpec(t *testing.T) {
	s := models.Landmarks()
	if s.Name != "landmark68" || s.InputSize != 112 || s.Channels != 3 || !s.PadToSquare || s.Source == "" || s.License == "" || s.Training == "" {
		t.Errorf("incomplete landmark spec %+v", s)
	}
	for _, n := range models.Names() {
		if n == s.Name {
			t.Errorf("the landmark model is listed among the expression models")
		}
	}
	if _, err := models.Get(s.Name); !errors.Is(err, models.ErrUnknownModel) {
		t.Errorf("Get(%q) = %v: the landmark model is not an expression model", s.Name, err)
	}
	for _, f := range []string{s.File, s.FastFile} {
		b, err := models.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 100000 {
			t.Errorf("%s: %d bytes", f, len(b))
		}
	}
}
