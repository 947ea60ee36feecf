// Package testenv finds the project's and the shared evaluation data's files in tests.
package testenv

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
)

// Root returns the module root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Sample returns the path of the bundled sample video.
func Sample(t testing.TB) string {
	return filepath.Join(Root(t), "samples", "sample.mp4")
}

// Shared returns the path of rel inside ../shared/data beside the module root
// (or $AFFECT_SHARED_DATA), and skips the test when it is absent.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	base := os.Getenv("AFFECT_SHARED_DATA")
	if base == "" {
		base = filepath.Join(filepath.Dir(Root(t)), "shared", "data")
	}
	p := filepath.Join(base, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared evaluation data %s is absent (expected ../shared/data beside the repository, or set AFFECT_SHARED_DATA): skipping", p)
	}
	return p
}

// ReadCSV reads every row of the CSV file at path (header included).
func ReadCSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
