// Package export writes affect's result files: the per-frame CSV, the summary
// JSON and the happiness plot. Every file is written atomically: to a
// temporary file in the same directory, synced, then renamed, so that a crash
// or Ctrl-C never leaves a half file that looks complete.
package export

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// File name suffixes for one input or session named BASE.
const (
	FramesSuffix  = ".frames.csv"
	SummarySuffix = ".summary.json"
	PlotSuffix    = ".happiness.png"
)

// Paths are the result files for one input or session.
type Paths struct {
	Frames  string
	Summary string
	Plot    string
}

// PathsFor returns the result file paths for base (a session name or an
// input's file name without extension) in dir.
func PathsFor(dir, base string) Paths {
	p := filepath.Join(dir, base)
	return Paths{Frames: p + FramesSuffix, Summary: p + SummarySuffix, Plot: p + PlotSuffix}
}

// BaseName turns an input path or URL into a file base name: its file name
// without extension, with characters unsafe in file names replaced.
func BaseName(input string) string {
	b := filepath.Base(strings.TrimRight(input, "/"))
	if ext := filepath.Ext(b); ext != "" && len(ext) < len(b) {
		b = strings.TrimSuffix(b, ext)
	}
	b = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, b)
	if b == "" || b == "." || b == ".." {
		b = "input"
	}
	return b
}

// AtomicFile is a file that appears under its name only when Commit succeeds.
type AtomicFile struct {
	f    *os.File
	path string
	done bool
}

// Create starts writing path atomically; its directory is created if needed.
func Create(path string) (*AtomicFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: creating directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &AtomicFile{f: f, path: path}, nil
}

// Write writes to the temporary file.
func (a *AtomicFile) Write(p []byte) (int, error) { return a.f.Write(p) }

// Commit syncs and renames the temporary file to its final name.
func (a *AtomicFile) Commit() error {
	if a.done {
		return fmt.Errorf("export: %s already closed", a.path)
	}
	a.done = true
	if err := a.f.Sync(); err != nil {
		a.f.Close()
		os.Remove(a.f.Name())
		return fmt.Errorf("export: writing %s: %w", a.path, err)
	}
	if err := a.f.Close(); err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("export: writing %s: %w", a.path, err)
	}
	if err := os.Chmod(a.f.Name(), 0o644); err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("export: %w", err)
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// Abort removes the temporary file; it is a no-op after Commit.
func (a *AtomicFile) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.f.Close()
	os.Remove(a.f.Name())
}

// WriteFile writes path atomically with the bytes fn writes.
func WriteFile(path string, fn func(w io.Writer) error) error {
	a, err := Create(path)
	if err != nil {
		return err
	}
	if err := fn(a); err != nil {
		a.Abort()
		return fmt.Errorf("export: writing %s: %w", path, err)
	}
	return a.Commit()
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	return WriteFile(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
