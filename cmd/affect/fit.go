package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/evaluate"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
)

// bootstrapN is the number of resamples of the paired bootstrap.
const bootstrapN = 2000

func init() {
	register(command{
		name:    "fit-combination",
		summary: "fit the learned combination and the calibrations (models/combined_v1.json) on FER2013 PublicTest",
		run:     runFit,
	})
}

func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fit-combination", stderr, "[flags]\n\nFits the `combined` model (logistic regression on both models. 14 class\nlog-probabilities and the logit of their mean P(happy)) and the Platt scaling of human, faceapi and ensemble on the\nface crops whose file names contain --fit (default PublicTest_), and reports\nthe figures on those containing --holdout (default PrivateTest_), which are\nnever used for fitting.")
	data := fs.String("data", "../shared/data/fer2013_test", "FER2013 test folder (one subfolder per class)")
	fitSplit := fs.String("fit", "PublicTest_", "fit on crops whose file name contains this")
	holdout := fs.String("holdout", "PrivateTest_", "report on crops whose file name contains this")
	out := fs.String("out", "models/"+models.CombinationFile, "file to write")
	backend := fs.String("backend", classify.BackendOpenCV, "backend: opencv or onnxgo")
	align := fs.Bool("align", false, "rotate each crop to level the eyes first (eye cascade), to measure what alignment buys")
	alignEyes := fs.Bool("align-eyes", false, "rotate, scale and shift each crop so that its eyes are level and at the fit split's median eye distance and position (eye cascade), to measure what that buys")
	cache := fs.String("cache", "", "cache file of the models' probabilities (read if complete, else written): for trying fit options quickly")
	seed := fs.Uint64("seed", 1, "seed of the cross-validation folds")
	flip := fs.String("flip", "auto", "mirror averaging: auto (by cross-validation on the fit split), on, off")
	workers := fs.Int("workers", 0, "parallel model pairs (0: one per CPU)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("fit-combination takes no arguments, got %q", strings.Join(pos, " "))
	}
	if *align && *alignEyes {
		return usageError("--align and --align-eyes are alternatives: give one")
	}
	if *cache != "" && (*align || *alignEyes) {
		return usageError("--cache holds the probabilities of unaligned crops: it cannot be used with --align or --align-eyes")
	}
	all, err := evaluate.ReadDir(*data)
	if err != nil {
		return err
	}
	dev := evaluate.MatchItems(all, *fitSplit)
	test := evaluate.MatchItems(all, *holdout)
	if len(dev) == 0 || len(test) == 0 {
		return fmt.Errorf("%w: %s has %d fit (%q) and %d holdout (%q) images; both must be non-empty", evaluate.ErrDataset, *data, len(dev), *fitSplit, len(test), *holdout)
	}
	items := append(append([]evaluate.Item(nil), dev...), test...)
	al := evaluate.Align{Rotate: *align}
	if *alignEyes {
		// The target geometry comes from the fit split only.
		g, found, err := evaluate.MedianEyes(ctx, dev, *workers)
		if err != nil {
			return err
		}
		al.Eyes = g
		fmt.Fprintf(stdout, "median eyes of the fit split (%d of %d crops with both eyes): distance %.3f of the width, midpoint (%.3f, %.3f)\n", found, len(dev), g.Dist, g.MidX, g.MidY)
	}
	probs, ok := evaluate.LoadProbs(*cache, items)
	if !ok {
		bar := newProgress(stderr, "models", int64(len(items)), *quiet)
		probs, err = evaluate.ExtractProbs(ctx, items, *backend, *workers, al, func(n int) { bar.update(int64(n)) })
		bar.finish()
		if err != nil {
			return err
		}
		if *cache != "" {
			if err := evaluate.SaveProbs(*cache, items, probs); err != nil {
				return err
			}
		}
	}
	labels := func(it []evaluate.Item) []bool {
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
	fmt.Fprintf(stdout, "fit split %s: N=%d, aligned on the eyes: %d (align=%v, align-eyes=%v)\n", *fitSplit, len(dev), aligned, *align, *alignEyes)
	for _, fl := range []bool{false, true} {
		for _, name := range []string{"human", "faceapi", "ensemble"} {
			var s []float64
			var l []bool
			for i, p := range probs[:len(dev)] {
				if p.Err == nil {
					s = append(s, happinessOf(models.Combination{Flip: fl}, name, false, p))
					l = append(l, dy[i])
				}
			}
			fmt.Fprintf(stdout, "  fit-split raw AUC %-8s flip=%-5v %.4f\n", name, fl, evaluate.AUC(s, l))
		}
	}
	c, rep, err := evaluate.FitCombination(probs[:len(dev)], labels(dev), evaluate.FitOptions{Seed: *seed, Flip: *flip})
	if err != nil {
		return err
	}
	// The flags that change the result (--cache, --workers, --quiet, --out do not).
	c.Fit.Command = fmt.Sprintf("affect fit-combination --data %s --fit %s --holdout %s --backend %s --seed %d --flip %s", *data, *fitSplit, *holdout, *backend, *seed, *flip)
	if *align {
		c.Fit.Command += " --align"
	}
	if *alignEyes {
		c.Fit.Command += " --align-eyes"
	}
	c.Fit.Data = "FER2013 test images (" + filepath.Base(*data) + ")"
	c.Fit.Split = fmt.Sprintf("file names containing %q (fit); %q held out", *fitSplit, *holdout)
	c.Fit.Backend = *backend
	fmt.Fprintf(stdout, "fit on %d crops (%d happy), %s\n", c.Fit.N, c.Fit.Positives, c.Fit.FlipChoice)
	for k, l := range rep.Lambdas {
		fmt.Fprintf(stdout, "CV log-loss lambda=%-6g no flip %.4f, flip %.4f\n", l, rep.CVLogLoss[0][k], rep.CVLogLoss[1][k])
	}

	// Held-out figures, for information (`affect eval` gives the official ones).
	fmt.Fprintf(stdout, "held out (%s, N=%d):\n%-10s %-12s %6s %8s %6s\n", *holdout, len(test), "model", "calibration", "AUC", "BA@0.5", "ECE")
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
				s = append(s, happinessOf(c, name, cal, p))
				l = append(l, ty[i])
			}
			tag := "raw"
			if cal {
				tag = "calibrated"
			}
			fmt.Fprintf(stdout, "%-10s %-12s %6.4f %8.4f %6.4f\n", name, tag, evaluate.AUC(s, l), evaluate.BalancedAccuracy(s, l, 0.5), evaluate.ECE(s, l, 10))
		}
	}
	// Is the default better than the plain average on the held-out split, or
	// within the noise of 3589 images? A paired bootstrap over the images.
	var sc, sAvg, sEns []float64
	var sl []bool
	for i, p := range tp {
		if p.Err != nil {
			continue
		}
		sc = append(sc, happinessOf(c, classify.ModelCombined, true, p))
		sAvg = append(sAvg, happinessOf(models.Combination{}, classify.ModelEnsemble, false, p))
		sEns = append(sEns, happinessOf(c, classify.ModelEnsemble, true, p))
		sl = append(sl, ty[i])
	}
	fmt.Fprintf(stdout, "paired bootstrap on the held-out split (%d resamples of the images, seed %d), combined minus:\n", bootstrapN, *seed)
	for _, cmp := range []struct {
		name string
		s    []float64
	}{{"plain average (raw P(happy) of both, no mirror)", sAvg}, {"ensemble (mirror-averaged, calibrated)", sEns}} {
		auc, ba, err := evaluate.PairedBootstrap(sc, cmp.s, sl, 0.5, bootstrapN, *seed)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-48s AUC %+.4f [%+.4f, %+.4f] P(≤0) %.3f   BA@0.5 %+.4f [%+.4f, %+.4f] P(≤0) %.3f\n",
			cmp.name, auc.Diff, auc.Lo, auc.Hi, auc.PNotAbove, ba.Diff, ba.Lo, ba.Hi, ba.PNotAbove)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, append(b, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// happinessOf is what the Scorer would ship for model name given both
// models' probabilities of one crop (cal false: the raw P(happy)).
func happinessOf(c models.Combination, name string, cal bool, p evaluate.ModelProbs) float64 {
	h, f := p.Human, p.FaceAPI
	if c.Flip {
		for i := range 7 {
			h[i] = (p.Human[i] + p.HumanFlip[i]) / 2
			f[i] = (p.FaceAPI[i] + p.FaceAPIFlip[i]) / 2
		}
	}
	if name == classify.ModelCombined {
		x := classify.CombinationFeatures(h, f, c.Eps)
		return classify.ApplyLogReg(c.Combined, x[:])
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

// writeFileAtomic writes b to a temporary file beside path and renames it.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}
