// Package export writes affect's result files: the per-frame CSV, the summary
// JSON and the happiness plot. Every file is written atomically: to a
// temporary file in the same directory, synced, then renamed, so that a crash
// or Ctrl-C never leaves a half file that looks complete.
package export

import (
	"encoding/json"
	"fmt"
	"github.com/affectlab/affect/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
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

// AtomicFile is a file that appears under its name only when Commit
// succeeds (internal/atomicfile, affect's one atomic writer).
type AtomicFile = atomicfile.File

// Create starts writing path atomically; its directory is created if needed.
func Create(path string) (*AtomicFile, error) {
	if err := mkdirFor(path); err != nil {
		return nil, err
	}
	return atomicfile.Create(path)
}

// WriteFile writes path atomically with the bytes fn writes; its directory
// is created if needed.
func WriteFile(path string, fn func(w io.Writer) error) error {
	if err := mkdirFor(path); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, fn)
}

func mkdirFor(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("export: creating directory %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	return WriteFile(path, func(w io.Writer) error { return EncodeJSON(w, v) })
}

// EncodeJSON writes v as indented JSON to w.
func EncodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
