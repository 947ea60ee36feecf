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
	x[14] = Logit((human[record.HappyIndex]+faceapi[record.HappyIndex])/2, eps)
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

// calibrator turns the per-model probabilities of a face into the shipped
// happiness of one selectable model.
type calibrator struct {
	c     models.Combination
	model string
	raw   bool
}

// happiness returns the calibrated P(happy) from per-model probabilities
// (probs[i] belongs to the i-th model of the Scorer), their mean and the
// face's smile geometry (when the combination uses it).
func (k calibrator) happiness(names []string, probs [][7]float64, mean [7]float64, geo *SmileGeometry) float64 {
	if k.model == ModelCombined {
		var h, f [7]float64
		for i, n := range names {
			switch n {
			case "human":
				h = probs[i]
			case "faceapi":
				f = probs[i]
			}
		}
		return ApplyLogReg(k.c.Combined, CombinationInputs(k.c, h, f, geo))
	}
	p := mean[record.HappyIndex]
	if k.raw {
		return p
	}
	return ApplyPlatt(k.c.Platt[k.model], p, k.c.Eps)
}
