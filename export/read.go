package export

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/affectlab/affect/record"
)

// FramesReader reads a per-frame CSV written by FramesWriter, row by row:
// columns are found by their FramesHeader names, in any order (frame,
// time_ms, face_found and happiness are required; the others may be absent,
// as in files of older versions). A row with face_found=1 gets a primary
// face; its empty happiness is an error. Errors name the line.
type FramesReader struct {
	cr  *csv.Reader
	col [numCols]int // file column of each Col*, -1 when absent
}

// NewFramesReader reads the header of a per-frame CSV.
func NewFramesReader(r io.Reader) (*FramesReader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty (expected a header line)")
	}
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	for i, h := range header {
		byName[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	fr := &FramesReader{cr: cr}
	for c, name := range FramesHeader {
		i, ok := byName[name]
		if !ok {
			i = -1
		}
		fr.col[c] = i
	}
	for _, req := range []int{ColFrame, ColTimeMS, ColFaceFound, ColHappiness} {
		if fr.col[req] < 0 {
			return nil, fmt.Errorf("line 1: no column %q; is this a per-frame CSV of 'affect score'? (columns: %s)", FramesHeader[req], strings.Join(FramesHeader, ","))
		}
	}
	return fr, nil
}

// Next returns the next row's frame, or io.EOF after the last.
func (fr *FramesReader) Next() (record.FrameScore, error) {
	var f record.FrameScore
	rec, err := fr.cr.Read()
	if err != nil {
		return f, err
	}
	get := func(c int) string {
		if i := fr.col[c]; i >= 0 && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	line, _ := fr.cr.FieldPos(0)
	bad := func(c int, err error) error { return fmt.Errorf("line %d: %s: %v", line, FramesHeader[c], err) }
	f.Schema = record.SchemaVersion
	if f.Frame, err = strconv.ParseInt(get(ColFrame), 10, 64); err != nil {
		return f, bad(ColFrame, err)
	}
	if f.MediaMS, err = strconv.ParseFloat(get(ColTimeMS), 64); err != nil {
		return f, bad(ColTimeMS, err)
	}
	if v := get(ColCaptureUnixMS); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return f, bad(ColCaptureUnixMS, err)
		}
		f.CaptureUnixNano = ms * int64(time.Millisecond)
	}
	if v := get(ColNFaces); v != "" {
		if f.NFaces, err = strconv.Atoi(v); err != nil {
			return f, bad(ColNFaces, err)
		}
	}
	f.Error = get(ColError)
	f.File = get(ColFile)
	switch ff := get(ColFaceFound); ff {
	case "0":
	case "1":
		p := &record.Face{}
		if p.Happiness, err = strconv.ParseFloat(get(ColHappiness), 64); err != nil || p.Happiness < 0 || p.Happiness > 1 {
			return f, fmt.Errorf("line %d: happiness of a frame with a face: %q is not a number in [0,1]", line, get(ColHappiness))
		}
		for i := range record.Labels {
			if v := get(ColProbs + i); v != "" {
				if p.Probs[i], err = strconv.ParseFloat(v, 64); err != nil {
					return f, bad(ColProbs+i, err)
				}
			}
		}
		for c, dst := range map[int]*int{ColX: &p.Box.X, ColY: &p.Box.Y, ColW: &p.Box.W, ColH: &p.Box.H} {
			if v := get(c); v != "" {
				if *dst, err = strconv.Atoi(v); err != nil {
					return f, bad(c, err)
				}
			}
		}
		if v := get(ColSmoothed); v != "" {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return f, bad(ColSmoothed, err)
			}
			p.Smoothed = &s
		}
		if v := get(ColFaceFrac); v != "" {
			q := &record.Quality{}
			if q.FaceFrac, err = strconv.ParseFloat(v, 64); err != nil {
				return f, bad(ColFaceFrac, err)
			}
			q.Low = get(ColLowQuality) == "1"
			for c, dst := range map[int]*float64{ColSharpness: &q.Sharpness, ColSymmetry: &q.Symmetry} {
				if v := get(c); v != "" {
					if *dst, err = strconv.ParseFloat(v, 64); err != nil {
						return f, bad(c, err)
					}
				}
			}
			for c, dst := range map[int]**float64{ColYaw: &q.Yaw, ColPitch: &q.Pitch, ColRoll: &q.Roll} {
				if v := get(c); v != "" {
					a, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return f, bad(c, err)
					}
					*dst = &a
				}
			}
			if v := get(ColDetectNeighbors); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					return f, bad(ColDetectNeighbors, err)
				}
				q.DetectNeighbors = &n
			}
			p.Quality = q
		}
		if v := get(ColFaceID); v != "" {
			if p.ID, err = strconv.Atoi(v); err != nil {
				return f, bad(ColFaceID, err)
			}
			f.FaceID = p.ID
		}
		f.FaceFound, f.Primary = true, p
	default:
		return f, bad(ColFaceFound, fmt.Errorf("%q is neither 0 nor 1", ff))
	}
	return f, nil
}

// ReadFramesCSV reads every row of a per-frame CSV (see FramesReader).
func ReadFramesCSV(r io.Reader) ([]record.FrameScore, error) {
	fr, err := NewFramesReader(r)
	if err != nil {
		return nil, err
	}
	var out []record.FrameScore
	for {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
}
