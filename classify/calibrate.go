package classify

import (
	"math"

	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
)

// ModelCombined is the learned combination of both models: a logistic
// regression on inputs computed from their class probabilities
// (models.CombinationFile), whose output is a calibrated P(happy). It is
// the default model.
const ModelCombined = "combined"

// ModelCombinedFast is the same combination refitted without mirror
// averaging (models/combined_fast_v1.json, same fit split): two forward
// passes per face instead of four.
const ModelCombinedFast = "combined-fast"

// Sigmoid is the logistic function 1/(1+exp(-x)).
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Logit is log(p/(1-p)) with p clamped to [eps, 1-eps].
func Logit(p, eps float64) float64 {
	p = min(max(p, eps), 1-eps)
	return math.Log(p / (1 - p))
}

// NumCombinationFeatures is the number of inputs of the learned combination.
const NumCombinationFeatures = 15

// CombinationFeatures are the inputs of the learned combination: the
// log-probabilities (floored at eps) of human's then faceapi's seven classes,
// both in record.Labels order, then the logit of the plain average of both
// models' happy probabilities (so the combination contains the ensemble).
func CombinationFeatures(human, faceapi [7]float64, eps float64) [NumCombinationFeatures]float64 {
	var x [NumCombinationFeatures]float64
	for i := range 7 {
		x[i] = math.Log(max(human[i], eps))
		x[7+i] = math.Log(max(faceapi[i], eps))
	}
	x[14] = Logit(RawHappiness("ensemble", human, faceapi), eps)
	return x
}

// CombinationInputs computes the inputs named by c.Inputs from both models'
// probabilities (record.Labels order) and the face's smile geometry (nil
// when the combination needs none, c.NeedsLandmarks): CombinationFeatures
// for a version-1 combination, the named inputs (models.KnownInputs) for
// version 2. A geometry input without geometry is NaN.
func CombinationInputs(c models.Combination, human, faceapi [7]float64, geo *SmileGeometry) []float64 {
	if c.Version < 2 {
		x := CombinationFeatures(human, faceapi, c.Eps)
		return x[:]
	}
	x := make([]float64, len(c.Inputs))
	for i, name := range c.Inputs {
		x[i] = inputValue(name, human, faceapi, geo, c.Eps)
	}
	return x
}

// inputValue is the value of one named input (models.KnownInputs); the
// names are checked by models.Combination.Validate, an unknown one is NaN.
func inputValue(name string, human, faceapi [7]float64, geo *SmileGeometry, eps float64) float64 {
	switch name {
	case models.InputMouthWidth, models.InputCornerLift, models.InputMouthOpen:
		if geo == nil {
			return math.NaN()
		}
		switch name {
		case models.InputMouthWidth:
			return geo.MouthWidth
		case models.InputCornerLift:
			return geo.CornerLift
		}
		return geo.MouthOpen
	case models.InputLogitMean:
		return Logit((human[record.HappyIndex]+faceapi[record.HappyIndex])/2, eps)
	case models.InputLogit("human"):
		return Logit(human[record.HappyIndex], eps)
	case models.InputLogit("faceapi"):
		return Logit(faceapi[record.HappyIndex], eps)
	}
	for i, l := range record.Labels {
		switch name {
		case models.InputLogP("human", l):
			return math.Log(max(human[i], eps))
		case models.InputLogP("faceapi", l):
			return math.Log(max(faceapi[i], eps))
		}
	}
	return math.NaN()
}

// ApplyLogReg returns sigmoid(bias + w·x).
func ApplyLogReg(lr models.LogReg, x []float64) float64 {
	z := lr.Bias
	for i, w := range lr.Weights {
		z += w * x[i]
	}
	return Sigmoid(z)
}

// ApplyPlatt returns the calibrated probability sigmoid(A*logit(p)+B).
func ApplyPlatt(pl models.Platt, p, eps float64) float64 {
	return Sigmoid(pl.A*Logit(p, eps) + pl.B)
}

// RawHappiness is the uncalibrated P(happy) of a selectable model other
// than "combined", from both models' class probabilities of one face (a
// model that was not run may pass zeros): "human" and "faceapi" take their
// own happy probability, "ensemble" the mean of both.
func RawHappiness(model string, human, faceapi [7]float64) float64 {
	switch model {
	case "human":
		return human[record.HappyIndex]
	case "faceapi":
		return faceapi[record.HappyIndex]
	}
	return (human[record.HappyIndex] + faceapi[record.HappyIndex]) / 2
}

// ModelHappiness is the one rule for the happiness of model M that a Scorer
// ships, evaluation measures and the fit calibrates: for "combined" the
// learned combination of both models' probabilities (c.Combined); for the
// others RawHappiness, Platt-calibrated with c.Platt[M] unless raw.
func ModelHappiness(c models.Combination, model string, raw bool, human, faceapi [7]float64, geo *SmileGeometry) float64 {
	if model == ModelCombined {
		return ApplyLogReg(c.Combined, CombinationInputs(c, human, faceapi, geo))
	}
	p := RawHappiness(model, human, faceapi)
	if raw {
		return p
	}
	return ApplyPlatt(c.Platt[model], p, c.Eps)
}

// calibrator turns the per-model probabilities of a face into the shipped
// happiness of one selectable model.
type calibrator struct {
	c     models.Combination
	model string
	raw   bool
}

// happiness returns the calibrated P(happy) from per-model probabilities
// (probs[i] belongs to the i-th model of the Scorer, named names[i]) and
// the face's smile geometry (when the combination uses it).
func (k calibrator) happiness(names []string, probs [][7]float64, geo *SmileGeometry) float64 {
	var h, f [7]float64
	for i, n := range names {
		switch n {
		case "human":
			h = probs[i]
		case "faceapi":
			f = probs[i]
		}
	}
	return ModelHappiness(k.c, k.model, k.raw, h, f, geo)
}
