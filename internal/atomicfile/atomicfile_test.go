package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n
}

func write(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestSetCommitsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	var s Set
	for _, n := range []string{"a.csv", "a.png", "a.json"} {
		if err := s.WriteFile(filepath.Join(dir, n), write(n)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(names(t, dir)); got != 3 { // temporaries only
		t.Fatalf("%d files before commit", got)
	}
	for _, n := range names(t, dir) {
		if n[0] != '.' {
			t.Fatalf("%s visible before commit", n)
		}
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); len(got) != 3 || got[0] != "a.csv" || got[1] != "a.json" || got[2] != "a.png" {
		t.Fatalf("after commit: %v", got)
	}

	// The last rename fails (a folder holds its name): the files of the set
	// already renamed are removed again, and no temporary file stays.
	dir2 := t.TempDir()
	os.MkdirAll(filepath.Join(dir2, "b.json", "x"), 0o755)
	var s2 Set
	s2.WriteFile(filepath.Join(dir2, "b.csv"), write("rows"))
	s2.WriteFile(filepath.Join(dir2, "b.json"), write("{}"))
	if err := s2.Commit(); err == nil {
		t.Fatal("commit over a folder succeeded")
	}
	if got := names(t, dir2); len(got) != 1 || got[0] != "b.json" {
		t.Fatalf("after a failed commit: %v, want only the folder that was there", got)
	}

	// A writer error aborts the set.
	dir3 := t.TempDir()
	var s3 Set
	s3.WriteFile(filepath.Join(dir3, "c.csv"), write("rows"))
	boom := errors.New("boom")
	if err := s3.WriteFile(filepath.Join(dir3, "c.png"), func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if got := names(t, dir3); len(got) != 0 {
		t.Fatalf("after a failed write: %v", got)
	}
}
