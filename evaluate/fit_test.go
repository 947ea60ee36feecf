package evaluate

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/smooth"
)

func TestFitLogRegRecoversWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	w := []float64{1.5, -2, 0.5}
	const bias = -0.7
	var x [][]float64
	var y []bool
	for range 20000 {
		v := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		z := bias
		for j := range w {
			z += w[j] * v[j]
		}
		x = append(x, v)
		y = append(y, r.Float64() < classify.Sigmoid(z))
	}
	lr, err := FitLogReg(x, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	for j := range w {
		if math.Abs(lr.Weights[j]-w[j]) > 0.1 {
			t.Errorf("weight %d = %.3f, want %.3f ± 0.1", j, lr.Weights[j], w[j])
		}
	}
	if math.Abs(lr.Bias-bias) > 0.1 {
		t.Errorf("bias = %.3f, want %.3f ± 0.1", lr.Bias, bias)
	}
	// A strong penalty shrinks the weights towards 0.
	strong, err := FitLogReg(x, y, 1e5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(strong.Weights[0]) > 0.5*math.Abs(lr.Weights[0]) {
		t.Errorf("lambda 1e5 did not shrink: %v", strong.Weights)
	}
	if _, err := FitLogReg(nil, nil, 1); err == nil {
		t.Error("empty data accepted")
	}
}

// TestEmbeddedCombination checks the shipped combination file: valid,
// fitted by the protocol on the development sets' fit parts only (since
// combined_v2.json; v1 was fitted on FER2013 PublicTest_ alone and this
// test checked that: changed deliberately with issue 11), and monotone in
// the happy evidence.
func TestEmbeddedCombination(t *testing.T) {
	c, err := models.LoadCombination()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Fit.Split, "fit parts only") || !strings.Contains(c.Fit.Split, "PublicTest_") || !strings.Contains(c.Fit.Command, "fit-combination") {
		t.Errorf("fit info does not say it was fitted on the fit parts by fit-combination: %+v", c.Fit)
	}
	// A face both models call happy scores above one both call neutral.
	var happy, neutral [7]float64
	for i := range happy {
		happy[i], neutral[i] = 0.01, 0.01
	}
	happy[3], neutral[6] = 0.94, 0.94
	geo := &classify.SmileGeometry{MouthWidth: 0.9, CornerLift: 0.1, MouthOpen: 0.1}
	ph := classify.ApplyLogReg(c.Combined, classify.CombinationInputs(c, happy, happy, geo))
	pn := classify.ApplyLogReg(c.Combined, classify.CombinationInputs(c, neutral, neutral, geo))
	if !(ph > 0.7 && pn < 0.1) {
		t.Errorf("combined: happy face %.3f, neutral face %.3f; want > 0.7 and < 0.1", ph, pn)
	}
	for name, pl := range c.Platt {
		if lo, hi := classify.ApplyPlatt(pl, 0.02, c.Eps), classify.ApplyPlatt(pl, 0.98, c.Eps); !(lo < 0.3 && hi > 0.7) {
			t.Errorf("Platt %s maps 0.02 -> %.3f and 0.98 -> %.3f", name, lo, hi)
		}
	}
}

// sharedData returns ../shared/data/<rel> above the module root, or skips.
func sharedData(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
	p := filepath.Join(dir, "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data %s is absent (%v): skipping", p, err)
	}
	return p
}

// TestVideoItems scores two CREMA-D clips frame by frame through a manifest:
// every frame is an item with the clip's label, faces are found in nearly
// all frames, and the HAP clip's mean is above the NEU clip's.
func TestVideoItems(t *testing.T) {
	if testing.Short() {
		t.Skip("scores two videos: skipped in -short")
	}
	sharedData(t, "video/crema_d/1001_DFA_HAP_XX.mp4")
	all, err := ReadManifest("testdata/crema_d.csv")
	if err != nil {
		t.Fatal(err)
	}
	items := MatchItems(all, "HAP")
	items = append(items, MatchItems(all, "NEU")...)
	if len(items) != 2 {
		t.Fatalf("manifest lists %d HAP/NEU clips, want 2", len(items))
	}
	scores, err := ScoreItems(context.Background(), items, classify.ScorerParams{Model: "human"}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Summarize(scores, "human", "opencv", 0.5)
	if len(r.Clips) != 2 {
		t.Fatalf("%d clips in the result, want 2", len(r.Clips))
	}
	for _, c := range r.Clips {
		if c.Frames < 30 || float64(c.FaceFrames) < 0.95*float64(c.Frames) {
			t.Errorf("%s: %d frames, %d with a face; want ≥ 30 and ≥ 95%%", c.Path, c.Frames, c.FaceFrames)
		}
	}
	if r.N+r.NoFace != len(scores) || r.Unreadable != 0 {
		t.Errorf("N %d + no_face %d != %d frames (unreadable %d)", r.N, r.NoFace, len(scores), r.Unreadable)
	}
	hap, neu := r.Clips[0], r.Clips[1]
	if !(hap.Happy && !neu.Happy && hap.MeanHappiness > neu.MeanHappiness+0.3) {
		t.Errorf("HAP clip mean %.3f, NEU clip mean %.3f: want HAP clearly above", hap.MeanHappiness, neu.MeanHappiness)
	}
}

// TestCremaDefault is the model card's CREMA-D figure for the default
// model (issue 5, point 3): over the six clips of actor 1001, the per-frame
// AUC of the shipped video score (smoothed over smooth.DefaultWindowMS)
// is at least 0.98, the HAP clip's mean is far above every other clip's,
// and no frame of these frontal, well-lit clips fails the quality rule.
func TestCremaDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("scores six videos: skipped in -short")
	}
	sharedData(t, "video/crema_d/1001_DFA_HAP_XX.mp4")
	items, err := ReadManifest("testdata/crema_d.csv")
	if err != nil {
		t.Fatal(err)
	}
	scores, err := ScoreItems(context.Background(), items, classify.ScorerParams{}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !HasVideo(scores) {
		t.Fatal("HasVideo = false for six videos")
	}
	raw := Summarize(scores, classify.DefaultModel, "opencv", 0.5)
	if err := SmoothVideos(scores, smooth.DefaultWindowMS); err != nil {
		t.Fatal(err)
	}
	r := Summarize(scores, classify.DefaultModel, "opencv", 0.5)
	t.Logf("raw per-frame AUC %.4f, smoothed %.4f (BA %.4f)", raw.AUC, r.AUC, r.BalancedAcc)
	if r.N != 385 || r.NoFace != 0 || r.LowQuality != 0 {
		t.Errorf("N %d, no_face %d, low_quality %d: want 385 frames, all with a good face", r.N, r.NoFace, r.LowQuality)
	}
	if r.AUC < 0.98 {
		t.Errorf("per-frame AUC of the default %.4f, want ≥ 0.98", r.AUC)
	}
	if raw.AUC >= r.AUC {
		t.Errorf("smoothing did not help: raw AUC %.4f, smoothed %.4f", raw.AUC, r.AUC)
	}
	var hap float64
	others := 0.0
	for _, c := range r.Clips {
		if c.Happy {
			hap = c.MeanHappiness
		} else {
			others = max(others, c.MeanHappiness)
		}
	}
	if hap < others+0.4 {
		t.Errorf("HAP clip mean %.3f, highest other clip %.3f: want HAP ≥ 0.4 above", hap, others)
	}
	// Leaving out low-quality faces leaves all of these frames in.
	ExcludeLowQuality(scores)
	if e := Summarize(scores, classify.DefaultModel, "opencv", 0.5); e.N != r.N || e.ExcludedLow != 0 {
		t.Errorf("after ExcludeLowQuality: N %d (excluded %d), want %d", e.N, e.ExcludedLow, r.N)
	}
}

// ExcludeLowQuality leaves low-quality faces out of every figure and
// counts them.
func TestExcludeLowQuality(t *testing.T) {
	scores := []Score{
		{Item: Item{Path: "a", Happy: true}, Frame: -1, Happiness: 0.9},
		{Item: Item{Path: "b", Happy: true}, Frame: -1, Happiness: 0.1, LowQuality: true},
		{Item: Item{Path: "c"}, Frame: -1, Happiness: 0.2},
		{Item: Item{Path: "d"}, Frame: -1, Happiness: 0.95, LowQuality: true},
	}
	all := Summarize(scores, "m", "b", 0.5)
	if all.N != 4 || all.LowQuality != 2 || all.AUC != 0.25 {
		t.Errorf("all: N %d low %d AUC %v, want 4, 2, 0.25", all.N, all.LowQuality, all.AUC)
	}
	ExcludeLowQuality(scores)
	good := Summarize(scores, "m", "b", 0.5)
	if good.N != 2 || good.ExcludedLow != 2 || good.AUC != 1 || good.BalancedAcc != 1 {
		t.Errorf("good only: N %d excluded %d AUC %v BA %v, want 2, 2, 1, 1", good.N, good.ExcludedLow, good.AUC, good.BalancedAcc)
	}
}
