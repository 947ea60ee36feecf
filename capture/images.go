package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// imageSource reads still images: one file or a directory's images in name order.
type imageSource struct {
	info  Info
	files []string
	samp  sampler
	next  int
}

func openDir(dir string, o options) (Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("capture: reading directory %s: %w", dir, err)
	}
	var files []string
	var skipped []SkippedFile
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "."):
			skipped = append(skipped, SkippedFile{e.Name(), "hidden file"})
		case e.IsDir():
			skipped = append(skipped, SkippedFile{e.Name(), "a folder (folders inside are not read)"})
		case ImageExts[strings.ToLower(filepath.Ext(e.Name()))]:
			files = append(files, filepath.Join(dir, e.Name()))
		default:
			skipped = append(skipped, SkippedFile{e.Name(), "not an image file name (.jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff, .pgm, .ppm)"})
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: directory %s holds no images (.jpg, .png, .bmp, .webp, .tif)", ErrEmpty, dir)
	}
	sort.Strings(files)
	src, err := openImages(dir, KindDir, files, o)
	if err != nil {
		return nil, err
	}
	src.(*imageSource).info.Skipped = skipped
	return src, nil
}

// SkippedFile is a directory entry that a directory source does not read.
type SkippedFile struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// readImage reads an image file. A JPEG that ends before its end-of-image
// marker (truncated) is an error, although OpenCV would decode its first
// part and fill the rest with grey.
func readImage(path string) (gocv.Mat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("%w: %s: %v", ErrUnreadable, path, err)
	}
	if truncatedJPEG(b) {
		return gocv.NewMat(), fmt.Errorf("%w: %s is a JPEG that ends before its end marker (a partial download or copy?)", ErrTruncated, path)
	}
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil || m.Empty() {
		m.Close()
		return gocv.NewMat(), fmt.Errorf("%w: %s is not an image OpenCV can read", ErrUnreadable, path)
	}
	return m, nil
}

// truncatedJPEG reports whether b is a JPEG whose last scan is not followed
// by the end-of-image marker FF D9.
func truncatedJPEG(b []byte) bool {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return false // not a JPEG
	}
	sos := bytes.LastIndex(b, []byte{0xFF, 0xDA})
	eoi := bytes.LastIndex(b, []byte{0xFF, 0xD9})
	return eoi < 0 || eoi < sos
}

func openImages(name string, kind Kind, files []string, o options) (Source, error) {
	s := &imageSource{files: files, samp: sampler{o: o}, info: Info{Name: name, Kind: kind, FrameCount: int64(len(files))}}
	if kind == KindImage {
		// A single image must be readable: fail at Open, not later.
		m, err := readImage(files[0])
		defer m.Close()
		if err != nil {
			return nil, err
		}
		s.info.Width, s.info.Height = m.Cols(), m.Rows()
	}
	return s, nil
}

func (s *imageSource) Info() Info   { return s.info }
func (s *imageSource) Close() error { return nil }

func (s *imageSource) Next(ctx context.Context) (Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		if s.next >= len(s.files) {
			return Frame{}, io.EOF
		}
		i := s.next
		s.next++
		// Images have no media time: each counts as one "frame" of 1 s so that
		// time-based sampling and plots stay meaningful.
		if !s.samp.keep(int64(i), float64(i)*1000) {
			continue
		}
		f := Frame{Index: int64(i), TimeMS: float64(i) * 1000, Wall: time.Now(), Name: filepath.Base(s.files[i])}
		m, err := readImage(s.files[i])
		f.Image, f.Err = m, err
		return f, nil
	}
}
