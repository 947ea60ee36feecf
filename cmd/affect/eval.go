package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/evaluate"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/smooth"
)

func init() {
	register(command{
		name:    "eval",
		summary: "measure ROC AUC, balanced accuracy and calibration on labelled images",
		run:     runEval,
	})
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr, "(DIR | --manifest FILE.csv) [flags]\n\nDIR holds one subfolder of images per class; \"happy\" is the positive class.\nA manifest has columns path,happy (0/1), paths relative to its folder.\nA video (.mp4, .avi, ...) in either counts every frame with the video's label;\nits faces are followed by the tracker and frames without one are excluded\n(counted as no_face).")
	manifest := fs.String("manifest", "", "CSV with columns path,happy")
	crops := fs.Bool("crops", false, "the images are already face crops: skip face detection")
	models := fs.String("model", classify.DefaultModel, "model(s), comma-separated: "+strings.Join(classify.ScorerNames(), ", ")+", or all")
	backends := fs.String("backend", classify.BackendOpenCV, "backend(s), comma-separated: opencv, onnxgo, or all")
	threshold := fs.Float64("threshold", 0.5, "decision threshold for balanced accuracy")
	perClass := fs.Int("per-class", 0, "evaluate at most N images per class, chosen with --seed (0: all)")
	seed := fs.Uint64("seed", 1, "seed for --per-class")
	half := fs.String("half", "", "evaluate only every other item in the data set's order: odd (1st, 3rd, ...) or even (e.g. GENKI-4K's held-out even-numbered files)")
	match := fs.String("match", "", "evaluate only files whose name contains this (e.g. PrivateTest_, the FER2013 split held out from fitting)")
	uncal := fs.Bool("uncalibrated", false, "report the raw P(happy) of human, faceapi and ensemble instead of the calibrated one")
	margin := fs.Float64("margin", 0, "crop margin per side as a fraction of the face box, overriding each model's own (measurement; 0: the model's)")
	noFlip := fs.Bool("no-flip", false, "turn off mirror averaging (measurement only; the calibration was fitted with it)")
	workers := fs.Int("workers", 0, "parallel scorers (0: one per CPU)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	reliability := fs.Bool("reliability", false, "print each model's reliability curve (mean score and share of happy images per score bin)")
	smoothWin := fs.Duration("smooth", smooth.DefaultWindowMS*time.Millisecond, "videos: score each frame by the centred moving average over this window, the happiness_smoothed column of the result files (0: raw per-frame scores only); the raw figures are printed too")
	detector := fs.String("detector", classify.DefaultDetector, "face detector: blazeface (default), blazeface-back, haar, lbp or a cascade XML file")
	landmarkModel := fs.String("landmark-model", classify.DefaultLandmarks, "68-point landmark model: "+strings.Join(classify.LandmarkModels(), ", ")+" (head pose; follows faces in videos)")
	excludeLow := fs.Bool("exclude-low", false, "leave faces that fail the quality rule out of the figures (as low_quality=1 rows)")
	protocol := fs.Bool("protocol", false, "instead of DIR or --manifest: the evaluation protocol on the development sets (--fer, --genki, --crema): the shipped default, combined_v1 and the plain average held out within each set, the default's recipe leave-one-dataset-out, and the best any weighting of the two networks' happy logits reaches on each held-out part (an oracle bound)")
	var d devFlags
	d.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *protocol {
		if *manifest != "" || len(pos) != 0 {
			return usageError("--protocol reads the development sets (--fer, --genki, --crema): give no DIR or --manifest")
		}
		if *backends != classify.BackendOpenCV && *backends != classify.BackendONNXGo {
			return usageError("--protocol runs one backend: --backend opencv or onnxgo, got %q", *backends)
		}
		d.backend, d.seed, d.workers = *backends, *seed, *workers
		return runProtocolEval(ctx, d, *reliability, *quiet, stdout, stderr)
	}
	if (*manifest == "") == (len(pos) == 0) || len(pos) > 1 {
		return usageError("give either one DIR or --manifest FILE.csv")
	}
	if *smoothWin < 0 {
		return usageError("--smooth %v must be ≥ 0", *smoothWin)
	}
	if *threshold < 0 || *threshold > 1 {
		return usageError("--threshold %g must be in [0,1]", *threshold)
	}
	ms, err := splitChoice(*models, classify.ScorerNames(), "--model")
	if err != nil {
		return err
	}
	bs, err := splitChoice(*backends, []string{classify.BackendOpenCV, classify.BackendONNXGo}, "--backend")
	if err != nil {
		return err
	}
	var items []evaluate.Item
	if *manifest != "" {
		items, err = evaluate.ReadManifest(*manifest)
	} else {
		items, err = evaluate.ReadDir(pos[0])
	}
	if err != nil {
		return err
	}
	items = evaluate.MatchItems(items, *match)
	if items, err = evaluate.Half(items, *half); err != nil {
		return usageError("--half %q: choose odd or even", *half)
	}
	if len(items) == 0 {
		return fmt.Errorf("%w: no file name contains %q", evaluate.ErrDataset, *match)
	}
	items = evaluate.Sample(items, *perClass, *seed)
	var results []evaluate.Result
	fmt.Fprintf(stdout, "%-9s %-7s %6s %6s %7s %6s %8s %6s\n", "model", "backend", "N", "happy", "no_face", "AUC", "BalAcc@"+trimFloat(*threshold), "ECE")
	for _, b := range bs {
		for _, m := range ms {
			bar := newProgress(stderr, m+"/"+b, int64(len(items)), *quiet)
			scores, err := evaluate.ScoreItems(ctx, items, classify.ScorerParams{Model: m, Backend: b, Landmarks: *landmarkModel, Crops: *crops, Uncalibrated: *uncal, NoFlip: *noFlip, Margin: *margin,
				Detector: classify.DetectorParams{Cascade: *detector}}, *workers,
				func(n int) { bar.update(int64(n)) })
			bar.finish()
			if err != nil {
				return err
			}
			if *excludeLow {
				evaluate.ExcludeLowQuality(scores)
			}
			var raw *evaluate.Result
			if *smoothWin > 0 && evaluate.HasVideo(scores) {
				rr := evaluate.Summarize(scores, m, b, *threshold)
				rr.Clips, rr.Reliability = nil, nil
				raw = &rr
				if err := evaluate.SmoothVideos(scores, float64(*smoothWin)/float64(time.Millisecond)); err != nil {
					return err
				}
			}
			r := evaluate.Summarize(scores, m, b, *threshold)
			if raw != nil {
				r.SmoothMS, r.Unsmoothed = float64(*smoothWin)/float64(time.Millisecond), raw
			}
			if math.IsNaN(r.AUC) {
				return fmt.Errorf("%w: AUC needs both happy and not-happy images; found %d happy of %d", evaluate.ErrDataset, r.Positives, r.N)
			}
			for _, sc := range scores {
				if sc.Err != nil {
					fmt.Fprintf(stderr, "affect eval: skipped %s: %v\n", sc.Path, sc.Err)
				}
			}
			results = append(results, r)
			fmt.Fprintf(stdout, "%-9s %-7s %6d %6d %7d %6.4f %8.4f %6.4f  low_quality=%d", m, b, r.N, r.Positives, r.NoFace, r.AUC, r.BalancedAcc, r.ECE, r.LowQuality)
			if *excludeLow {
				fmt.Fprintf(stdout, " (left out)")
			}
			if raw != nil {
				fmt.Fprintf(stdout, "  video frames smoothed over %v; raw per-frame: AUC %.4f BalAcc %.4f ECE %.4f", *smoothWin, raw.AUC, raw.BalancedAcc, raw.ECE)
			}
			fmt.Fprintln(stdout)
			if *reliability {
				for _, rb := range r.Reliability {
					fmt.Fprintf(stdout, "  bin [%.1f,%.1f) n=%-5d mean score %.3f  happy share %.3f\n", rb.Lo, rb.Hi, rb.N, rb.MeanScore, rb.Positive)
				}
			}
			if p := r.Pose; p != nil {
				for _, a := range []struct {
					name string
					v    evaluate.AngleAgreement
				}{{"yaw", p.Yaw}, {"pitch", p.Pitch}, {"roll", p.Roll}} {
					fmt.Fprintf(stdout, "  pose %-5s vs labels: n=%d pearson %.3f MAE %.2f deg bias %+.2f deg slope %.2f\n", a.name, a.v.N, a.v.Pearson, a.v.MAE, a.v.Bias, a.v.Slope)
				}
			}
			for _, c := range r.Clips {
				fmt.Fprintf(stdout, "  clip %-40s happy=%-5v frames=%d face_frames=%d mean_happiness=%.4f\n", filepath.Base(c.Path), c.Happy, c.Frames, c.FaceFrames, c.MeanHappiness)
			}
		}
	}
	line, err := json.Marshal(results)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(line))
	return nil
}

func trimFloat(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}

// splitChoice parses a comma-separated list of choices; "all" is every one.
func splitChoice(v string, choices []string, flagName string) ([]string, error) {
	if v == "all" {
		return choices, nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		ok := false
		for _, c := range choices {
			ok = ok || c == s
		}
		if !ok {
			return nil, usageError("%s %q: choose from %v or all", flagName, s, choices)
		}
		out = append(out, s)
	}
	return out, nil
}

// runProtocolEval prints the protocol's tables for the shipped default.
func runProtocolEval(ctx context.Context, d devFlags, reliability, quiet bool, stdout, stderr io.Writer) error {
	sets, err := d.load(ctx, stderr, quiet)
	if err != nil {
		return err
	}
	cands, err := evaluate.ShippedCandidates()
	if err != nil {
		return err
	}
	o := evaluate.ProtocolOptions{Fit: evaluate.FitOptionsV2{Seed: d.seed}, Bootstrap: bootstrapN, SmoothMS: smooth.DefaultWindowMS, Reliability: reliability,
		Target: evaluate.ShippedName(models.CombinationFile)}
	fmt.Fprintf(stdout, "default model: %s\n", classify.ModelVersion(classify.DefaultModel))
	_, _, err = evaluate.RunProtocol(stdout, sets, cands, o)
	return err
}
