package export

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/affectlab/affect/chart"
	"github.com/affectlab/affect/internal/atomicfile"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/smooth"
)

// ResultWriter writes the result files of one input, BASE.frames.csv,
// BASE.happiness.png and BASE.summary.json, all together or none
// (atomicfile.Set): a failure at any point, a full disk included, leaves
// none of them and no temporary file.
//
// Frames stream through it: each row goes to a hidden temporary file in the
// output directory as it comes, and only the media time, happiness and
// whether there is a face (17 bytes) stay in memory per frame. Commit then
// smooths the series, copies the rows into the final CSV with their
// happiness_smoothed cell, and draws the plot from fixed bins (chart).
type ResultWriter struct {
	paths    Paths
	raw      *os.File
	rawBuf   *bufio.Writer
	rawCSV   *csv.Writer
	header   []string
	rec      []string
	times, x []float64
	ok       []bool
	done     bool
}

// NewResultWriter starts the result files at paths; their directory is created if needed.
func NewResultWriter(paths Paths) (*ResultWriter, error) {
	return NewResultWriterOptions(paths, FramesOptions{})
}

// NewResultWriterOptions is NewResultWriter with optional per-frame columns.
func NewResultWriterOptions(paths Paths, o FramesOptions) (*ResultWriter, error) {
	dir := filepath.Dir(paths.Frames)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: creating directory %s: %w", dir, err)
	}
	raw, err := os.CreateTemp(dir, atomicfile.TempPrefix+filepath.Base(paths.Frames)+".rows-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	buf := bufio.NewWriterSize(raw, 64<<10)
	return &ResultWriter{paths: paths, raw: raw, rawBuf: buf, rawCSV: csv.NewWriter(buf), header: o.Header(), rec: make([]string, len(o.Header()))}, nil
}

// Paths are the files the writer makes.
func (w *ResultWriter) Paths() Paths { return w.paths }

// Rows is the number of frames added.
func (w *ResultWriter) Rows() int { return len(w.times) }

// Add appends one frame (frames come in order).
func (w *ResultWriter) Add(f *record.FrameScore) error {
	if w.done {
		return errors.New("export: result already committed or aborted")
	}
	FrameRecord(f, w.rec)
	w.rec[ColSmoothed] = "" // set by Commit, from every frame
	if err := w.rawCSV.Write(w.rec); err != nil {
		return fmt.Errorf("export: writing %s: %w", w.paths.Frames, err)
	}
	h, ok := f.Happiness()
	w.times = append(w.times, f.MediaMS)
	w.x = append(w.x, h)
	w.ok = append(w.ok, ok)
	return nil
}

// Commit writes the three files and moves them into place together, the
// summary last: smoothMS is the centred window of happiness_smoothed (0:
// none); plot, when not nil, draws BASE.happiness.png; summary is encoded as
// JSON. On error nothing of the result is left.
func (w *ResultWriter) Commit(smoothMS float64, plot *PlotOptions, summary any) (err error) {
	defer w.Abort()
	w.rawCSV.Flush()
	if err := w.rawCSV.Error(); err != nil {
		return fmt.Errorf("export: writing %s: %w", w.paths.Frames, err)
	}
	if err := w.rawBuf.Flush(); err != nil {
		return fmt.Errorf("export: writing %s: %w", w.paths.Frames, err)
	}
	var smoothed []float64
	if smoothMS > 0 {
		if smoothed, err = smooth.Series(w.times, w.x, w.ok, smoothMS); err != nil {
			return err
		}
	}
	var set atomicfile.Set
	defer set.Abort()
	if err := set.WriteFile(w.paths.Frames, func(out io.Writer) error { return w.copyRows(out, smoothed) }); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if plot != nil {
		t0, t1 := chart.Range(len(w.times), func(i int) float64 { return w.times[i] })
		s := chart.NewSeries(t0, t1, PlotColumns(*plot))
		for i, t := range w.times {
			s.Add(t, w.ok[i], w.x[i])
		}
		if err := set.WriteFile(w.paths.Plot, func(out io.Writer) error { return PlotSeriesPNG(out, s, *plot) }); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := set.WriteFile(w.paths.Summary, func(out io.Writer) error { return EncodeJSON(out, summary) }); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := set.Commit(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// copyRows copies the rows of the temporary file into out, with the header
// and each face row's happiness_smoothed cell.
func (w *ResultWriter) copyRows(out io.Writer, smoothed []float64) error {
	if _, err := w.raw.Seek(0, io.SeekStart); err != nil {
		return err
	}
	cr := csv.NewReader(bufio.NewReaderSize(w.raw, 64<<10))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(w.header)
	buf := bufio.NewWriterSize(out, 64<<10)
	cw := csv.NewWriter(buf)
	if err := cw.Write(w.header); err != nil {
		return err
	}
	for i := range w.times {
		rec, err := cr.Read()
		if err != nil {
			return fmt.Errorf("reading back row %d: %w", i+1, err)
		}
		if smoothed != nil && w.ok[i] && !math.IsNaN(smoothed[i]) {
			rec[ColSmoothed] = FormatSmoothed(smoothed[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return buf.Flush()
}

// Abort discards everything written; it is a no-op after Commit.
func (w *ResultWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.raw.Close()
	os.Remove(w.raw.Name())
}
