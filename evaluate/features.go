package evaluate

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/atomicfile"
	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// CropVariant names a crop of a face: "crop" for an image that is already
// a face crop (FER2013), "m0.10" for a detected face box widened by 0.10
// of its side on each side (classify.CropBox).
type CropVariant string

// VariantCrop is the variant of an image that is itself the face crop.
const VariantCrop CropVariant = "crop"

// MarginVariant is the variant of a detected box widened by margin per side.
func MarginVariant(margin float64) CropVariant {
	return CropVariant("m" + strconv.FormatFloat(margin, 'f', 2, 64))
}

// Margin returns the margin of a margin variant (ok false for VariantCrop).
func (v CropVariant) Margin() (float64, bool) {
	if len(v) < 2 || v[0] != 'm' {
		return 0, false
	}
	m, err := strconv.ParseFloat(string(v[1:]), 64)
	return m, err == nil
}

// FaceSample is one labelled face of a development set (an image, or one frame
// of a video) with both networks' outputs for each crop variant: everything a
// combination is fitted on, so refits need no network.
type FaceSample struct {
	Set   string `json:"set"`
	Path  string `json:"path"`
	Happy bool   `json:"happy"`
	// Frame is the frame index of a video frame, -1 for an image.
	Frame  int64   `json:"frame"`
	TimeMS float64 `json:"t,omitempty"`
	// NoFace: no face was found; a photo is then scored whole (Box is the
	// whole image), a video frame has no Probs.
	NoFace bool       `json:"no_face,omitempty"`
	Box    record.Box `json:"box"`
	// Probs are the networks' outputs per crop variant.
	Probs map[CropVariant]ModelProbs `json:"probs,omitempty"`
	// Err is why the image or frame could not be scored ("" when it was).
	Err string `json:"err,omitempty"`
	// Geo is the smile geometry of the face's landmarks (CachedGeometry;
	// nil when not computed or no face).
	Geo *classify.SmileGeometry `json:"-"`
}

// Usable says the sample has network outputs.
func (s FaceSample) Usable() bool { return s.Err == "" && len(s.Probs) > 0 }

// probs returns the outputs of variant v, or of the image itself for a face
// crop or a photo without a face.
func (s FaceSample) probs(v CropVariant) (ModelProbs, bool) {
	if p, ok := s.Probs[VariantCrop]; ok {
		return p, true
	}
	if s.NoFace {
		// A photo without a face is scored whole whatever the margin.
		for _, p := range s.Probs {
			return p, true
		}
	}
	p, ok := s.Probs[v]
	return p, ok
}

// ExtractOptions configure ExtractSamples.
type ExtractOptions struct {
	Backend  string
	Detector classify.DetectorParams
	// Landmarks is the landmark model that follows faces in videos, as the
	// scoring loop does (classify.NewFaceTrackerFor; "": the default).
	Landmarks string
	// Crops says the images are face crops (no detection; VariantCrop only).
	Crops bool
	// Margins are the crop margins to run the networks on (detected faces).
	Margins []float64
	Workers int
	// Progress, when set, is called with the number of items done.
	Progress func(int)
}

// ExtractSamples runs both networks (with and without mirroring) on every
// item of set: on the image itself when opt.Crops, else on the largest face
// the detector finds in each photo (the whole photo, flagged NoFace, when
// there is none), or on the face the tracker follows in each video frame.
func ExtractSamples(ctx context.Context, set string, items []Item, opt ExtractOptions) ([]FaceSample, error) {
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if !opt.Crops && len(opt.Margins) == 0 {
		return nil, errors.New("evaluate: ExtractSamples needs at least one crop margin")
	}
	type worker struct {
		h, f *classify.Model
		det  classify.FaceDetector
	}
	var ws []worker
	defer func() {
		for _, w := range ws {
			w.h.Close()
			w.f.Close()
			if w.det != nil {
				w.det.Close()
			}
		}
	}()
	for range workers {
		var w worker
		var err error
		if w.h, err = classify.NewModel("human", opt.Backend); err != nil {
			return nil, err
		}
		if w.f, err = classify.NewModel("faceapi", opt.Backend); err != nil {
			w.h.Close()
			return nil, err
		}
		if !opt.Crops {
			if w.det, err = classify.NewFaceDetector(opt.Detector); err != nil {
				w.h.Close()
				w.f.Close()
				return nil, err
			}
		}
		ws = append(ws, w)
	}
	res := make([][]FaceSample, len(items))
	err := parallel(ctx, ws, len(items), opt.Progress, func(w worker, next <-chan int, tick func()) {
		mirror := gocv.NewMat()
		defer mirror.Close()
		ex := extractor{h: w.h, f: w.f, mirror: &mirror, margins: opt.Margins}
		for i := range next {
			it := items[i]
			base := FaceSample{Set: set, Path: it.Path, Happy: it.Happy, Frame: -1}
			switch {
			case IsVideo(it.Path):
				res[i] = ex.video(ctx, base, classify.ScorerParams{Backend: opt.Backend, Detector: opt.Detector, Landmarks: opt.Landmarks})
			default:
				res[i] = []FaceSample{ex.image(base, w.det)}
			}
			tick()
		}
	})
	var out []FaceSample
	for _, r := range res {
		out = append(out, r...)
	}
	return out, err
}

type extractor struct {
	h, f    *classify.Model
	mirror  *gocv.Mat
	margins []float64
}

func (ex extractor) image(s FaceSample, det classify.FaceDetector) FaceSample {
	img := gocv.IMRead(s.Path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		s.Err = fmt.Sprintf("cannot read image %s", s.Path)
		return s
	}
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	s.Box = record.Box{W: img.Cols(), H: img.Rows()}
	if det == nil {
		p := probsOne2(ex.h, ex.f, img, ex.mirror)
		if p.Err != nil {
			s.Err = p.Err.Error()
			return s
		}
		s.Probs = map[CropVariant]ModelProbs{VariantCrop: p}
		return s
	}
	faces := det.Detect(img)
	if len(faces) == 0 {
		s.NoFace = true
		p := probsOne2(ex.h, ex.f, img, ex.mirror)
		if p.Err != nil {
			s.Err = p.Err.Error()
			return s
		}
		s.Probs = map[CropVariant]ModelProbs{MarginVariant(0): p}
		return s
	}
	return ex.face(s, img, faces[0].Box, bounds)
}

// face fills s with the outputs for every margin around box.
func (ex extractor) face(s FaceSample, img gocv.Mat, box, bounds image.Rectangle) FaceSample {
	s.Box = record.Box{X: box.Min.X, Y: box.Min.Y, W: box.Dx(), H: box.Dy()}
	s.Probs = map[CropVariant]ModelProbs{}
	for _, m := range ex.margins {
		region := img.Region(classify.CropBox(box, m, bounds))
		p := probsOne2(ex.h, ex.f, region, ex.mirror)
		region.Close()
		if p.Err != nil {
			s.Err, s.Probs = p.Err.Error(), nil
			return s
		}
		s.Probs[MarginVariant(m)] = p
	}
	return s
}

func (ex extractor) video(ctx context.Context, base FaceSample, sp classify.ScorerParams) []FaceSample {
	src, err := capture.Open(base.Path)
	if err != nil {
		base.Err = err.Error()
		return []FaceSample{base}
	}
	defer src.Close()
	tr, err := classify.NewFaceTrackerFor(sp)
	if err != nil {
		base.Err = err.Error()
		return []FaceSample{base}
	}
	defer tr.Close()
	var out []FaceSample
	for {
		f, err := src.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				b := base
				b.Err = err.Error()
				out = append(out, b)
			}
			return out
		}
		s := base
		s.Frame, s.TimeMS = f.Index, f.TimeMS
		switch {
		case f.Err != nil:
			s.Err = f.Err.Error()
		default:
			det := tr.Next(f.Image)
			if det.Primary < 0 {
				s.NoFace = true
				break
			}
			s = ex.face(s, f.Image, det.Faces[det.Primary].Box, image.Rect(0, 0, f.Image.Cols(), f.Image.Rows()))
		}
		f.Close()
		out = append(out, s)
	}
}

// probsOne2 runs both models on img and on its mirror image.
func probsOne2(h, f *classify.Model, img gocv.Mat, mirror *gocv.Mat) ModelProbs {
	var r ModelProbs
	gocv.Flip(img, mirror, 1)
	for _, s := range []struct {
		m   *classify.Model
		src gocv.Mat
		dst *[7]float64
	}{{h, img, &r.Human}, {h, *mirror, &r.HumanFlip}, {f, img, &r.FaceAPI}, {f, *mirror, &r.FaceAPIFlip}} {
		p, err := s.m.Predict(s.src)
		if err != nil {
			r.Err = err
			return r
		}
		*s.dst = p
	}
	return r
}

// sampleCache is the file format of a cache of samples.
type sampleCache struct {
	// Key says what was extracted (set, backend, detector, margins): a
	// cache with another key is not used.
	Key     string       `json:"key"`
	Paths   []string     `json:"paths"`
	Samples []FaceSample `json:"samples"`
}

// CacheKey describes an extraction for the cache.
func CacheKey(set string, opt ExtractOptions) string {
	ms := slices.Clone(opt.Margins)
	slices.Sort(ms)
	if opt.Crops {
		ms = nil
	}
	lm := opt.Landmarks
	if lm == "" {
		lm = classify.DefaultLandmarks
	}
	// follow=landmarks: videos' faces are followed by their landmarks
	// between keyframes (caches made before that lack it and are remade).
	return fmt.Sprintf("set=%s backend=%s crops=%v detector=%+v margins=%v follow=%s", set, opt.Backend, opt.Crops, opt.Detector, ms, lm)
}

// CachedSamples returns the samples of set from dir/<set>.json.gz when that
// file was made for the same items and options, and otherwise extracts them
// and writes the file (dir "" : no cache).
func CachedSamples(ctx context.Context, dir, set string, items []Item, opt ExtractOptions) ([]FaceSample, bool, error) {
	key := CacheKey(set, opt)
	paths := make([]string, len(items))
	for i, it := range items {
		paths[i] = it.Path
	}
	file := filepath.Join(dir, set+".json.gz")
	if dir != "" {
		if c, err := readSampleCache(file); err == nil && c.Key == key && slices.Equal(c.Paths, paths) {
			return c.Samples, true, nil
		}
	}
	s, err := ExtractSamples(ctx, set, items, opt)
	if err != nil {
		return nil, false, err
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, false, fmt.Errorf("cache: %w", err)
		}
		if err := writeSampleCache(file, sampleCache{Key: key, Paths: paths, Samples: s}); err != nil {
			return nil, false, err
		}
	}
	return s, false, nil
}

func readSampleCache(file string) (sampleCache, error) {
	var c sampleCache
	err := readGzipJSON(file, &c)
	return c, err
}

func readGzipJSON(file string, v any) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	defer z.Close()
	return json.NewDecoder(z).Decode(v)
}

func writeSampleCache(file string, c sampleCache) error { return writeGzipJSON(file, c) }

// writeGzipJSON writes a temporary file and renames it, so a cache file
// is complete or absent.
func writeGzipJSON(file string, c any) error {
	err := atomicfile.WriteFile(file, func(w io.Writer) error {
		z := gzip.NewWriter(w)
		if err := json.NewEncoder(z).Encode(c); err != nil {
			return err
		}
		return z.Close()
	})
	if err != nil {
		return fmt.Errorf("cache %s: %w", file, err)
	}
	return nil
}
