package evaluate

import (
	"fmt"
	"math"
	"slices"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
)

// A Candidate is one model choice of the protocol: either a fixed score
// (nothing fitted, e.g. the plain average of both networks or a shipped
// combination) or a recipe (inputs, crops, mirror averaging) for a logistic
// combination that the protocol fits.
type Candidate struct {
	Name string
	// Fixed, when set, scores a sample without fitting (ok false: not
	// scorable, e.g. a crop variant missing).
	Fixed func(FaceSample) (float64, bool)
	// Recipe of a fitted candidate.
	Inputs []string
	// Human and FaceAPI are the crop variants each network sees (detected
	// faces); face crops (FER2013) always use the image itself.
	Human, FaceAPI CropVariant
	// TTA, when not empty, averages each network's outputs over these crop
	// variants instead (multi-crop test-time augmentation).
	TTA  []CropVariant
	Flip bool
}

// Fitted says the candidate is fitted by the protocol.
func (c Candidate) Fitted() bool { return c.Fixed == nil }

// views returns the two networks' probabilities of s as c sees them.
func (c Candidate) views(s FaceSample) (h, f [7]float64, ok bool) {
	if !s.Usable() {
		return h, f, false
	}
	get := func(v CropVariant, human bool) ([7]float64, bool) {
		p, ok := s.probs(v)
		if !ok {
			return [7]float64{}, false
		}
		a, b := p.view(c.Flip)
		if human {
			return a, true
		}
		return b, true
	}
	if len(c.TTA) > 0 {
		n := 0.0
		for _, v := range c.TTA {
			a, ok1 := get(v, true)
			b, ok2 := get(v, false)
			if !ok1 || !ok2 {
				return h, f, false
			}
			for i := range 7 {
				h[i] += a[i]
				f[i] += b[i]
			}
			n++
		}
		for i := range 7 {
			h[i] /= n
			f[i] /= n
		}
		return h, f, true
	}
	h, ok1 := get(c.Human, true)
	f, ok2 := get(c.FaceAPI, false)
	return h, f, ok1 && ok2
}

// features are the inputs of a fitted candidate for s.
func (c Candidate) features(s FaceSample, eps float64) ([]float64, bool) {
	h, f, ok := c.views(s)
	if !ok {
		return nil, false
	}
	comb := models.Combination{Version: 2, Eps: eps, Inputs: c.Inputs}
	if comb.NeedsLandmarks() && s.Geo == nil {
		return nil, false
	}
	return classify.CombinationInputs(comb, h, f, s.Geo), true
}

// CombinationCandidate scores with a fixed combination file exactly as the
// Scorer does with model "combined" (its crops, mirror averaging and inputs).
func CombinationCandidate(name string, comb models.Combination) Candidate {
	hv, fv := MarginVariant(0.1), MarginVariant(0.1)
	if m, ok := comb.Margins["human"]; ok {
		hv = MarginVariant(m)
	}
	if m, ok := comb.Margins["faceapi"]; ok {
		fv = MarginVariant(m)
	}
	view := Candidate{Human: hv, FaceAPI: fv, Flip: comb.Flip}
	return Candidate{Name: name, Fixed: func(s FaceSample) (float64, bool) {
		h, f, ok := view.views(s)
		if !ok {
			return 0, false
		}
		if comb.NeedsLandmarks() && s.Geo == nil {
			return 0, false
		}
		return classify.ApplyLogReg(comb.Combined, classify.CombinationInputs(comb, h, f, s.Geo)), true
	}}
}

// PlainAverageCandidate is the plain average of both networks' raw
// P(happy), no mirror averaging, default crops: the baseline to beat.
func PlainAverageCandidate() Candidate {
	view := Candidate{Human: MarginVariant(0.1), FaceAPI: MarginVariant(0.1)}
	return Candidate{Name: "plain average (raw, no flip)", Fixed: func(s FaceSample) (float64, bool) {
		h, f, ok := view.views(s)
		return (h[record.HappyIndex] + f[record.HappyIndex]) / 2, ok
	}}
}

// InputsV1 are the 15 inputs of combined_v1: both networks' 14 class
// log-probabilities and the logit of their mean P(happy).
func InputsV1() []string {
	var in []string
	for _, m := range []string{"human", "faceapi"} {
		for _, l := range record.Labels {
			in = append(in, models.InputLogP(m, l))
		}
	}
	return append(in, models.InputLogitMean)
}

// InputsHappy are the logits of each network's P(happy).
func InputsHappy() []string {
	return []string{models.InputLogit("human"), models.InputLogit("faceapi")}
}

// InputsGeometry are the three smile geometry inputs.
func InputsGeometry() []string {
	return []string{models.InputMouthWidth, models.InputCornerLift, models.InputMouthOpen}
}

// InputsHappyNeutral adds each network's log P(neutral) to InputsHappy.
func InputsHappyNeutral() []string {
	return append(InputsHappy(), models.InputLogP("human", "neutral"), models.InputLogP("faceapi", "neutral"))
}

// Figures are the figures of one score on one set of faces.
type Figures struct {
	N, Positives int
	AUC, BA, ECE float64
	LogLoss      float64
}

// figures computes Figures of scores s with labels y.
func figures(s []float64, y []bool) Figures {
	f := Figures{N: len(s), AUC: AUC(s, y), BA: BalancedAccuracy(s, y, 0.5), ECE: ECE(s, y, 10)}
	for i, p := range s {
		p = min(max(p, 1e-12), 1-1e-12)
		if y[i] {
			f.Positives++
			f.LogLoss -= math.Log(p)
		} else {
			f.LogLoss -= math.Log(1 - p)
		}
	}
	if len(s) > 0 {
		f.LogLoss /= float64(len(s))
	}
	return f
}

// part selects the samples of a set: fit part (true), held-out part (false).
type part struct {
	set *DevSet
	fit bool
}

// rows returns the usable samples of the parts with their labels.
func rows(parts ...part) (s []FaceSample, y []bool) {
	for _, p := range parts {
		for i, x := range p.set.Samples {
			if p.set.Fit[i] == p.fit && x.Usable() {
				s = append(s, x)
				y = append(y, x.Happy)
			}
		}
	}
	return s, y
}

// sampleScorer scores one sample (ok false: not scorable).
type sampleScorer func(FaceSample) (float64, bool)

// FitOptionsV2 configure the protocol's fits.
type FitOptionsV2 struct {
	// Lambdas are the L2 penalties tried; the one with the smallest
	// cross-validated log-loss over the fit data is kept. Default 0.1, 1,
	// 10, 100, 1000.
	Lambdas []float64
	Folds   int
	Seed    uint64
	Eps     float64
}

func (o FitOptionsV2) withDefaults() FitOptionsV2 {
	if len(o.Lambdas) == 0 {
		o.Lambdas = []float64{0.1, 1, 10, 100, 1000}
	}
	if o.Folds == 0 {
		o.Folds = 5
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Eps == 0 {
		o.Eps = 1e-6
	}
	return o
}

// FittedCombination is a candidate fitted on some fit parts.
type FittedCombination struct {
	Candidate Candidate
	LR        models.LogReg
	Lambda    float64
	// CVLogLoss is the set-weighted cross-validated log-loss per lambda.
	CVLogLoss []float64
	N         int
	Positives int
	Eps       float64
}

// Score is the fitted combination's P(happy) of s.
func (fc FittedCombination) Score(s FaceSample) (float64, bool) {
	x, ok := fc.Candidate.features(s, fc.Eps)
	if !ok {
		return 0, false
	}
	return classify.ApplyLogReg(fc.LR, x), true
}

// Combination returns the fitted candidate as a version-2 combination file
// (Platt scalings of human, faceapi and ensemble fitted on the same data
// are given by the caller).
func (fc FittedCombination) Combination() models.Combination {
	c := models.Combination{Version: 2, Flip: fc.Candidate.Flip, Eps: fc.Eps, Inputs: slices.Clone(fc.Candidate.Inputs), Combined: fc.LR}
	hm, _ := fc.Candidate.Human.Margin()
	fm, _ := fc.Candidate.FaceAPI.Margin()
	c.Margins = map[string]float64{"human": hm, "faceapi": fm}
	return c
}

// FitCandidate fits a candidate's logistic combination on the samples of
// the given sets' fit parts, each set weighted equally (a set's samples
// share a total weight equal to the mean set size), L2 penalty chosen by
// cross-validated log-loss over those samples.
func FitCandidate(c Candidate, sets []*DevSet, o FitOptionsV2) (FittedCombination, error) {
	o = o.withDefaults()
	fc := FittedCombination{Candidate: c, Eps: o.Eps}
	var x [][]float64
	var y []bool
	var setOf []int
	for k, ds := range sets {
		s, l := rows(part{ds, true})
		for i := range s {
			v, ok := c.features(s[i], o.Eps)
			if !ok {
				continue
			}
			x, y, setOf = append(x, v), append(y, l[i]), append(setOf, k)
		}
	}
	if len(x) < 20 {
		return fc, fmt.Errorf("%w: %s: only %d usable faces to fit on", ErrDataset, c.Name, len(x))
	}
	count := make([]float64, len(sets))
	for _, k := range setOf {
		count[k]++
	}
	w := make([]float64, len(x))
	for i, k := range setOf {
		w[i] = float64(len(x)) / float64(len(sets)) / count[k]
	}
	for _, l := range y {
		if l {
			fc.Positives++
		}
	}
	fc.N = len(x)
	fold := newFolds(len(x), o.Folds, o.Seed)
	best := math.Inf(1)
	for _, lambda := range o.Lambdas {
		var ll, wsum float64
		for k := range o.Folds {
			var tx, vx [][]float64
			var ty, vy []bool
			var tw, vw []float64
			for i := range x {
				if fold[i] == k {
					vx, vy, vw = append(vx, x[i]), append(vy, y[i]), append(vw, w[i])
				} else {
					tx, ty, tw = append(tx, x[i]), append(ty, y[i]), append(tw, w[i])
				}
			}
			lr, err := FitLogRegWeighted(tx, ty, tw, lambda)
			if err != nil {
				return fc, err
			}
			for i := range vx {
				p := min(max(classify.ApplyLogReg(lr, vx[i]), 1e-12), 1-1e-12)
				if vy[i] {
					ll -= vw[i] * math.Log(p)
				} else {
					ll -= vw[i] * math.Log(1-p)
				}
				wsum += vw[i]
			}
		}
		ll /= wsum
		fc.CVLogLoss = append(fc.CVLogLoss, ll)
		if ll < best {
			best, fc.Lambda = ll, lambda
		}
	}
	lr, err := FitLogRegWeighted(x, y, w, fc.Lambda)
	if err != nil {
		return fc, err
	}
	fc.LR = lr
	return fc, nil
}

// newFolds assigns each of n rows to one of k folds (seeded).
func newFolds(n, k int, seed uint64) []int {
	f := make([]int, n)
	for i, p := range seededPerm(n, seed) {
		f[p] = i % k
	}
	return f
}

// scoreRows scores the usable samples of parts with sc; samples sc cannot
// score are counted in missing.
func scoreRows(sc sampleScorer, parts ...part) (s []float64, y []bool, missing int) {
	smp, lab := rows(parts...)
	for i := range smp {
		v, ok := sc(smp[i])
		if !ok {
			missing++
			continue
		}
		s, y = append(s, v), append(y, lab[i])
	}
	return s, y, missing
}

// setName gives a set's name for tables.
func setName(set string) string {
	switch set {
	case SetFER:
		return "FER2013"
	case SetGENKI:
		return "GENKI-4K"
	case SetCREMA:
		return "CREMA-D"
	}
	return set
}

func fmtFig(f Figures) string {
	if f.N == 0 {
		return "— | — | —"
	}
	return fmt.Sprintf("%.4f | %.4f | %.4f", f.AUC, f.BA, f.ECE)
}
