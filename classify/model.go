package classify

import (
	"fmt"
	"math"

	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

// ErrUnknownModel is returned for a model name that is not one of
// ModelNames(). It is models.ErrUnknownModel, so errors.Is works with either.
var ErrUnknownModel = models.ErrUnknownModel

// ErrBadOutput is returned when a network's output is not a probability
// vector (wrong length, NaN, negative, or not summing to 1).
var ErrBadOutput = fmt.Errorf("classify: model output is not a probability vector")

// modelOrder is the order ModelNames reports.
var modelOrder = []string{"human", "faceapi"}

// ModelNames returns the expression models: "human", "faceapi".
func ModelNames() []string { return append([]string(nil), modelOrder...) }

// Model is one expression network loaded into one inference backend.
// A Model is NOT safe for concurrent use: make one per goroutine.
type Model struct {
	spec    models.Spec
	backend Backend
	name    string // backend name
	buf     []float32
}

// NewModel loads the embedded ONNX graph of the named model into the named
// backend: BackendONNXGo runs Spec.File (NAME.onnx), BackendOpenCV runs
// Spec.FastFile (NAME_fast.onnx). Close the Model when done.
func NewModel(name, backend string) (*Model, error) {
	spec, err := models.Get(name)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	be, err := loadBackend(spec, backend)
	if err != nil {
		return nil, fmt.Errorf("classify: model %s: %w", name, err)
	}
	return &Model{
		spec:    spec,
		backend: be,
		name:    backend,
		buf:     make([]float32, spec.Channels*spec.InputSize*spec.InputSize),
	}, nil
}

// Name returns the model's name.
func (m *Model) Name() string { return m.spec.Name }

// Backend returns the name of the backend the model runs in.
func (m *Model) Backend() string { return m.name }

// Spec returns the model's Spec.
func (m *Model) Spec() models.Spec { return m.spec }

// Predict classifies one face: face is the BGR crop of the face including the
// margin Spec().Margin (any size; gray and BGRA are accepted too). It returns
// the seven class probabilities in the canonical order record.Labels (angry,
// disgust, fear, happy, sad, surprise, neutral).
func (m *Model) Predict(face gocv.Mat) ([7]float64, error) {
	if m.backend == nil {
		return [7]float64{}, ErrClosed
	}
	if err := preprocessInto(m.buf, face, m.spec); err != nil {
		return [7]float64{}, fmt.Errorf("classify: %s: %w", m.spec.Name, err)
	}
	return m.PredictTensor(m.buf)
}

// PredictTensor classifies an already preprocessed input (see Preprocess)
// and returns the probabilities in the canonical order record.Labels.
func (m *Model) PredictTensor(x []float32) ([7]float64, error) {
	var p [7]float64
	if m.backend == nil {
		return p, ErrClosed
	}
	out, err := m.backend.Infer(x)
	if err != nil {
		return p, fmt.Errorf("classify: %s on %s: %w", m.spec.Name, m.name, err)
	}
	if len(out) != 7 {
		return p, fmt.Errorf("%w: %s gave %d values, want 7", ErrBadOutput, m.spec.Name, len(out))
	}
	sum := 0.0
	for i, v := range out {
		f := float64(v)
		if math.IsNaN(f) || f < 0 || f > 1 {
			return p, fmt.Errorf("%w: %s gave %v", ErrBadOutput, m.spec.Name, out)
		}
		sum += f
		p[m.spec.Canonical[i]] = f
	}
	if math.Abs(sum-1) > 1e-3 {
		return p, fmt.Errorf("%w: %s gave values summing to %v", ErrBadOutput, m.spec.Name, sum)
	}
	return p, nil
}

// Close releases the backend. Using the Model afterwards returns ErrClosed.
func (m *Model) Close() error {
	if m.backend == nil {
		return nil
	}
	err := m.backend.Close()
	m.backend = nil
	return err
}

// loadBackend loads spec's graph into the named backend: BackendONNXGo runs
// spec.File (the folded graph), BackendOpenCV spec.FastFile (grouped
// convolutions), with a 1 x Channels x InputSize x InputSize input.
func loadBackend(spec models.Spec, backend string) (Backend, error) {
	var file string
	switch backend {
	case BackendONNXGo:
		file = spec.File
	case BackendOpenCV:
		file = spec.FastFile
	default:
		return nil, fmt.Errorf("%w %q (choose %s or %s)", ErrUnknownBackend, backend, BackendOpenCV, BackendONNXGo)
	}
	b, err := models.Open(file)
	if err != nil {
		return nil, err
	}
	return newBackend(backend, b, []int{1, spec.Channels, spec.InputSize, spec.InputSize})
}
