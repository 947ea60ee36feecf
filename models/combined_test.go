package models_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/affectlab/affect/models"
)

func TestCombinationValidate(t *testing.T) {
	platt := map[string]models.Platt{"human": {A: 1}, "faceapi": {A: 1}, "ensemble": {A: 1}}
	ok := models.Combination{Version: 2, Eps: 1e-6, Platt: platt,
		Inputs:   []string{models.InputLogit("human"), models.InputLogit("faceapi")},
		Combined: models.LogReg{Weights: []float64{1, 1}}, Margins: map[string]float64{"human": 0, "faceapi": 0.2}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(c *models.Combination){
		"unknown input":   func(c *models.Combination) { c.Inputs = []string{"x", models.InputLogit("faceapi")} },
		"weights ≠ input": func(c *models.Combination) { c.Combined.Weights = []float64{1} },
		"bad margin":      func(c *models.Combination) { c.Margins = map[string]float64{"human": 0.9} },
		"unknown model":   func(c *models.Combination) { c.Margins = map[string]float64{"other": 0.1} },
		"version 3":       func(c *models.Combination) { c.Version = 3 },
		"no Platt":        func(c *models.Combination) { c.Platt = nil },
	} {
		c := ok
		c.Margins = map[string]float64{"human": 0, "faceapi": 0.2}
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, models.ErrBadCombination) {
			t.Errorf("%s: Validate = %v, want ErrBadCombination", name, err)
		}
	}
}

// Every embedded combination file is valid, and the shipped one is among them.
func TestEmbeddedCombinationFiles(t *testing.T) {
	files := models.CombinationFiles()
	if !slices.Contains(files, models.CombinationFile) || !slices.Contains(files, "combined_v1.json") {
		t.Fatalf("embedded files %v lack %s or combined_v1.json", files, models.CombinationFile)
	}
	for _, f := range files {
		if _, err := models.LoadCombinationFile(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := models.LoadCombinationFile("nope.json"); !errors.Is(err, models.ErrBadCombination) {
		t.Errorf("missing file: %v", err)
	}
}
