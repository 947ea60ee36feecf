package export

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/affectlab/affect/record"
)

// Columns of the per-frame CSV, in file order: the one definition used by
// the writer (FrameRecord) and the reader (FramesReader). New columns are
// only ever appended, so existing columns keep their place.
const (
	ColFrame = iota
	ColTimeMS
	ColCaptureUnixMS
	ColFaceFound
	ColNFaces
	ColX
	ColY
	ColW
	ColH
	ColHappiness
	ColProbs           // 7 columns, record.Labels order
	ColFaceFrac        = ColProbs + len(record.Labels)
	ColLowQuality      = ColFaceFrac + 1
	ColError           = ColFaceFrac + 2
	ColSmoothed        = ColFaceFrac + 3
	ColSharpness       = ColFaceFrac + 4
	ColDetectNeighbors = ColFaceFrac + 5
	ColSymmetry        = ColFaceFrac + 6
	// ColFile is the image file of the row when the input is a folder of
	// images (or one image); empty for video, cameras and streams.
	ColFile = ColFaceFrac + 7
	// ColYaw, ColPitch and ColRoll are the head pose from the landmarks, in degrees.
	ColYaw   = ColFaceFrac + 8
	ColPitch = ColFaceFrac + 9
	ColRoll  = ColFaceFrac + 10
	// ColFaceID is the participant's face track ID (empty when not tracked).
	ColFaceID = ColFaceFrac + 11
	numCols   = ColFaceID + 1
)

// FramesHeader are the per-frame CSV columns. A frame with no face has
// face_found=0 and empty box, happiness and probability cells (never 0).
var FramesHeader = func() []string {
	h := make([]string, numCols)
	copy(h, []string{"frame", "time_ms", "capture_unix_ms", "face_found", "n_faces", "x", "y", "w", "h", "happiness"})
	copy(h[ColProbs:], record.Labels[:])
	copy(h[ColFaceFrac:], []string{"face_frac", "low_quality", "error", "happiness_smoothed", "sharpness", "detect_neighbors", "symmetry", "file", "yaw", "pitch", "roll", "face_id"})
	return h
}()

// LandmarkColumns are the optional per-frame CSV columns of the
// participant's 68 landmarks in frame pixels: x0, y0, x1, y1, ... x67, y67
// (FramesOptions.Landmarks; `affect score --landmarks`).
func LandmarkColumns() []string {
	c := make([]string, 0, 2*len(record.Landmarks68{}))
	for i := range len(record.Landmarks68{}) {
		c = append(c, "x"+strconv.Itoa(i), "y"+strconv.Itoa(i))
	}
	return c
}

// FramesOptions choose optional per-frame CSV columns.
type FramesOptions struct {
	// Landmarks adds LandmarkColumns after FramesHeader; the cells are
	// empty for frames without a face or without landmarks.
	Landmarks bool
}

// Header returns the CSV header these options give.
func (o FramesOptions) Header() []string {
	h := append([]string(nil), FramesHeader...)
	if o.Landmarks {
		h = append(h, LandmarkColumns()...)
	}
	return h
}

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
	return NewFramesWriterOptions(path, FramesOptions{})
}

// NewFramesWriterOptions is NewFramesWriter with optional columns.
func NewFramesWriterOptions(path string, o FramesOptions) (*FramesWriter, error) {
	a, err := Create(path)
	if err != nil {
		return nil, err
	}
	header := o.Header()
	buf := bufio.NewWriterSize(a, 64<<10)
	fw := &FramesWriter{a: a, buf: buf, w: csv.NewWriter(buf), rec: make([]string, len(header))}
	if err := fw.w.Write(header); err != nil {
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

// FrameRecord fills rec with f's cells: len(FramesHeader) cells, or
// len(FramesOptions{Landmarks: true}.Header()) with the landmark columns.
func FrameRecord(f *record.FrameScore, rec []string) {
	for i := range rec {
		rec[i] = ""
	}
	rec[ColFrame] = strconv.FormatInt(f.Frame, 10)
	rec[ColTimeMS] = strconv.FormatFloat(f.MediaMS, 'f', 3, 64)
	if f.CaptureUnixNano != 0 {
		rec[ColCaptureUnixMS] = strconv.FormatInt(f.CaptureUnixNano/1e6, 10)
	}
	rec[ColFaceFound] = "0"
	if f.FaceFound {
		rec[ColFaceFound] = "1"
	}
	rec[ColNFaces] = strconv.Itoa(f.NFaces)
	if p := f.Primary; f.FaceFound && p != nil {
		rec[ColX] = strconv.Itoa(p.Box.X)
		rec[ColY] = strconv.Itoa(p.Box.Y)
		rec[ColW] = strconv.Itoa(p.Box.W)
		rec[ColH] = strconv.Itoa(p.Box.H)
		rec[ColHappiness] = strconv.FormatFloat(p.Happiness, 'f', 6, 64)
		for i, v := range p.Probs {
			rec[ColProbs+i] = strconv.FormatFloat(v, 'f', 6, 64)
		}
		if q := p.Quality; q != nil {
			rec[ColFaceFrac] = strconv.FormatFloat(q.FaceFrac, 'f', 4, 64)
			rec[ColLowQuality] = "0"
			if q.Low {
				rec[ColLowQuality] = "1"
			}
			rec[ColSharpness] = strconv.FormatFloat(q.Sharpness, 'f', 1, 64)
			if q.DetectNeighbors != nil {
				rec[ColDetectNeighbors] = strconv.Itoa(*q.DetectNeighbors)
			}
			rec[ColSymmetry] = strconv.FormatFloat(q.Symmetry, 'f', 4, 64)
			for i, v := range []*float64{q.Yaw, q.Pitch, q.Roll} {
				if v != nil {
					rec[ColYaw+i] = strconv.FormatFloat(*v, 'f', 2, 64)
				}
			}
		}
		if l := p.Landmarks; l != nil && len(rec) >= numCols+2*len(l) {
			for i, pt := range l {
				rec[numCols+2*i] = strconv.FormatFloat(pt.X, 'f', 2, 64)
				rec[numCols+2*i+1] = strconv.FormatFloat(pt.Y, 'f', 2, 64)
			}
		}
	}
	rec[ColError] = f.Error
	if p := f.Primary; f.FaceFound && p != nil && p.Smoothed != nil {
		rec[ColSmoothed] = FormatSmoothed(*p.Smoothed)
	}
	rec[ColFile] = f.File
	if p := f.Primary; f.FaceFound && p != nil && p.ID > 0 {
		rec[ColFaceID] = strconv.Itoa(p.ID)
	}
}

// FormatSmoothed is the happiness_smoothed cell of a value.
func FormatSmoothed(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// WriteFramesCSV writes frames to path atomically.
func WriteFramesCSV(path string, frames []record.FrameScore) error {
	return WriteFramesCSVOptions(path, frames, FramesOptions{})
}

// WriteFramesCSVOptions is WriteFramesCSV with optional columns.
func WriteFramesCSVOptions(path string, frames []record.FrameScore, o FramesOptions) error {
	fw, err := NewFramesWriterOptions(path, o)
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
