package classify

import (
	"errors"
	"fmt"
)

// Backend runs one network on one preprocessed NCHW float32 input (batch 1).
// A Backend is not safe for concurrent use.
type Backend interface {
	// Infer runs the network on input (Channels*InputSize*InputSize values)
	// and returns a new slice with the network's outputs.
	Infer(input []float32) ([]float32, error)
	// Close releases the network. Infer must not be called afterwards.
	Close() error
}

// Inference backends.
const (
	// BackendONNXGo is the pure-Go backend (github.com/owulveryck/onnx-go with
	// the gorgonnx/gorgonia backend); it runs each model's Spec.File graph.
	BackendONNXGo = "onnxgo"
	// BackendOpenCV is OpenCV's DNN module through gocv; it runs each model's
	// Spec.FastFile graph.
	BackendOpenCV = "opencv"
)

// ErrUnknownBackend is returned for a backend name other than BackendONNXGo
// and BackendOpenCV.
var ErrUnknownBackend = errors.New("unknown backend")

// ErrClosed is returned when a closed Model or Backend is used.
var ErrClosed = errors.New("classify: model is closed")

// BackendNames returns the inference backends, fastest first.
func BackendNames() []string { return []string{BackendOpenCV, BackendONNXGo} }

// newBackend loads an ONNX graph with input shape NCHW into the named backend.
func newBackend(backend string, onnxModel []byte, shape []int) (Backend, error) {
	switch backend {
	case BackendONNXGo:
		return newONNXGo(onnxModel, shape)
	case BackendOpenCV:
		return newOpenCVDNN(onnxModel, shape)
	}
	return nil, fmt.Errorf("%w %q (choose %s or %s)", ErrUnknownBackend, backend, BackendOpenCV, BackendONNXGo)
}
