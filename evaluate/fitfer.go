package evaluate

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
)

// FERFitConfig configures FitFER: the version-1 fit on FER2013 alone.
type FERFitConfig struct {
	// Data is the FER2013 test folder; Fit and Holdout select the fit and
	// held-out crops by file name.
	Data, Fit, Holdout string
	Backend            string
	// Align and AlignEyes align each crop on its eyes first (measurement).
	Align, AlignEyes bool
	// Cache is a file of the models' probabilities ("" : none).
	Cache     string
	Seed      uint64
	Flip      string
	Workers   int
	Bootstrap int
	// Progress, when set, is told how many crops are done of total.
	Progress func(done, total int)
}

// FitFER fits combined_v1's recipe (the 15 inputs of InputsV1 and the
// Platt scalings) on FER2013's fit split only, prints the fit-split and
// held-out figures and a paired bootstrap against the plain average and the
// ensemble to w, and returns the combination.
func FitFER(ctx context.Context, cfg FERFitConfig, w io.Writer) (models.Combination, error) {
	ew := &errWriter{w: w}
	if cfg.Align && cfg.AlignEyes {
		return models.Combination{}, fmt.Errorf("evaluate: Align and AlignEyes are alternatives")
	}
	all, err := ReadDir(cfg.Data)
	if err != nil {
		return models.Combination{}, err
	}
	dev := MatchItems(all, cfg.Fit)
	test := MatchItems(all, cfg.Holdout)
	if len(dev) == 0 || len(test) == 0 {
		return models.Combination{}, fmt.Errorf("%w: %s has %d fit (%q) and %d holdout (%q) images; both must be non-empty", ErrDataset, cfg.Data, len(dev), cfg.Fit, len(test), cfg.Holdout)
	}
	items := append(append([]Item(nil), dev...), test...)
	al := Align{Rotate: cfg.Align}
	if cfg.AlignEyes {
		// The target geometry comes from the fit split only.
		g, found, err := MedianEyes(ctx, dev, cfg.Workers)
		if err != nil {
			return models.Combination{}, err
		}
		al.Eyes = g
		ew.printf("median eyes of the fit split (%d of %d crops with both eyes): distance %.3f of the width, midpoint (%.3f, %.3f)\n", found, len(dev), g.Dist, g.MidX, g.MidY)
	}
	probs, ok := LoadProbs(cfg.Cache, items)
	if !ok || al.on() {
		var progress func(int)
		if cfg.Progress != nil {
			progress = func(n int) { cfg.Progress(n, len(items)) }
		}
		probs, err = ExtractProbs(ctx, items, cfg.Backend, cfg.Workers, al, progress)
		if err != nil {
			return models.Combination{}, err
		}
		if cfg.Cache != "" && !al.on() {
			if err := SaveProbs(cfg.Cache, items, probs); err != nil {
				return models.Combination{}, err
			}
		}
	}
	labels := func(it []Item) []bool {
		y := make([]bool, len(it))
		for i := range it {
			y[i] = it[i].Happy
		}
		return y
	}
	// Raw AUC of each model on the fit split (nothing is fitted for these):
	// what alignment or mirror averaging buys is judged here, not on the holdout.
	dy := labels(dev)
	aligned := 0
	for _, p := range probs[:len(dev)] {
		if p.Aligned {
			aligned++
		}
	}
	ew.printf("fit split %s: N=%d, aligned on the eyes: %d (align=%v, align-eyes=%v)\n", cfg.Fit, len(dev), aligned, cfg.Align, cfg.AlignEyes)
	for _, fl := range []bool{false, true} {
		for _, name := range []string{"human", "faceapi", "ensemble"} {
			var s []float64
			var l []bool
			for i, p := range probs[:len(dev)] {
				if p.Err == nil {
					s = append(s, HappinessOf(models.Combination{Flip: fl}, name, false, p))
					l = append(l, dy[i])
				}
			}
			ew.printf("  fit-split raw AUC %-8s flip=%-5v %.4f\n", name, fl, AUC(s, l))
		}
	}
	c, rep, err := FitCombination(probs[:len(dev)], labels(dev), FitOptions{Seed: cfg.Seed, Flip: cfg.Flip})
	if err != nil {
		return c, err
	}
	// The settings that change the result.
	c.Fit.Command = fmt.Sprintf("affect fit-combination --fer-only --fer %s --fit %s --holdout %s --backend %s --seed %d --flip %s", cfg.Data, cfg.Fit, cfg.Holdout, cfg.Backend, cfg.Seed, cfg.Flip)
	if cfg.Align {
		c.Fit.Command += " --align"
	}
	if cfg.AlignEyes {
		c.Fit.Command += " --align-eyes"
	}
	c.Fit.Data = "FER2013 test images (" + filepath.Base(cfg.Data) + ")"
	c.Fit.Split = fmt.Sprintf("file names containing %q (fit); %q held out", cfg.Fit, cfg.Holdout)
	c.Fit.Backend = cfg.Backend
	ew.printf("fit on %d crops (%d happy), %s\n", c.Fit.N, c.Fit.Positives, c.Fit.FlipChoice)
	for k, l := range rep.Lambdas {
		ew.printf("CV log-loss lambda=%-6g no flip %.4f, flip %.4f\n", l, rep.CVLogLoss[0][k], rep.CVLogLoss[1][k])
	}

	// Held-out figures, for information.
	ew.printf("held out (%s, N=%d):\n%-10s %-12s %6s %8s %6s\n", cfg.Holdout, len(test), "model", "calibration", "AUC", "BA@0.5", "ECE")
	ty := labels(test)
	tp := probs[len(dev):]
	for _, name := range classify.ScorerNames() {
		for _, cal := range []bool{false, true} {
			if name == classify.ModelCombined && !cal {
				continue
			}
			var s []float64
			var l []bool
			for i, p := range tp {
				if p.Err != nil {
					continue
				}
				s = append(s, HappinessOf(c, name, cal, p))
				l = append(l, ty[i])
			}
			tag := "raw"
			if cal {
				tag = "calibrated"
			}
			ew.printf("%-10s %-12s %6.4f %8.4f %6.4f\n", name, tag, AUC(s, l), BalancedAccuracy(s, l, 0.5), ECE(s, l, 10))
		}
	}
	if cfg.Bootstrap > 0 {
		// Is the combination better than the plain average on the held-out
		// split, or within the noise? A paired bootstrap over the images.
		var sc, sAvg, sEns []float64
		var sl []bool
		for i, p := range tp {
			if p.Err != nil {
				continue
			}
			sc = append(sc, HappinessOf(c, classify.ModelCombined, true, p))
			sAvg = append(sAvg, HappinessOf(models.Combination{}, classify.ModelEnsemble, false, p))
			sEns = append(sEns, HappinessOf(c, classify.ModelEnsemble, true, p))
			sl = append(sl, ty[i])
		}
		ew.printf("paired bootstrap on the held-out split (%d resamples of the images, seed %d), combined minus:\n", cfg.Bootstrap, cfg.Seed)
		for _, cmp := range []struct {
			name string
			s    []float64
		}{{"plain average (raw P(happy) of both, no mirror)", sAvg}, {"ensemble (mirror-averaged, calibrated)", sEns}} {
			auc, ba, err := PairedBootstrap(sc, cmp.s, sl, 0.5, cfg.Bootstrap, cfg.Seed)
			if err != nil {
				return c, err
			}
			ew.printf("  %-48s AUC %+.4f [%+.4f, %+.4f] P(≤0) %.3f   BA@0.5 %+.4f [%+.4f, %+.4f] P(≤0) %.3f\n",
				cmp.name, auc.Diff, auc.Lo, auc.Hi, auc.PNotAbove, ba.Diff, ba.Lo, ba.Hi, ba.PNotAbove)
		}
	}
	return c, ew.err
}

// HappinessOf is what the Scorer ships for model name given both models'
// probabilities of one crop under combination c (cal false: the raw P(happy)
// of human, faceapi or their mean).
func HappinessOf(c models.Combination, name string, cal bool, p ModelProbs) float64 {
	h, f := p.view(c.Flip)
	if name == classify.ModelCombined {
		return classify.ApplyLogReg(c.Combined, classify.CombinationInputs(c, h, f, nil))
	}
	var raw float64
	switch name {
	case "human":
		raw = h[record.HappyIndex]
	case "faceapi":
		raw = f[record.HappyIndex]
	default:
		raw = (h[record.HappyIndex] + f[record.HappyIndex]) / 2
	}
	if !cal {
		return raw
	}
	return classify.ApplyPlatt(c.Platt[name], raw, c.Eps)
}
