package evaluate

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/affectlab/affect/classify"
)

// ceilingSet is a development set whose held-out faces have the given
// happy probabilities of human and faceapi (at crop margin 0) and labels;
// one fit-part face is added that must not count.
func ceilingSet(h, f []float64, y []bool) *DevSet {
	ds := &DevSet{Name: SetGENKI}
	add := func(ph, pf float64, happy, fit bool) {
		var p ModelProbs
		p.Human[3], p.FaceAPI[3] = ph, pf
		p.HumanFlip[3], p.FaceAPIFlip[3] = ph, pf
		ds.Samples = append(ds.Samples, FaceSample{Set: SetGENKI, Happy: happy, Probs: map[CropVariant]ModelProbs{MarginVariant(0): p}})
		ds.Fit = append(ds.Fit, fit)
	}
	for i := range h {
		add(h[i], f[i], y[i], false)
	}
	add(0.99, 0.99, false, true) // a fit-part face scored as surely happy: would spoil every AUC
	return ds
}

func TestLogitCeiling(t *testing.T) {
	view := Candidate{Human: MarginVariant(0), FaceAPI: MarginVariant(0)}
	sig := classify.Sigmoid
	// Happy exactly when a + b > 0: each network alone ranks some faces
	// wrongly, the equal weighting ranks all of them right.
	a := []float64{2, -1, 0.5, -2, 1.5, -0.5, 0.2, -1.2}
	b := []float64{-1, 2, -1, 1, -1.2, 1.5, 0.3, 0.1}
	var h, f []float64
	var y []bool
	for i := range a {
		h, f, y = append(h, sig(a[i])), append(f, sig(b[i])), append(y, a[i]+b[i] > 0)
	}
	c, err := LogitCeiling(ceilingSet(h, f, y), view, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if c.N != len(a) || c.Best != 1 || c.Human >= 1 || c.FaceAPI >= 1 || math.Abs(c.HumanWeight-0.5) > 0.2 {
		t.Errorf("ceiling %+v: want 8 faces, best AUC 1 near weight 0.5, each network alone below 1", c)
	}

	// When human alone ranks every face right (and faceapi nearly every
	// one backwards), the best weighting leans on human.
	var yh []bool
	for i := range a {
		yh = append(yh, a[i] > 0)
	}
	c, err = LogitCeiling(ceilingSet(h, f, yh), view, 1e-6)
	if err != nil || c.Best != 1 || c.Human != 1 || c.HumanWeight <= 0.5 {
		t.Errorf("ceiling %+v, %v: want human alone and the best weighting at AUC 1, weight above 0.5 (faceapi ranks them backwards)", c, err)
	}

	// No scorable held-out face is an error, not an AUC.
	if _, err := LogitCeiling(ceilingSet(nil, nil, nil), view, 1e-6); !errors.Is(err, ErrDataset) {
		t.Errorf("empty held-out part: err %v, want ErrDataset", err)
	}
}

func TestCeilingReport(t *testing.T) {
	var sb strings.Builder
	ds := ceilingSet([]float64{0.9, 0.2, 0.6, 0.1}, []float64{0.8, 0.3, 0.4, 0.2}, []bool{true, false, true, false})
	if err := CeilingReport(&sb, []DevSet{*ds}, 1e-6); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{"| GENKI-4K | no | 4 | 1.0000 | 1.0000 | 1.0000 |", "| GENKI-4K | yes | 4 |", "oracle"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
