package classify

import (
	"fmt"
	"image"
	"math"

	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

// Point is a position in frame pixels (x to the right, y down; the frame's
// top-left corner is 0,0, as in face-api).
type Point struct {
	X, Y float64
}

// Landmarks68 are the 68 facial landmarks of one face in frame pixels, in
// the iBUG 300-W order face-api uses (the subject's right is the image's
// left): jaw 0-16 (chin 8), right brow 17-21, left brow 22-26, nose bridge
// 27-30 (tip 30), nostrils 31-35, right eye 36-41 (outer corner 36, inner
// 39), left eye 42-47 (inner 42, outer 45), outer lips 48-59 (mouth corners
// 48 and 54, upper lip top 51, lower lip bottom 57), inner lips 60-67
// (corners 60 and 64, upper 62, lower 66).
type Landmarks68 [models.LandmarkPoints]Point

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

// RightEye returns the centre of the subject's right eye (points 36-41, on
// the image's left).
func (l *Landmarks68) RightEye() Point { return l.mean(36, 42) }

// LeftEye returns the centre of the subject's left eye (points 42-47).
func (l *Landmarks68) LeftEye() Point { return l.mean(42, 48) }

func (l *Landmarks68) mean(from, to int) Point {
	var p Point
	for i := from; i < to; i++ {
		p.X += l[i].X
		p.Y += l[i].Y
	}
	n := float64(to - from)
	return Point{p.X / n, p.Y / n}
}

// EyeDistance returns the distance between the two eye centres in pixels.
func (l *Landmarks68) EyeDistance() float64 {
	a, b := l.RightEye(), l.LeftEye()
	return math.Hypot(b.X-a.X, b.Y-a.Y)
}

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
	spec := models.Landmarks()
	var file string
	switch backend {
	case BackendONNXGo:
		file = spec.File
	case BackendOpenCV:
		file = spec.FastFile
	default:
		return nil, fmt.Errorf("classify: %w %q (choose %s or %s)", ErrUnknownBackend, backend, BackendOpenCV, BackendONNXGo)
	}
	b, err := models.Open(file)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	be, err := newBackend(backend, b, []int{1, spec.Channels, spec.InputSize, spec.InputSize})
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
	if len(out) != 2*len(l) {
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
