package export

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/affectlab/affect/record"
)

// FramesHeader are the per-frame CSV columns. A frame with no face has
// face_found=0 and empty box, happiness and probability cells (never 0).
var FramesHeader = append([]string{
	"frame", "time_ms", "capture_unix_ms", "face_found", "n_faces", "x", "y", "w", "h", "happiness",
}, append(record.Labels[:], "face_frac", "low_quality", "error", "happiness_smoothed",
	"sharpness", "detect_neighbors", "symmetry")...)

// FramesWriter streams per-frame rows into a CSV file that appears only on Commit.
type FramesWriter struct {
	a    *AtomicFile
	buf  *bufio.Writer
	w    *csv.Writer
	rec  []string
	rows int
}

// NewFramesWriter starts the per-frame CSV at path and writes its header.
func NewFramesWriter(path string) (*FramesWriter, error) {
	a, err := Create(path)
	if err != nil {
		return nil, err
	}
	buf := bufio.NewWriterSize(a, 64<<10)
	fw := &FramesWriter{a: a, buf: buf, w: csv.NewWriter(buf), rec: make([]string, len(FramesHeader))}
	if err := fw.w.Write(FramesHeader); err != nil {
		a.Abort()
		return nil, err
	}
	return fw, nil
}

// Rows returns the number of frame rows written.
func (fw *FramesWriter) Rows() int { return fw.rows }

// Write appends one frame's row.
func (fw *FramesWriter) Write(f *record.FrameScore) error {
	FrameRecord(f, fw.rec)
	fw.rows++
	return fw.w.Write(fw.rec)
}

// Commit flushes and moves the file into place.
func (fw *FramesWriter) Commit() error {
	fw.w.Flush()
	if err := fw.w.Error(); err != nil {
		fw.a.Abort()
		return fmt.Errorf("export: %w", err)
	}
	if err := fw.buf.Flush(); err != nil {
		fw.a.Abort()
		return fmt.Errorf("export: %w", err)
	}
	return fw.a.Commit()
}

// Abort discards the file.
func (fw *FramesWriter) Abort() { fw.a.Abort() }

// FrameRecord fills rec (len(FramesHeader)) with f's cells.
func FrameRecord(f *record.FrameScore, rec []string) {
	for i := range rec {
		rec[i] = ""
	}
	rec[0] = strconv.FormatInt(f.Frame, 10)
	rec[1] = strconv.FormatFloat(f.MediaMS, 'f', 3, 64)
	if f.CaptureUnixNano != 0 {
		rec[2] = strconv.FormatInt(f.CaptureUnixNano/1e6, 10)
	}
	rec[3] = "0"
	if f.FaceFound {
		rec[3] = "1"
	}
	rec[4] = strconv.Itoa(f.NFaces)
	if p := f.Primary; f.FaceFound && p != nil {
		rec[5] = strconv.Itoa(p.Box.X)
		rec[6] = strconv.Itoa(p.Box.Y)
		rec[7] = strconv.Itoa(p.Box.W)
		rec[8] = strconv.Itoa(p.Box.H)
		rec[9] = strconv.FormatFloat(p.Happiness, 'f', 6, 64)
		for i, v := range p.Probs {
			rec[10+i] = strconv.FormatFloat(v, 'f', 6, 64)
		}
		if q := p.Quality; q != nil {
			rec[17] = strconv.FormatFloat(q.FaceFrac, 'f', 4, 64)
			rec[18] = "0"
			if q.Low {
				rec[18] = "1"
			}
			rec[21] = strconv.FormatFloat(q.Sharpness, 'f', 1, 64)
			if q.DetectNeighbors != nil {
				rec[22] = strconv.Itoa(*q.DetectNeighbors)
			}
			rec[23] = strconv.FormatFloat(q.Symmetry, 'f', 4, 64)
		}
	}
	rec[19] = f.Error
	if p := f.Primary; f.FaceFound && p != nil && p.Smoothed != nil {
		rec[20] = strconv.FormatFloat(*p.Smoothed, 'f', 6, 64)
	}
}

// WriteFramesCSV writes frames to path atomically.
func WriteFramesCSV(path string, frames []record.FrameScore) error {
	fw, err := NewFramesWriter(path)
	if err != nil {
		return err
	}
	for i := range frames {
		if err := fw.Write(&frames[i]); err != nil {
			fw.Abort()
			return fmt.Errorf("export: writing %s: %w", path, err)
		}
	}
	return fw.Commit()
}
