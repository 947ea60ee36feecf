package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
)

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
			x[i] = []float64{classify.Logit(classify.RawHappiness(name, h, f), o.Eps)}
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
