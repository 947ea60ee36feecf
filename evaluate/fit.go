package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// ModelProbs are both models' class probabilities (record.Labels order) for
// one face crop and for its horizontal mirror image.
type ModelProbs struct {
	Human, HumanFlip, FaceAPI, FaceAPIFlip [7]float64
	// Aligned says the crop was aligned on its eyes (ExtractProbs with Align).
	Aligned bool
	Err     error
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
	type pair struct{ h, f *classify.Model }
	var pairs []pair
	defer func() {
		for _, p := range pairs {
			p.h.Close()
			p.f.Close()
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
		pairs = append(pairs, pair{h, f})
	}
	out := make([]ModelProbs, len(items))
	err := parallel(ctx, pairs, len(items), progress, func(p pair, next <-chan int, tick func()) {
		mirror := gocv.NewMat()
		defer mirror.Close()
		var al *classify.Aligner
		if align.on() {
			a, err := classify.NewAligner()
			if err == nil {
				al = a
				defer al.Close()
			}
		}
		for i := range next {
			out[i] = probsOne(p.h, p.f, &mirror, al, align.Eyes, items[i].Path)
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

// FitLogReg fits a logistic regression with an L2 penalty lambda on the
// weights (not the bias) by Newton's method. It is deterministic.
func FitLogReg(x [][]float64, y []bool, lambda float64) (models.LogReg, error) {
	if len(x) == 0 || len(x) != len(y) {
		return models.LogReg{}, fmt.Errorf("%w: %d rows and %d labels", ErrDataset, len(x), len(y))
	}
	d := len(x[0])
	n := d + 1 // weights then bias
	beta := make([]float64, n)
	for range 100 {
		g := make([]float64, n)
		hess := make([][]float64, n)
		for i := range hess {
			hess[i] = make([]float64, n)
		}
		row := make([]float64, n)
		for i, xi := range x {
			copy(row, xi)
			row[d] = 1
			z := 0.0
			for j := range n {
				z += beta[j] * row[j]
			}
			p := classify.Sigmoid(z)
			t := 0.0
			if y[i] {
				t = 1
			}
			w := max(p*(1-p), 1e-12)
			for j := range n {
				g[j] += (p - t) * row[j]
				for k := j; k < n; k++ {
					hess[j][k] += w * row[j] * row[k]
				}
			}
		}
		for j := range n {
			for k := 0; k < j; k++ {
				hess[j][k] = hess[k][j]
			}
			if j < d {
				g[j] += lambda * beta[j]
				hess[j][j] += lambda
			}
		}
		step, err := solve(hess, g)
		if err != nil {
			return models.LogReg{}, err
		}
		maxStep := 0.0
		for j := range n {
			beta[j] -= step[j]
			maxStep = max(maxStep, math.Abs(step[j]))
		}
		if maxStep < 1e-10 {
			break
		}
	}
	return models.LogReg{Weights: beta[:d:d], Bias: beta[d]}, nil
}

// solve solves a·s = b by Gaussian elimination with partial pivoting.
func solve(a [][]float64, b []float64) ([]float64, error) {
	n := len(b)
	m := make([][]float64, n)
	for i := range m {
		m[i] = append(append([]float64(nil), a[i]...), b[i])
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if math.Abs(m[p][c]) < 1e-300 {
			return nil, errors.New("evaluate: singular system in logistic regression")
		}
		m[c], m[p] = m[p], m[c]
		for r := range n {
			if r == c {
				continue
			}
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	s := make([]float64, n)
	for i := range n {
		s[i] = m[i][n] / m[i][i]
	}
	return s, nil
}

// FitOptions configure FitCombination.
type FitOptions struct {
	// Lambdas are the L2 penalties tried for the combination's logistic
	// regression; the one with the smallest cross-validated log-loss on the
	// fit data is kept. Default 0.01, 0.1, 1, 10, 100, 1000, 10000.
	Lambdas []float64
	// Eps floors probabilities before logarithms. Default 1e-6.
	Eps float64
	// Folds and Seed choose the cross-validation folds used to decide
	// whether mirror averaging (Flip) is used. Defaults 5 and 1.
	Folds int
	Seed  uint64
	// Flip forces the choice: "auto" (default, by cross-validation), "on" or "off".
	Flip string
}

func (o FitOptions) withDefaults() FitOptions {
	if len(o.Lambdas) == 0 {
		o.Lambdas = []float64{0.01, 0.1, 1, 10, 100, 1000, 10000}
	}
	if o.Eps == 0 {
		o.Eps = 1e-6
	}
	if o.Folds == 0 {
		o.Folds = 5
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Flip == "" {
		o.Flip = "auto"
	}
	return o
}

// FitReport describes a fit.
type FitReport struct {
	// CVLogLoss[flip][k] is the cross-validated log-loss of the combined
	// model on the fit data without (0) and with (1) mirror averaging, for
	// Lambdas[k].
	CVLogLoss [2][]float64
	Lambdas   []float64
}

// FitCombination fits the combined model and the Platt scalings of human,
// faceapi and ensemble on probs (rows with Err are skipped) with labels y.
func FitCombination(probs []ModelProbs, y []bool, o FitOptions) (models.Combination, FitReport, error) {
	o = o.withDefaults()
	var rows []ModelProbs
	var lab []bool
	for i, p := range probs {
		if p.Err == nil {
			rows = append(rows, p)
			lab = append(lab, y[i])
		}
	}
	var rep FitReport
	if len(rows) < 20 {
		return models.Combination{}, rep, fmt.Errorf("%w: only %d usable rows to fit on", ErrDataset, len(rows))
	}
	feats := func(flip bool) [][]float64 {
		x := make([][]float64, len(rows))
		for i, r := range rows {
			h, f := r.view(flip)
			v := classify.CombinationFeatures(h, f, o.Eps)
			x[i] = v[:]
		}
		return x
	}
	// Cross-validated log-loss with and without mirror averaging, per lambda.
	rng := rand.New(rand.NewPCG(o.Seed, 0xf01d))
	fold := rng.Perm(len(rows))
	rep.Lambdas = o.Lambdas
	best := [3]float64{math.Inf(1)} // loss, flip, lambda index
	for v, flip := range []bool{false, true} {
		x := feats(flip)
		for li, lambda := range o.Lambdas {
			var ll float64
			for k := range o.Folds {
				var tx, vx [][]float64
				var ty, vy []bool
				for i := range x {
					if fold[i]%o.Folds == k {
						vx, vy = append(vx, x[i]), append(vy, lab[i])
					} else {
						tx, ty = append(tx, x[i]), append(ty, lab[i])
					}
				}
				lr, err := FitLogReg(tx, ty, lambda)
				if err != nil {
					return models.Combination{}, rep, err
				}
				for i := range vx {
					p := min(max(classify.ApplyLogReg(lr, vx[i]), 1e-12), 1-1e-12)
					if vy[i] {
						ll -= math.Log(p)
					} else {
						ll -= math.Log(1 - p)
					}
				}
			}
			ll /= float64(len(x))
			rep.CVLogLoss[v] = append(rep.CVLogLoss[v], ll)
			if ll < best[0] {
				best = [3]float64{ll, float64(v), float64(li)}
			}
		}
	}
	flip := best[1] == 1
	lambda := o.Lambdas[int(best[2])]
	choice := fmt.Sprintf("auto: smallest %d-fold CV log-loss (seed %d) over mirror averaging off/on and lambda in %v: %.4f with flip=%v lambda=%g", o.Folds, o.Seed, o.Lambdas, best[0], flip, lambda)
	switch o.Flip {
	case "on", "off":
		flip = o.Flip == "on"
		v := 0
		if flip {
			v = 1
		}
		li := 0
		for k := range o.Lambdas {
			if rep.CVLogLoss[v][k] < rep.CVLogLoss[v][li] {
				li = k
			}
		}
		lambda = o.Lambdas[li]
		choice = fmt.Sprintf("flip forced %s; lambda %g by %d-fold CV log-loss (seed %d)", o.Flip, lambda, o.Folds, o.Seed)
	case "auto":
	default:
		return models.Combination{}, rep, fmt.Errorf("evaluate: flip %q: want auto, on or off", o.Flip)
	}
	lr, err := FitLogReg(feats(flip), lab, lambda)
	if err != nil {
		return models.Combination{}, rep, err
	}
	c := models.Combination{Version: 1, Flip: flip, Eps: o.Eps, Combined: lr, Platt: map[string]models.Platt{}}
	for _, m := range []string{"human", "faceapi"} {
		for _, l := range record.Labels {
			c.Inputs = append(c.Inputs, "log p("+m+"."+l+")")
		}
	}
	c.Inputs = append(c.Inputs, "logit((p(human.happy)+p(faceapi.happy))/2)")
	for _, name := range []string{"human", "faceapi", "ensemble"} {
		x := make([][]float64, len(rows))
		for i, r := range rows {
			h, f := r.view(flip)
			var p float64
			switch name {
			case "human":
				p = h[record.HappyIndex]
			case "faceapi":
				p = f[record.HappyIndex]
			default:
				p = (h[record.HappyIndex] + f[record.HappyIndex]) / 2
			}
			x[i] = []float64{classify.Logit(p, o.Eps)}
		}
		pl, err := FitLogReg(x, lab, 0)
		if err != nil {
			return models.Combination{}, rep, err
		}
		c.Platt[name] = models.Platt{A: pl.Weights[0], B: pl.Bias}
	}
	c.Fit = models.FitInfo{N: len(rows), Lambda: lambda, Seed: o.Seed, FlipChoice: choice}
	for _, l := range lab {
		if l {
			c.Fit.Positives++
		}
	}
	return c, rep, c.Validate()
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
