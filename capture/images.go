package capture

import (
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
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if ImageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: directory %s holds no images (.jpg, .png, .bmp, .webp, .tif)", ErrEmpty, dir)
	}
	sort.Strings(files)
	return openImages(dir, KindDir, files, o)
}

func openImages(name string, kind Kind, files []string, o options) (Source, error) {
	s := &imageSource{files: files, samp: sampler{o: o}, info: Info{Name: name, Kind: kind, FrameCount: int64(len(files))}}
	if kind == KindImage {
		// A single image must be readable: fail at Open, not later.
		m := gocv.IMRead(files[0], gocv.IMReadColor)
		defer m.Close()
		if m.Empty() {
			return nil, fmt.Errorf("%w: %s is not an image OpenCV can read", ErrUnreadable, files[0])
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
		m := gocv.IMRead(s.files[i], gocv.IMReadColor)
		if m.Empty() {
			m.Close()
			f.Image = gocv.NewMat()
			f.Err = fmt.Errorf("%w: %s is not an image OpenCV can read", ErrUnreadable, s.files[i])
			return f, nil
		}
		f.Image = m
		return f, nil
	}
}
