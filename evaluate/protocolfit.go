package evaluate

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
)

// DefaultCandidates are the model choices the protocol compares: the plain
// average of both networks and a fixed combination (e.g. the shipped
// combined_v1) as references, then the recipes it fits.
func DefaultCandidates(fixed map[string]models.Combination, geometry bool) []Candidate {
	c := []Candidate{PlainAverageCandidate()}
	names := make([]string, 0, len(fixed))
	for n := range fixed {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		c = append(c, CombinationCandidate(n, fixed[n]))
	}
	m := MarginVariant
	c = append(c,
		Candidate{Name: "v1 inputs (15), flip, crops 0.1/0.1", Inputs: InputsV1(), Human: m(0.1), FaceAPI: m(0.1), Flip: true},
		Candidate{Name: "happy+neutral (4), flip, crops 0.1/0.1", Inputs: InputsHappyNeutral(), Human: m(0.1), FaceAPI: m(0.1), Flip: true},
		Candidate{Name: "happy logits (2), no flip, crops 0.1/0.1", Inputs: InputsHappy(), Human: m(0.1), FaceAPI: m(0.1)},
		Candidate{Name: "happy logits (2), no flip, crops 0/0", Inputs: InputsHappy(), Human: m(0), FaceAPI: m(0)},
		Candidate{Name: "happy logits (2), TTA crops 0/0.1/0.2, flip", Inputs: InputsHappy(), TTA: []CropVariant{m(0), m(0.1), m(0.2)}, Flip: true},
	)
	for _, hm := range DefaultMargins {
		for _, fm := range DefaultMargins {
			c = append(c, Candidate{Name: fmt.Sprintf("happy logits (2), flip, crops %g/%g", hm, fm), Inputs: InputsHappy(), Human: m(hm), FaceAPI: m(fm), Flip: true})
		}
	}
	if geometry {
		geo := InputsGeometry()
		c = append(c,
			Candidate{Name: "smile geometry only (3)", Inputs: geo, Human: m(0.1), FaceAPI: m(0.1)},
			Candidate{Name: "happy logits + geometry (5), flip, crops 0.1/0.1", Inputs: append(InputsHappy(), geo...), Human: m(0.1), FaceAPI: m(0.1), Flip: true},
			Candidate{Name: "happy logits + geometry (5), no flip, crops 0.1/0.1", Inputs: append(InputsHappy(), geo...), Human: m(0.1), FaceAPI: m(0.1)},
			Candidate{Name: "v1 inputs + geometry (18), flip, crops 0.1/0.1", Inputs: append(InputsV1(), geo...), Human: m(0.1), FaceAPI: m(0.1), Flip: true},
		)
		for _, hm := range DefaultMargins {
			for _, fm := range DefaultMargins {
				if hm == 0.1 && fm == 0.1 {
					continue
				}
				c = append(c, Candidate{Name: fmt.Sprintf("happy logits + geometry (5), flip, crops %g/%g", hm, fm), Inputs: append(InputsHappy(), geo...), Human: m(hm), FaceAPI: m(fm), Flip: true})
			}
		}
	}
	return c
}

// ChoiceTie is the margin of mean LODO log-loss within which fitted
// candidates count as tied (see Choose).
const ChoiceTie = 0.005

// Choose returns the index of the fitted candidate with the smallest mean
// leave-one-dataset-out log-loss on the left-out sets' fit parts
// (ChoiceLogLoss; a proper scoring rule: discrimination and calibration);
// candidates within ChoiceTie of it are tied, and the tie goes to the best
// mean LODO AUC on the same fit parts (ChoiceScore). -1 when none is
// fitted. Held-out parts play no part in it.
func Choose(res []CandidateResult) int {
	best := math.Inf(1)
	for _, r := range res {
		if r.Pooled != nil {
			best = min(best, r.ChoiceLogLoss())
		}
	}
	bi, bauc := -1, math.Inf(-1)
	for i, r := range res {
		if r.Pooled == nil || r.ChoiceLogLoss() > best+ChoiceTie {
			continue
		}
		if a := r.ChoiceScore(); a > bauc {
			bi, bauc = i, a
		}
	}
	return bi
}

// PooledPlatt fits the Platt scalings of human, faceapi and ensemble (the
// mean of both) on the fit parts of all sets, each set weighted equally,
// with the crops and mirror averaging of view.
func PooledPlatt(sets []DevSet, view Candidate, eps float64) (map[string]models.Platt, error) {
	out := map[string]models.Platt{}
	for _, name := range []string{"human", "faceapi", "ensemble"} {
		var x [][]float64
		var y []bool
		var w []float64
		for k := range sets {
			s, l := rows(part{&sets[k], true})
			var xs [][]float64
			var ys []bool
			for i := range s {
				h, f, ok := view.views(s[i])
				if !ok {
					continue
				}
				p := (h[record.HappyIndex] + f[record.HappyIndex]) / 2
				switch name {
				case "human":
					p = h[record.HappyIndex]
				case "faceapi":
					p = f[record.HappyIndex]
				}
				xs, ys = append(xs, []float64{classify.Logit(p, eps)}), append(ys, l[i])
			}
			for range xs {
				w = append(w, 1/float64(len(xs)))
			}
			x, y = append(x, xs...), append(y, ys...)
		}
		for i := range w {
			w[i] *= float64(len(x)) / float64(len(sets))
		}
		lr, err := FitLogRegWeighted(x, y, w, 0)
		if err != nil {
			return nil, err
		}
		out[name] = models.Platt{A: lr.Weights[0], B: lr.Bias}
	}
	return out, nil
}

// ShipCombination turns the chosen result into a version-2 combination
// file: its pooled fit, the pooled Platt scalings and how it was made.
func ShipCombination(sets []DevSet, r CandidateResult, command string, seed uint64) (models.Combination, error) {
	if r.Pooled == nil {
		return models.Combination{}, fmt.Errorf("evaluate: %s is not a fitted candidate", r.Candidate.Name)
	}
	c := r.Pooled.Combination()
	pl, err := PooledPlatt(sets, r.Candidate, r.Pooled.Eps)
	if err != nil {
		return c, err
	}
	c.Platt = pl
	c.Fit = models.FitInfo{
		Command:    command,
		Data:       "development sets: FER2013 test, GENKI-4K, CREMA-D (actor 1001)",
		Split:      "fit parts only: FER2013 PublicTest_; a seeded half of GENKI-4K (seed 1); the first half of every CREMA-D clip's frames. Each set weighted equally.",
		Backend:    classify.BackendOpenCV,
		N:          r.Pooled.N,
		Positives:  r.Pooled.Positives,
		Lambda:     r.Pooled.Lambda,
		Seed:       seed,
		FlipChoice: fmt.Sprintf("recipe %q chosen by evaluate.Choose: mean leave-one-dataset-out log-loss on the left-out sets' fit parts %.4f (ties within %g broken by mean LODO AUC there, %.4f)", r.Candidate.Name, r.ChoiceLogLoss(), ChoiceTie, r.ChoiceScore()),
	}
	return c, c.Validate()
}

// RunProtocol evaluates cands on sets, writes the report (with a paired
// bootstrap of the chosen candidate against the baseline and each fixed
// candidate, and the CREMA-D neutral baseline) and returns the results and
// the index of the chosen one.
func RunProtocol(w io.Writer, sets []DevSet, cands []Candidate, o ProtocolOptions) ([]CandidateResult, int, error) {
	res, err := EvaluateCandidates(sets, cands, o)
	if err != nil {
		return nil, -1, err
	}
	if err := WriteProtocolReport(w, sets, res, o); err != nil {
		return nil, -1, err
	}
	best := Choose(res)
	how := fmt.Sprintf("chosen by the smallest mean LODO log-loss on the left-out sets' fit parts, ties within %g to the best mean LODO AUC there", ChoiceTie)
	if o.Target != "" {
		best, how = -1, "the model under test"
		for i, r := range res {
			if r.Candidate.Name == o.Target {
				best = i
			}
		}
		if best < 0 {
			return nil, -1, fmt.Errorf("evaluate: no candidate named %q", o.Target)
		}
	}
	if best >= 0 {
		fmt.Fprintf(w, "\n**%s** (%s)\n", res[best].Candidate.Name, how)
		if err := TargetsReport(w, res[best], res[0]); err != nil {
			return nil, -1, err
		}
		if err := CeilingReport(w, sets, o.Fit.withDefaults().Eps); err != nil {
			return nil, -1, err
		}
		if o.Bootstrap > 0 {
			for i, r := range res {
				if r.Pooled == nil && i != best {
					if err := BootstrapReport(w, sets, res[best], r, o.Bootstrap, o.Fit.withDefaults().Seed); err != nil {
						return nil, -1, err
					}
				}
			}
		}
	}
	for _, r := range res {
		if best >= 0 && r.Candidate.Name != res[best].Candidate.Name && r.Pooled != nil {
			continue
		}
		if err := NeutralBaselineReport(w, sets, r); err != nil {
			return nil, -1, err
		}
	}
	return res, best, nil
}

// ShippedCandidates are what `affect eval --protocol` compares: the plain
// average, every embedded combination file as shipped, and the shipped
// default's recipe refitted by the protocol (for its leave-one-dataset-out
// figures).
func ShippedCandidates() ([]Candidate, error) {
	cands := []Candidate{PlainAverageCandidate()}
	for _, f := range models.CombinationFiles() {
		c, err := models.LoadCombinationFile(f)
		if err != nil {
			return nil, err
		}
		cands = append(cands, CombinationCandidate(ShippedName(f), c))
	}
	def, err := models.LoadCombination()
	if err != nil {
		return nil, err
	}
	r := RecipeOf(def)
	r.Name = models.CombinationFile + " recipe, refitted by the protocol (for LODO)"
	return append(cands, r), nil
}

// RecipeOf is the fitted candidate with c's inputs, crops and mirror averaging.
func RecipeOf(c models.Combination) Candidate {
	inputs := slices.Clone(c.Inputs)
	if c.Version < 2 {
		inputs = InputsV1()
	}
	r := Candidate{Inputs: inputs, Human: MarginVariant(0.1), FaceAPI: MarginVariant(0.1), Flip: c.Flip}
	if m, ok := c.Margins["human"]; ok {
		r.Human = MarginVariant(m)
	}
	if m, ok := c.Margins["faceapi"]; ok {
		r.FaceAPI = MarginVariant(m)
	}
	return r
}

// ShippedName is the protocol's name of an embedded combination file as shipped.
func ShippedName(file string) string { return file + " as shipped" }
