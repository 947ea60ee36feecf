package classify

import (
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// Point is a position in frame pixels (record.Point).
type Point = record.Point

// Landmarks68 are the 68 facial landmarks of one face in frame pixels, in
// the iBUG 300-W order face-api uses (record.Landmarks68).
type Landmarks68 = record.Landmarks68

// Indices of landmarks used by name.
const (
	LandmarkChin          = 8
	LandmarkNoseTop       = 27
	LandmarkNoseTip       = 30
	LandmarkRightEyeOuter = 36
	LandmarkRightEyeInner = 39
	LandmarkLeftEyeInner  = 42
	LandmarkLeftEyeOuter  = 45
	LandmarkMouthRight    = 48
	LandmarkMouthLeft     = 54
	LandmarkUpperLipTop   = 51
	LandmarkLowerLipBot   = 57
	LandmarkInnerUpperLip = 62
	LandmarkInnerLowerLip = 66
)

// Landmarker finds the 68 facial landmarks of a face with face-api's
// FaceLandmark68Net (models.Landmarks), on either inference backend.
// A Landmarker is NOT safe for concurrent use: make one per goroutine.
type Landmarker struct {
	spec    models.Spec
	backend Backend
	name    string
	buf     []float32
}

// NewLandmarker loads the landmark model into the named backend
// (BackendOpenCV runs landmark68_fast.onnx, BackendONNXGo landmark68.onnx).
// Close it when done.
func NewLandmarker(backend string) (*Landmarker, error) {
	return NewLandmarkerModel(backend, models.Landmarks().Name)
}

// NewLandmarkerModel is NewLandmarker with the named landmark model
// (models.LandmarkModelNames).
func NewLandmarkerModel(backend, model string) (*Landmarker, error) {
	spec, err := models.GetLandmarks(model)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	be, err := loadBackend(spec, backend)
	if err != nil {
		return nil, fmt.Errorf("classify: landmark model: %w", err)
	}
	return &Landmarker{spec: spec, backend: be, name: backend, buf: make([]float32, spec.Channels*spec.InputSize*spec.InputSize)}, nil
}

// Backend returns the name of the backend the landmark model runs in.
func (l *Landmarker) Backend() string { return l.name }

// Landmarks finds the 68 landmarks of the face in box (a face detector's
// box, any detector; no margin is added) of frame (8-bit BGR, BGRA or gray).
// As face-api does, the box is clipped to the frame, the crop is padded with
// black to a centred square, resized to 112x112 and fed to the network, and
// the network's output is mapped back from the padded square to the crop
// (FaceLandmark68NetBase.postProcess) and shifted to frame pixels.
func (l *Landmarker) Landmarks(frame gocv.Mat, box image.Rectangle) (Landmarks68, error) {
	if l.backend == nil {
		return Landmarks68{}, ErrClosed
	}
	if frame.Empty() {
		return Landmarks68{}, fmt.Errorf("classify: landmarks: %w: the frame is empty", ErrBadFace)
	}
	r := box.Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	if r.Empty() {
		return Landmarks68{}, fmt.Errorf("classify: landmarks: %w: box %v is outside the %dx%d frame", ErrBadFace, box, frame.Cols(), frame.Rows())
	}
	region := frame.Region(r)
	err := preprocessInto(l.buf, region, l.spec)
	region.Close()
	if err != nil {
		return Landmarks68{}, fmt.Errorf("classify: landmarks: %w", err)
	}
	out, err := l.backend.Infer(l.buf)
	if err != nil {
		return Landmarks68{}, fmt.Errorf("classify: landmarks on %s: %w", l.name, err)
	}
	return LandmarksFromOutput(out, r)
}

// LandmarksFromOutput maps the landmark network's 136 raw outputs (x, y
// pairs relative to the padded square input) to frame pixels for a face crop
// r, exactly as face-api's FaceLandmark68NetBase.postProcess and
// FaceLandmarks (relative position × crop size + crop origin) do.
func LandmarksFromOutput(out []float32, r image.Rectangle) (Landmarks68, error) {
	var l Landmarks68
	if len(out) != 2*models.LandmarkPoints {
		return l, fmt.Errorf("%w: the landmark model gave %d values, want %d", ErrBadOutput, len(out), 2*len(l))
	}
	if r.Empty() {
		return l, fmt.Errorf("classify: landmarks: %w: empty face box", ErrBadFace)
	}
	const in = 112.0 // the input size postProcess multiplies by
	w, h := float64(r.Dx()), float64(r.Dy())
	scale := in / math.Max(w, h)
	sw, sh := w*scale, h*scale
	var padX, padY float64
	if sw < sh {
		padX = math.Abs(sw-sh) / 2
	}
	if sh < sw {
		padY = math.Abs(sw-sh) / 2
	}
	for i := range l {
		x, y := float64(out[2*i]), float64(out[2*i+1])
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) || math.Abs(x) > 10 || math.Abs(y) > 10 {
			return Landmarks68{}, fmt.Errorf("%w: landmark %d is (%v, %v)", ErrBadOutput, i, x, y)
		}
		l[i] = Point{
			X: float64(r.Min.X) + (x*in-padX)/sw*w,
			Y: float64(r.Min.Y) + (y*in-padY)/sh*h,
		}
	}
	return l, nil
}

// Close releases the backend. Using the Landmarker afterwards returns ErrClosed.
func (l *Landmarker) Close() error {
	if l.backend == nil {
		return nil
	}
	err := l.backend.Close()
	l.backend = nil
	return err
}

// LandmarkModels returns the names of the landmark models
// (DefaultLandmarks is one).
func LandmarkModels() []string { return slices.Clone(models.LandmarkModelNames) }
