package models

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// CombinationFile is the embedded file with the learned combination of the
// two models and the calibration of every selectable model. It is written by
// `affect fit-combination` (cmd/affect/fit.go); see README.md.
const CombinationFile = "combined_v1.json"

//go:embed combined_v1.json
var combinationJSON []byte

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
	// Inputs name the features of Combined, in order: the log-probability of
	// each class (record.Labels order) of each model (human, then faceapi),
	// then the logit of the mean of both models' happy probabilities.
	Inputs []string `json:"inputs"`
	// Combined maps the 15 inputs to a calibrated P(happy).
	Combined LogReg `json:"combined"`
	// Platt calibrates the happy probability of "human", "faceapi" and
	// "ensemble" (the mean of both models' probabilities).
	Platt map[string]Platt `json:"platt"`
	Fit   FitInfo          `json:"fit"`
}

// Validate checks a Combination for use.
func (c Combination) Validate() error {
	if c.Version != 1 {
		return fmt.Errorf("%w: version %d, want 1", ErrBadCombination, c.Version)
	}
	if len(c.Combined.Weights) != 15 || len(c.Inputs) != 15 {
		return fmt.Errorf("%w: %d weights and %d inputs, want 15", ErrBadCombination, len(c.Combined.Weights), len(c.Inputs))
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

// LoadCombination returns the embedded combination (CombinationFile).
func LoadCombination() (Combination, error) {
	c, err := ParseCombination(combinationJSON)
	if err != nil {
		return c, fmt.Errorf("embedded %s: %w", CombinationFile, err)
	}
	return c, nil
}
