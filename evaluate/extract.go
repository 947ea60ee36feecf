package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/affectlab/affect/classify"
	"gocv.io/x/gocv"
)

// ModelProbs are both models' class probabilities (record.Labels order) for
// one face crop and for its horizontal mirror image.
type ModelProbs struct {
	Human, HumanFlip, FaceAPI, FaceAPIFlip [7]float64
	// Aligned says the crop was aligned on its eyes (ExtractProbs with Align).
	Aligned bool  `json:",omitempty"`
	Err     error `json:"-"`
}

// view returns the human and faceapi probabilities, mirror-averaged when flip.
func (m ModelProbs) view(flip bool) (h, f [7]float64) {
	if !flip {
		return m.Human, m.FaceAPI
	}
	for i := range 7 {
		h[i] = (m.Human[i] + m.HumanFlip[i]) / 2
		f[i] = (m.FaceAPI[i] + m.FaceAPIFlip[i]) / 2
	}
	return h, f
}

// Align says how ExtractProbs aligns each face crop before the models see
// it (only crops where both eyes are found are changed).
type Align struct {
	// Rotate levels the eyes (classify.Aligner.Align).
	Rotate bool
	// Eyes, when Eyes.Dist > 0, rotates, scales and shifts the crop so that
	// the eyes are level and at Eyes (classify.Aligner.AlignEyes); it
	// replaces Rotate.
	Eyes classify.EyeGeometry
}

func (a Align) on() bool { return a.Rotate || a.Eyes.Dist > 0 }

// ExtractProbs runs both models on every item (a face crop image) and on its
// mirror image, on workers parallel model pairs of the given backend, after
// aligning each crop as align says.
func ExtractProbs(ctx context.Context, items []Item, backend string, workers int, align Align, progress func(int)) ([]ModelProbs, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	type pair struct {
		h, f *classify.Model
		al   *classify.Aligner // nil when not aligning
	}
	var pairs []pair
	defer func() {
		for _, p := range pairs {
			p.h.Close()
			p.f.Close()
			if p.al != nil {
				p.al.Close()
			}
		}
	}()
	for range workers {
		h, err := classify.NewModel("human", backend)
		if err != nil {
			return nil, err
		}
		f, err := classify.NewModel("faceapi", backend)
		if err != nil {
			h.Close()
			return nil, err
		}
		p := pair{h: h, f: f}
		if align.on() {
			if p.al, err = classify.NewAligner(); err != nil {
				h.Close()
				f.Close()
				return nil, fmt.Errorf("evaluate: aligning was asked for: %w", err)
			}
		}
		pairs = append(pairs, p)
	}
	out := make([]ModelProbs, len(items))
	err := parallel(ctx, pairs, len(items), progress, func(p pair, next <-chan int, tick func()) {
		mirror := gocv.NewMat()
		defer mirror.Close()
		for i := range next {
			out[i] = probsOne(p.h, p.f, &mirror, p.al, align.Eyes, items[i].Path)
			tick()
		}
	})
	return out, err
}

func probsOne(h, f *classify.Model, mirror *gocv.Mat, al *classify.Aligner, eyes classify.EyeGeometry, path string) ModelProbs {
	var r ModelProbs
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		r.Err = fmt.Errorf("cannot read image %s", path)
		return r
	}
	if al != nil {
		rot := gocv.NewMat()
		defer rot.Close()
		if eyes.Dist > 0 {
			_, r.Aligned = al.AlignEyes(img, &rot, eyes)
		} else {
			_, r.Aligned = al.Align(img, &rot)
		}
		rot.CopyTo(&img)
	}
	aligned := r.Aligned
	r = probsOne2(h, f, img, mirror)
	r.Aligned = aligned
	return r
}

// MedianEyes finds the eyes of every item (a face crop) and returns the
// median eye geometry (distance and midpoint as fractions of the crop) and
// on how many crops both eyes were found: the geometry of the data set's
// crops, for Align.Eyes.
func MedianEyes(ctx context.Context, items []Item, workers int) (classify.EyeGeometry, int, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var aligners []*classify.Aligner
	defer func() {
		for _, a := range aligners {
			a.Close()
		}
	}()
	for range workers {
		a, err := classify.NewAligner()
		if err != nil {
			return classify.EyeGeometry{}, 0, err
		}
		aligners = append(aligners, a)
	}
	geo := make([]*classify.EyeGeometry, len(items))
	err := parallel(ctx, aligners, len(items), nil, func(a *classify.Aligner, next <-chan int, tick func()) {
		for i := range next {
			img := gocv.IMRead(items[i].Path, gocv.IMReadColor)
			if e, ok := a.FindEyes(img); ok {
				w, h := float64(img.Cols()), float64(img.Rows())
				geo[i] = &classify.EyeGeometry{Dist: e.Dist() / w, MidX: (e.LX + e.RX) / 2 / w, MidY: (e.LY + e.RY) / 2 / h}
			}
			img.Close()
			tick()
		}
	})
	if err != nil {
		return classify.EyeGeometry{}, 0, err
	}
	var d, x, y []float64
	for _, g := range geo {
		if g != nil {
			d, x, y = append(d, g.Dist), append(x, g.MidX), append(y, g.MidY)
		}
	}
	if len(d) == 0 {
		return classify.EyeGeometry{}, 0, fmt.Errorf("%w: no crop with both eyes found", ErrDataset)
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	return classify.EyeGeometry{Dist: med(d), MidX: med(x), MidY: med(y)}, len(d), nil
}

// MatchItems keeps the items whose file name contains substr ("" keeps all).
func MatchItems(items []Item, substr string) []Item {
	if substr == "" {
		return items
	}
	var out []Item
	for _, it := range items {
		if strings.Contains(baseName(it.Path), substr) {
			out = append(out, it)
		}
	}
	return out
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// SaveProbs writes probs of items to a JSON cache file (path -> probs).
func SaveProbs(path string, items []Item, probs []ModelProbs) error {
	m := map[string]ModelProbs{}
	for i, it := range items {
		if probs[i].Err == nil {
			m[it.Path] = probs[i]
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// LoadProbs reads a cache written by SaveProbs; ok is false when it lacks an item.
func LoadProbs(path string, items []Item) ([]ModelProbs, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	m := map[string]ModelProbs{}
	if json.Unmarshal(b, &m) != nil {
		return nil, false
	}
	out := make([]ModelProbs, len(items))
	for i, it := range items {
		p, ok := m[it.Path]
		if !ok {
			return nil, false
		}
		out[i] = p
	}
	return out, true
}
