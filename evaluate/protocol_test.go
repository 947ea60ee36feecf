package evaluate

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

func TestSplitFit(t *testing.T) {
	fer := []FaceSample{{Path: "x/happy/PublicTest_1.jpg"}, {Path: "x/sad/PrivateTest_2.jpg"}}
	got, err := SplitFit(SetFER, fer, 1)
	if err != nil || !reflect.DeepEqual(got, []bool{true, false}) {
		t.Errorf("FER split %v, %v; want [true false]", got, err)
	}
	if _, err := SplitFit(SetFER, []FaceSample{{Path: "Training_1.jpg"}}, 1); err == nil {
		t.Error("a FER2013 file outside PublicTest_/PrivateTest_ was accepted")
	}
	genki := make([]FaceSample, 101)
	a, _ := SplitFit(SetGENKI, genki, 1)
	b, _ := SplitFit(SetGENKI, genki, 1)
	c, _ := SplitFit(SetGENKI, genki, 2)
	n := 0
	for _, f := range a {
		if f {
			n++
		}
	}
	if n != 50 || !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Errorf("GENKI split: %d of 101 fit (want 50), same seed equal %v, other seed different %v", n, reflect.DeepEqual(a, b), !reflect.DeepEqual(a, c))
	}
	var crema []FaceSample
	for f := range int64(5) {
		crema = append(crema, FaceSample{Path: "a.mp4", Frame: f}, FaceSample{Path: "b.mp4", Frame: f})
	}
	got, _ = SplitFit(SetCREMA, crema, 1)
	want := []bool{true, true, true, true, false, false, false, false, false, false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CREMA split %v, want %v (first half of each clip's frames)", got, want)
	}
}

// A weight of 2 on a row is the same as the row twice.
func TestFitLogRegWeightedEqualsDuplicates(t *testing.T) {
	x := [][]float64{{0.1}, {0.5}, {-0.3}, {1.2}, {-1}, {0.7}, {2}, {-0.2}}
	y := []bool{false, true, false, true, false, false, true, true}
	w := []float64{2, 1, 1, 2, 1, 1, 1, 1}
	var dx [][]float64
	var dy []bool
	for i := range x {
		for range int(w[i]) {
			dx, dy = append(dx, x[i]), append(dy, y[i])
		}
	}
	a, err := FitLogRegWeighted(x, y, w, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FitLogReg(dx, dy, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a.Weights[0]-b.Weights[0]) > 1e-9 || math.Abs(a.Bias-b.Bias) > 1e-9 {
		t.Errorf("weighted %+v, duplicated %+v", a, b)
	}
	if _, err := FitLogRegWeighted(x, y, w[:3], 0); err == nil {
		t.Error("weights of the wrong length accepted")
	}
}

// synthSets are three small development sets whose samples carry both
// networks' probabilities: the happy probability of both networks is
// label-driven with a per-set offset, the way the sets differ in level.
func synthSets() []DevSet {
	var sets []DevSet
	for k, name := range DevSetNames {
		ds := DevSet{Name: name}
		for i := range 200 {
			happy := i%3 == 0
			p := 0.2 + 0.1*float64(k) + 0.3*float64((i*7)%10)/10
			if happy {
				p += 0.35
			}
			var h [7]float64
			for j := range h {
				h[j] = (1 - p) / 6
			}
			h[3] = p
			mp := ModelProbs{Human: h, HumanFlip: h, FaceAPI: h, FaceAPIFlip: h}
			s := FaceSample{Set: name, Path: fmt.Sprintf("%s/%d.jpg", name, i), Happy: happy, Frame: -1,
				Probs: map[CropVariant]ModelProbs{MarginVariant(0.1): mp}}
			if name == SetCREMA {
				s.Path, s.Frame, s.TimeMS = fmt.Sprintf("clip%d.mp4", i%3), int64(i/3), float64(i/3)*33.3
			}
			ds.Samples = append(ds.Samples, s)
			ds.Fit = append(ds.Fit, i%2 == 0)
		}
		sets = append(sets, ds)
	}
	return sets
}

// The protocol on known data: a fixed candidate that knows the label is
// perfect everywhere; a fitted one separates the synthetic sets (AUC 1
// held out and left out), and its LODO model is fitted without the set.
func TestEvaluateCandidatesKnownAnswers(t *testing.T) {
	sets := synthSets()
	oracle := Candidate{Name: "oracle", Fixed: func(s FaceSample) (float64, bool) {
		if s.Happy {
			return 1, true
		}
		return 0, true
	}}
	fitted := Candidate{Name: "happy logits", Inputs: InputsHappy(), Human: MarginVariant(0.1), FaceAPI: MarginVariant(0.1)}
	res, err := EvaluateCandidates(sets, []Candidate{oracle, fitted}, ProtocolOptions{SmoothMS: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range DevSetNames {
		o := res[0]
		if o.HeldOut[n].AUC != 1 || o.HeldOut[n].BA != 1 || o.HeldOut[n].ECE != 0 || o.LODO[n].AUC != 1 || o.HeldOut[n].N != 100 {
			t.Errorf("oracle on %s: held out %+v, LODO %+v", n, o.HeldOut[n], o.LODO[n])
		}
		f := res[1]
		if f.HeldOut[n].AUC != 1 || f.LODO[n].AUC != 1 || f.LODOFit[n].N != 100 {
			t.Errorf("fitted on %s: held out %+v, LODO %+v, LODO fit part N %d", n, f.HeldOut[n], f.LODO[n], f.LODOFit[n].N)
		}
	}
	if res[1].Pooled == nil || res[1].Pooled.N != 300 || res[1].Pooled.Positives != 102 {
		t.Errorf("pooled fit: %+v, want 300 fit rows (102 happy)", res[1].Pooled)
	}
	if Choose(res) != 1 {
		t.Errorf("Choose = %d, want the only fitted candidate (1)", Choose(res))
	}
	var b strings.Builder
	if err := WriteProtocolReport(&b, sets, res, ProtocolOptions{SmoothMS: 100, Reliability: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| oracle | 1.0000 | 1.0000 | 0.0000 |", "Leave one dataset out", "| CREMA-D | 200 | 67 | 100 | 100 | 0 |",
		"- oracle, GENKI-4K: 0.00→0.00 (67), 1.00→1.00 (33)\n",
		"- oracle, CREMA-D video score (smoothed 100 ms): 0.00→0.00 (67), 1.00→1.00 (33)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	c, err := ShipCombination(sets, res[1], "test", 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 2 || c.Margins["human"] != 0.1 || len(c.Combined.Weights) != 2 {
		t.Errorf("shipped combination %+v", c)
	}
}

// The cached network outputs of real GENKI-4K photos are what the Scorer
// computes on the same face, and the cache reads back what was written.
func TestExtractSamplesGENKI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs both networks on GENKI-4K photos: skipped in -short")
	}
	man := sharedData(t, "genki4k/manifest.csv")
	items, err := ReadManifest(man)
	if err != nil {
		t.Fatal(err)
	}
	items = items[:12]
	dir := t.TempDir()
	opt := ExtractOptions{Backend: classify.BackendOpenCV, Margins: []float64{0, 0.1}, Workers: 2}
	s, cached, err := CachedSamples(context.Background(), dir, SetGENKI, items, opt)
	if err != nil || cached {
		t.Fatalf("first extraction: cached %v, %v", cached, err)
	}
	again, cached, err := CachedSamples(context.Background(), dir, SetGENKI, items, opt)
	if err != nil || !cached || !reflect.DeepEqual(again, s) {
		t.Fatalf("second read: cached %v, equal %v, %v", cached, reflect.DeepEqual(again, s), err)
	}
	opt.Margins = []float64{0.1}
	if _, cached, _ := CachedSamples(context.Background(), dir, SetGENKI, items, opt); cached {
		t.Error("a cache made with other margins was used")
	}
	sc, err := classify.NewScorer(classify.ScorerParams{Model: "human", FallbackWholeImage: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	// The Scorer's crop and mirror averaging are the shipped combination's.
	comb, err := models.LoadCombination()
	if err != nil {
		t.Fatal(err)
	}
	margin, err := classify.CropMargin("human")
	if err != nil {
		t.Fatal(err)
	}
	faces := 0
	for i, x := range s {
		if x.Err != "" || x.Path != items[i].Path || x.Happy != items[i].Happy {
			t.Fatalf("sample %d: %+v for item %+v", i, x, items[i])
		}
		img := gocv.IMRead(x.Path, gocv.IMReadColor)
		got, err := sc.Score(img)
		img.Close()
		if err != nil || len(got) == 0 {
			t.Fatal(err)
		}
		if x.NoFace {
			continue
		}
		faces++
		if len(x.Probs) != 2 {
			t.Errorf("%s: %d crop variants, want 2", filepath.Base(x.Path), len(x.Probs))
		}
		h, _ := x.Probs[MarginVariant(margin)].view(comb.Flip)
		for j := range h {
			if math.Abs(h[j]-got[0].Probs[j]) > 1e-6 {
				t.Fatalf("%s: cached human (flip %v, margin %g) %v, Scorer %v", filepath.Base(x.Path), comb.Flip, margin, h, got[0].Probs)
			}
		}
	}
	if faces < 10 {
		t.Errorf("faces found in %d of 12 GENKI-4K photos, want ≥ 10", faces)
	}
}

// A version-2 combination with combined_v1's inputs computes exactly v1's features.
func TestRecipeInputsMatchV1(t *testing.T) {
	h := [7]float64{0.05, 0.01, 0.04, 0.6, 0.1, 0.05, 0.15}
	f := [7]float64{0.1, 0.02, 0.03, 0.5, 0.15, 0.1, 0.1}
	v1 := classify.CombinationFeatures(h, f, 1e-6)
	v2 := classify.CombinationInputs(models.Combination{Version: 2, Eps: 1e-6, Inputs: InputsV1()}, h, f, nil)
	if !reflect.DeepEqual(v1[:], v2) {
		t.Errorf("v1 features %v, v2 inputs %v", v1, v2)
	}
}
