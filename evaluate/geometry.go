package evaluate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"gocv.io/x/gocv"
)

// geometryCache is the file format of the smile geometry of a set's samples.
type geometryCache struct {
	// Key fingerprints the samples (paths, frames, boxes) and the backend.
	Key string                    `json:"key"`
	Geo []*classify.SmileGeometry `json:"geo"`
}

func geometryKey(samples []FaceSample, backend string) string {
	h := sha256.New()
	fmt.Fprintf(h, "backend=%s\n", backend)
	for _, s := range samples {
		fmt.Fprintf(h, "%s|%d|%v|%v\n", s.Path, s.Frame, s.Box, s.Usable())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CachedGeometry sets Geo of every usable sample to the smile geometry of
// the face-api landmarks in its box (the detector's box; the whole image
// for a face crop or a photo without a face, as the Scorer does), reading dir/<set>.geometry.json.gz
// when it was made for the same samples and otherwise computing and writing it.
func CachedGeometry(ctx context.Context, dir, set string, samples []FaceSample, backend string, workers int, progress func(int)) (bool, error) {
	key := geometryKey(samples, backend)
	file := filepath.Join(dir, set+".geometry.json.gz")
	var c geometryCache
	if dir != "" {
		if err := readGzipJSON(file, &c); err == nil && c.Key == key && len(c.Geo) == len(samples) {
			for i := range samples {
				samples[i].Geo = c.Geo[i]
			}
			return true, nil
		}
	}
	geo, err := extractGeometry(ctx, samples, backend, workers, progress)
	if err != nil {
		return false, err
	}
	for i := range samples {
		samples[i].Geo = geo[i]
	}
	if dir == "" {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("cache: %w", err)
	}
	return false, writeGzipJSON(file, geometryCache{Key: key, Geo: geo})
}

// extractGeometry runs the landmark net on every usable sample's face.
func extractGeometry(ctx context.Context, samples []FaceSample, backend string, workers int, progress func(int)) ([]*classify.SmileGeometry, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	// One job per image or per video (frames are read in order).
	var jobs [][]int
	byPath := map[string]int{}
	for i, s := range samples {
		if !s.Usable() {
			continue // includes video frames without a face
		}
		if s.Frame < 0 {
			jobs = append(jobs, []int{i})
			continue
		}
		j, ok := byPath[s.Path]
		if !ok {
			j = len(jobs)
			byPath[s.Path] = j
			jobs = append(jobs, nil)
		}
		jobs[j] = append(jobs[j], i)
	}
	var lms []*classify.Landmarker
	defer func() {
		for _, l := range lms {
			l.Close()
		}
	}()
	for range workers {
		l, err := classify.NewLandmarker(backend)
		if err != nil {
			return nil, err
		}
		lms = append(lms, l)
	}
	out := make([]*classify.SmileGeometry, len(samples))
	errs := make([]error, len(jobs))
	err := parallel(ctx, lms, len(jobs), progress, func(l *classify.Landmarker, next <-chan int, tick func()) {
		for j := range next {
			errs[j] = geometryJob(ctx, l, samples, jobs[j], out)
			tick()
		}
	})
	if err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}

func geometryJob(ctx context.Context, l *classify.Landmarker, samples []FaceSample, idx []int, out []*classify.SmileGeometry) error {
	one := func(img gocv.Mat, i int) error {
		b := samples[i].Box
		lm, err := l.Landmarks(img, image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H))
		if err != nil {
			return fmt.Errorf("%s frame %d: %w", samples[i].Path, samples[i].Frame, err)
		}
		if g, ok := classify.SmileGeometryOf(&lm); ok {
			out[i] = &g
		}
		return nil
	}
	first := samples[idx[0]]
	if first.Frame < 0 {
		img := gocv.IMRead(first.Path, gocv.IMReadColor)
		defer img.Close()
		if img.Empty() {
			return fmt.Errorf("cannot read image %s", first.Path)
		}
		return one(img, idx[0])
	}
	want := map[int64]int{}
	for _, i := range idx {
		want[samples[i].Frame] = i
	}
	src, err := capture.Open(first.Path)
	if err != nil {
		return err
	}
	defer src.Close()
	for len(want) > 0 {
		f, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s ended with %d scored frames not read again", first.Path, len(want))
		}
		if err != nil {
			return err
		}
		if i, ok := want[f.Index]; ok && f.Err == nil {
			err = one(f.Image, i)
			delete(want, f.Index)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
