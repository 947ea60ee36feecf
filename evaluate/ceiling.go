package evaluate

import (
	"fmt"
	"io"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/record"
)

// A Ceiling is the best held-out AUC that any non-negative weighting of the
// two networks' happy logits reaches on one development set, the weighting
// chosen on that held-out part itself. It bounds every recipe whose inputs
// are those two logits with non-negative weights (a logistic combination of
// them ranks faces as one such weighting does); it is an oracle, never a
// model choice.
type Ceiling struct {
	Set  string
	Flip bool
	// N faces of the held-out part were scored.
	N int
	// Human and FaceAPI are the AUCs of each network alone.
	Human, FaceAPI float64
	// Best is the best AUC of w·logit(human) + (1−w)·logit(faceapi) over
	// w = 0, 0.01, …, 1, reached at HumanWeight.
	Best, HumanWeight float64
}

// CeilingSteps is the number of steps of the weight scan of LogitCeiling.
const CeilingSteps = 100

// LogitCeiling computes ds's Ceiling for the crops and mirror averaging of
// view.
func LogitCeiling(ds *DevSet, view Candidate, eps float64) (Ceiling, error) {
	c := Ceiling{Set: ds.Name, Flip: view.Flip}
	var lh, lf []float64
	var y []bool
	for i, s := range ds.Samples {
		if ds.Fit[i] {
			continue
		}
		h, f, ok := view.views(s)
		if !ok {
			continue
		}
		lh = append(lh, classify.Logit(h[record.HappyIndex], eps))
		lf = append(lf, classify.Logit(f[record.HappyIndex], eps))
		y = append(y, s.Happy)
	}
	c.N = len(y)
	if c.N == 0 {
		return c, fmt.Errorf("%w: %s: no scorable face in the held-out part", ErrDataset, ds.Name)
	}
	c.Human, c.FaceAPI = AUC(lh, y), AUC(lf, y)
	mix := make([]float64, len(y))
	c.Best = -1
	for k := 0; k <= CeilingSteps; k++ {
		w := float64(k) / CeilingSteps
		for i := range mix {
			mix[i] = w*lh[i] + (1-w)*lf[i]
		}
		if a := AUC(mix, y); a > c.Best {
			c.Best, c.HumanWeight = a, w
		}
	}
	return c, nil
}

// CeilingReport prints the Ceiling of every development set at tight crops
// (the default's), without and with mirror averaging.
func CeilingReport(w io.Writer, sets []DevSet, eps float64) error {
	ew := &errWriter{w: w}
	ew.printf("\nCeiling of any non-negative weighting of the two happy logits (crops 0/0), the weighting chosen on each held-out part itself: an oracle bound for every two-logit recipe (non-negative weights, as every fit here has), not a model choice.\n\n")
	ew.printf("| set | mirror averaging | faces | human alone | faceapi alone | best weighting | at human weight |\n|---|---|---|---|---|---|---|\n")
	for k := range sets {
		for _, flip := range []bool{false, true} {
			view := Candidate{Human: MarginVariant(0), FaceAPI: MarginVariant(0), Flip: flip}
			c, err := LogitCeiling(&sets[k], view, eps)
			if err != nil {
				return err
			}
			m := "no"
			if flip {
				m = "yes"
			}
			ew.printf("| %s | %s | %d | %.4f | %.4f | %.4f | %.2f |\n", setName(c.Set), m, c.N, c.Human, c.FaceAPI, c.Best, c.HumanWeight)
		}
	}
	return ew.err
}
