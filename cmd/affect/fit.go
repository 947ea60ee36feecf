package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/affectlab/affect/internal/atomicfile"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/evaluate"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/smooth"
)

// bootstrapN is the number of resamples of the paired bootstrap.
const bootstrapN = 2000

func init() {
	register(command{
		name:    "fit-combination",
		summary: "fit the learned combination and calibrations on the development sets (" + models.CombinationFile + ") and print the protocol's tables",
		run:     runFit,
	})
}

// devFlags are the flags that locate the development sets and their cache.
type devFlags struct {
	fer, genki, crema, cache, backend string
	seed                              uint64
	workers                           int
	landmarks                         bool
}

// register adds the data flags; backend, seed and workers are the
// command's own flags, set by the caller.
func (d *devFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&d.fer, "fer", "../shared/data/fer2013_test", "FER2013 test folder (one subfolder per class; PublicTest_ fit, PrivateTest_ held out)")
	fs.StringVar(&d.genki, "genki", "../shared/data/genki4k/manifest.csv", "GENKI-4K manifest (whole photos)")
	fs.StringVar(&d.crema, "crema", "evaluate/testdata/crema_d.csv", "CREMA-D manifest (labelled videos)")
	fs.StringVar(&d.cache, "cache-dir", ".cache/devsets", "folder of the cached network outputs, one file per set (\"\": none)")
	fs.BoolVar(&d.landmarks, "landmarks", true, "also compute every face's smile geometry from the 68 landmarks (model choices with geometry inputs)")
}

func (d *devFlags) load(ctx context.Context, stderr io.Writer, quiet bool) ([]evaluate.DevSet, error) {
	bars := map[string]*progress{}
	return evaluate.LoadDevSets(ctx, evaluate.DevConfig{
		FER: d.fer, GENKI: d.genki, CREMA: d.crema, CacheDir: d.cache, Backend: d.backend, Seed: d.seed, Workers: d.workers, Landmarks: d.landmarks,
		Progress: func(set string, done, total int) {
			b := bars[set]
			if b == nil {
				b = newProgress(stderr, set, int64(total), quiet)
				bars[set] = b
			}
			b.update(int64(done))
			if done == total {
				b.finish()
			}
		},
	})
}

func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fit-combination", stderr, "[flags]\n\nRuns the evaluation protocol on the development sets (FER2013 test, GENKI-4K,\nCREMA-D): every model choice is fitted on the sets' fit parts and reported\nheld out within each set and leave-one-dataset-out; the choice with the best\nmean leave-one-dataset-out AUC on the left-out sets' fit parts is written to\n--out. The networks' outputs are cached in --cache-dir, so refits take seconds.\n\nWith --fer-only: the version-1 fit (combined_v1.json) on FER2013 PublicTest_ only.")
	var d devFlags
	d.register(fs)
	fs.StringVar(&d.backend, "backend", classify.BackendOpenCV, "backend: opencv or onnxgo")
	fs.Uint64Var(&d.seed, "seed", 1, "seed of GENKI-4K's split, the cross-validation folds and the bootstrap")
	fs.IntVar(&d.workers, "workers", 0, "parallel model pairs (0: one per CPU)")
	out := fs.String("out", "models/"+models.CombinationFile, "file to write (\"\": write nothing)")
	reliability := fs.Bool("reliability", false, "print every choice's reliability curves on the held-out parts")
	ferOnly := fs.Bool("fer-only", false, "fit combined_v1's recipe on FER2013 PublicTest_ only (the version-1 fit)")
	fitSplit := fs.String("fit", "PublicTest_", "--fer-only: fit on crops whose file name contains this")
	holdout := fs.String("holdout", "PrivateTest_", "--fer-only: report on crops whose file name contains this")
	align := fs.Bool("align", false, "--fer-only: rotate each crop to level the eyes first (eye cascade), to measure what alignment buys")
	alignEyes := fs.Bool("align-eyes", false, "--fer-only: rotate, scale and shift each crop to the fit split's median eye geometry, to measure what that buys")
	cache := fs.String("cache", "", "--fer-only: cache file of the models' probabilities")
	flip := fs.String("flip", "auto", "--fer-only: mirror averaging: auto (by cross-validation on the fit split), on, off")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("fit-combination takes no arguments, got %q", strings.Join(pos, " "))
	}
	var c models.Combination
	if *ferOnly {
		if *align && *alignEyes {
			return usageError("--align and --align-eyes are alternatives: give one")
		}
		if *cache != "" && (*align || *alignEyes) {
			return usageError("--cache holds the probabilities of unaligned crops: it cannot be used with --align or --align-eyes")
		}
		bar := newProgress(stderr, "models", 0, *quiet)
		c, err = evaluate.FitFER(ctx, evaluate.FERFitConfig{Data: d.fer, Fit: *fitSplit, Holdout: *holdout, Backend: d.backend,
			Align: *align, AlignEyes: *alignEyes, Cache: *cache, Seed: d.seed, Flip: *flip, Workers: d.workers, Bootstrap: bootstrapN,
			Progress: func(done, total int) { bar.total = int64(total); bar.update(int64(done)) }}, stdout)
		bar.finish()
		if err != nil {
			return err
		}
	} else {
		sets, err := d.load(ctx, stderr, *quiet)
		if err != nil {
			return err
		}
		v1, err := models.LoadCombinationFile("combined_v1.json")
		if err != nil {
			return err
		}
		o := evaluate.ProtocolOptions{Fit: evaluate.FitOptionsV2{Seed: d.seed}, Bootstrap: bootstrapN, SmoothMS: smooth.DefaultWindowMS, Reliability: *reliability}
		res, best, err := evaluate.RunProtocol(stdout, sets, evaluate.DefaultCandidates(map[string]models.Combination{"combined_v1 (FER2013 PublicTest_ fit)": v1}, d.landmarks), o)
		if err != nil {
			return err
		}
		cmd := fmt.Sprintf("affect fit-combination --fer %s --genki %s --crema %s --backend %s --seed %d", d.fer, d.genki, d.crema, d.backend, d.seed)
		c, err = evaluate.ShipCombination(sets, res[best], cmd, d.seed)
		if err != nil {
			return err
		}
	}
	if *out == "" {
		return nil
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(*out, append(b, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}
