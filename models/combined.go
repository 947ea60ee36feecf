package models

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// CombinationFile is the embedded file with the learned combination of the
// two models and the calibration of every selectable model. It is written by
// `affect fit-combination` (evaluate.RunProtocol); see README.md. Its name
// is the version of the shipped scores (classify.ModelVersion).
const CombinationFile = "combined_v2.json"

// combinationFiles are every combination file ever shipped, so that the
// protocol can compare them.
//
//go:embed combined_v*.json
var combinationFiles embed.FS

// ErrBadCombination is returned when a combination file is malformed.
var ErrBadCombination = errors.New("bad combination file")

// Platt is a Platt scaling of one score: P(happy) = sigmoid(A*logit(p) + B),
// p being the raw probability of the happy class.
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// LogReg is a logistic regression: P(happy) = sigmoid(Bias + Σ Weights[i]*x[i]).
type LogReg struct {
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
}

// FitInfo records how a Combination was fitted, so it can be reproduced.
type FitInfo struct {
	Command   string  `json:"command"`
	Data      string  `json:"data"`
	Split     string  `json:"split"`
	Backend   string  `json:"backend"`
	N         int     `json:"n"`
	Positives int     `json:"positives"`
	Lambda    float64 `json:"lambda"`
	Seed      uint64  `json:"seed"`
	// FlipChoice says how Flip was chosen (cross-validated log-loss on the fit split).
	FlipChoice string `json:"flip_choice"`
}

// Combination is the learned combination of the models ("combined") and the
// calibration of every other selectable model.
type Combination struct {
	Version int `json:"version"`
	// Flip: each model's class probabilities are the mean over the face crop
	// and its horizontal mirror image (test-time augmentation), for every
	// selectable model.
	Flip bool `json:"flip"`
	// Eps is the floor applied to a probability before its logarithm.
	Eps float64 `json:"eps"`
	// Margins (version 2; optional) is the crop margin per side, as a
	// fraction of the detected face box, given to each model ("human",
	// "faceapi"), replacing Spec.Margin: the crop the combination was
	// fitted with.
	Margins map[string]float64 `json:"margins,omitempty"`
	// Inputs name the features of Combined, in order. Version 1: the
	// log-probability of each class (record.Labels order) of each model
	// (human, then faceapi), then the logit of the mean of both models'
	// happy probabilities (15). Version 2: any of KnownInputs.
	Inputs []string `json:"inputs"`
	// Combined maps the inputs to a calibrated P(happy).
	Combined LogReg `json:"combined"`
	// Platt calibrates the happy probability of "human", "faceapi" and
	// "ensemble" (the mean of both models' probabilities).
	Platt map[string]Platt `json:"platt"`
	Fit   FitInfo          `json:"fit"`
}

// Input names of a combination (Combination.Inputs).
const (
	// InputLogitMean is the logit of the mean of both models' P(happy).
	InputLogitMean = "logit((p(human.happy)+p(faceapi.happy))/2)"
	// Smile geometry from the 68 landmarks (classify.SmileGeometry), in
	// units of the eye distance.
	InputMouthWidth = "geometry.mouth_width"
	InputCornerLift = "geometry.corner_lift"
	InputMouthOpen  = "geometry.mouth_open"
)

// NeedsLandmarks says the combination uses smile geometry inputs.
func (c Combination) NeedsLandmarks() bool {
	for _, in := range c.Inputs {
		switch in {
		case InputMouthWidth, InputCornerLift, InputMouthOpen:
			return true
		}
	}
	return false
}

// InputLogP names the log-probability of one class of one model,
// e.g. "log p(human.happy)".
func InputLogP(model, label string) string { return "log p(" + model + "." + label + ")" }

// InputLogit names the logit of one model's P(happy), e.g. "logit(p(faceapi.happy))".
func InputLogit(model string) string { return "logit(p(" + model + ".happy))" }

// KnownInputs are the input names a version-2 combination may use.
func KnownInputs() []string {
	var in []string
	for _, m := range []string{"human", "faceapi"} {
		for _, l := range []string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"} {
			in = append(in, InputLogP(m, l))
		}
	}
	return append(in, InputLogit("human"), InputLogit("faceapi"), InputLogitMean, InputMouthWidth, InputCornerLift, InputMouthOpen)
}

// Validate checks a Combination for use.
func (c Combination) Validate() error {
	switch c.Version {
	case 1:
		if len(c.Combined.Weights) != 15 || len(c.Inputs) != 15 {
			return fmt.Errorf("%w: %d weights and %d inputs, want 15", ErrBadCombination, len(c.Combined.Weights), len(c.Inputs))
		}
	case 2:
		if len(c.Inputs) == 0 || len(c.Combined.Weights) != len(c.Inputs) {
			return fmt.Errorf("%w: %d weights for %d inputs", ErrBadCombination, len(c.Combined.Weights), len(c.Inputs))
		}
		known := map[string]bool{}
		for _, k := range KnownInputs() {
			known[k] = true
		}
		for _, in := range c.Inputs {
			if !known[in] {
				return fmt.Errorf("%w: unknown input %q (known: %v)", ErrBadCombination, in, KnownInputs())
			}
		}
		for m, v := range c.Margins {
			if (m != "human" && m != "faceapi") || !(v >= 0 && v <= 0.5) {
				return fmt.Errorf("%w: crop margin %q = %v: want human or faceapi, in [0, 0.5]", ErrBadCombination, m, v)
			}
		}
	default:
		return fmt.Errorf("%w: version %d, want 1 or 2", ErrBadCombination, c.Version)
	}
	if !(c.Eps > 0 && c.Eps < 0.01) {
		return fmt.Errorf("%w: eps %g must be in (0, 0.01)", ErrBadCombination, c.Eps)
	}
	finite := func(v ...float64) bool {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
		return true
	}
	if !finite(c.Combined.Weights...) || !finite(c.Combined.Bias) {
		return fmt.Errorf("%w: non-finite weight", ErrBadCombination)
	}
	for _, k := range []string{"human", "faceapi", "ensemble"} {
		p, ok := c.Platt[k]
		if !ok || !finite(p.A, p.B) || p.A <= 0 {
			return fmt.Errorf("%w: missing or bad Platt scaling for %q", ErrBadCombination, k)
		}
	}
	return nil
}

// ParseCombination decodes and validates a combination file.
func ParseCombination(b []byte) (Combination, error) {
	var c Combination
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCombination, err)
	}
	return c, c.Validate()
}

// FastCombinationFile is the embedded combination fitted without mirror
// averaging (`affect fit-combination --flip off --out
// models/combined_fast_v1.json`): two forward passes per face instead of four.
const FastCombinationFile = "combined_fast_v1.json"

//go:embed combined_fast_v1.json
var fastCombinationJSON []byte

// LoadFastCombination returns the embedded FastCombinationFile.
func LoadFastCombination() (Combination, error) {
	c, err := ParseCombination(fastCombinationJSON)
	if err != nil {
		return c, fmt.Errorf("embedded %s: %w", FastCombinationFile, err)
	}
	return c, nil
}

// LoadCombination returns the embedded combination (CombinationFile).
func LoadCombination() (Combination, error) { return LoadCombinationFile(CombinationFile) }

// LoadCombinationFile returns an embedded combination file by name
// (combined_v1.json, ...).
func LoadCombinationFile(name string) (Combination, error) {
	b, err := combinationFiles.ReadFile(name)
	if err != nil {
		return Combination{}, fmt.Errorf("%w: no embedded %s", ErrBadCombination, name)
	}
	c, err := ParseCombination(b)
	if err != nil {
		return c, fmt.Errorf("embedded %s: %w", name, err)
	}
	return c, nil
}

// CombinationFiles lists the embedded combination files, oldest first.
func CombinationFiles() []string {
	var out []string
	entries, _ := combinationFiles.ReadDir(".")
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
