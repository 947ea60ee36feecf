package classify

import (
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/affectlab/affect/pipeline"
	"gocv.io/x/gocv"
)

// ModelEnsemble averages the class probabilities of every model.
const ModelEnsemble = "ensemble"

// DefaultModel is the model used when ScorerParams.Model is empty.
const DefaultModel = ModelEnsemble

// ScorerNames lists the values ScorerParams.Model accepts.
func ScorerNames() []string { return append(ModelNames(), ModelEnsemble) }

// ScorerParams configure a Scorer.
type ScorerParams struct {
	// Model is "human", "faceapi" or "ensemble" (default).
	Model string
	// Backend is "opencv" (default, fast) or "onnxgo" (pure Go).
	Backend string
	// Detector configures face detection.
	Detector DetectorParams
	// Crops says that every frame is already a face crop: detection is
	// skipped and the whole frame is scored.
	Crops bool
	// FallbackWholeImage scores the whole frame when no face is found, and
	// marks the face with Quality.Low (used by `affect eval` on photos).
	FallbackWholeImage bool
}

// Timing is the time a Scorer spent per stage.
type Timing struct {
	Frames   int
	Faces    int
	Detect   time.Duration
	Classify time.Duration
}

// Scorer finds faces in a frame and scores each for happiness.
// A Scorer is not safe for concurrent use: make one per goroutine.
type Scorer struct {
	p      ScorerParams
	det    *Detector
	models []*Model
	crop   gocv.Mat
	timing Timing
}

// NewScorer loads the detector and model(s).
func NewScorer(p ScorerParams) (*Scorer, error) {
	if p.Model == "" {
		p.Model = DefaultModel
	}
	if p.Backend == "" {
		p.Backend = BackendOpenCV
	}
	names := []string{p.Model}
	if p.Model == ModelEnsemble {
		names = ModelNames()
	}
	s := &Scorer{p: p}
	if !p.Crops {
		d, err := NewDetector(p.Detector)
		if err != nil {
			return nil, err
		}
		s.det = d
	}
	for _, n := range names {
		m, err := NewModel(n, p.Backend)
		if err != nil {
			s.Close()
			if errors.Is(err, ErrUnknownModel) {
				return nil, fmt.Errorf("%w: %q (choose one of %v)", ErrUnknownModel, p.Model, ScorerNames())
			}
			return nil, err
		}
		s.models = append(s.models, m)
	}
	s.crop = gocv.NewMat()
	return s, nil
}

// Params returns the parameters with defaults filled in.
func (s *Scorer) Params() ScorerParams { return s.p }

// Timing returns the time spent so far per stage.
func (s *Scorer) Timing() Timing { return s.timing }

// Close releases the detector and models.
func (s *Scorer) Close() error {
	var errs []error
	if s.det != nil {
		errs = append(errs, s.det.Close())
	}
	for _, m := range s.models {
		errs = append(errs, m.Close())
	}
	s.crop.Close()
	return errors.Join(errs...)
}

// Score finds the faces in frame (largest first) and scores each.
// A frame with no face gives an empty slice and no error.
func (s *Scorer) Score(frame gocv.Mat) ([]pipeline.Face, error) {
	if frame.Empty() {
		return nil, errors.New("classify: empty frame")
	}
	s.timing.Frames++
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	var boxes []image.Rectangle
	lowFallback := false
	if s.det == nil {
		boxes = []image.Rectangle{bounds}
	} else {
		t0 := time.Now()
		boxes = s.det.Detect(frame)
		s.timing.Detect += time.Since(t0)
		if len(boxes) == 0 && s.p.FallbackWholeImage {
			boxes = []image.Rectangle{bounds}
			lowFallback = true
		}
	}
	return s.scoreBoxes(frame, boxes, lowFallback)
}

// ScoreBoxes scores the faces at boxes (found by a FaceTracker, say) in frame.
func (s *Scorer) ScoreBoxes(frame gocv.Mat, boxes []image.Rectangle) ([]pipeline.Face, error) {
	if frame.Empty() {
		return nil, errors.New("classify: empty frame")
	}
	return s.scoreBoxes(frame, boxes, false)
}

func (s *Scorer) scoreBoxes(frame gocv.Mat, boxes []image.Rectangle, low bool) ([]pipeline.Face, error) {
	t0 := time.Now()
	defer func() { s.timing.Classify += time.Since(t0) }()
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	faces := make([]pipeline.Face, 0, len(boxes))
	for _, b := range boxes {
		f, err := s.scoreBox(frame, b, bounds)
		if err != nil {
			return nil, err
		}
		f.Quality = &pipeline.Quality{FaceFrac: float64(b.Dy()) / float64(bounds.Dy()), Low: low}
		faces = append(faces, f)
		s.timing.Faces++
	}
	return faces, nil
}

func (s *Scorer) scoreBox(frame gocv.Mat, box, bounds image.Rectangle) (pipeline.Face, error) {
	var sum [7]float64
	for _, m := range s.models {
		r := box
		if s.det != nil {
			r = CropBox(box, m.Spec().Margin, bounds)
		}
		region := frame.Region(r)
		p, err := m.Predict(region)
		region.Close()
		if err != nil {
			return pipeline.Face{}, fmt.Errorf("classify: model %s: %w", m.Name(), err)
		}
		for i := range sum {
			sum[i] += p[i]
		}
	}
	f := pipeline.Face{Box: pipeline.Box{X: box.Min.X, Y: box.Min.Y, W: box.Dx(), H: box.Dy()}}
	for i := range sum {
		f.Probs[i] = sum[i] / float64(len(s.models))
	}
	f.Happiness = f.Probs[pipeline.HappyIndex]
	return f, nil
}
