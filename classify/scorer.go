package classify

import (
	"errors"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// ModelEnsemble averages the class probabilities of every model.
const ModelEnsemble = "ensemble"

// DefaultModel is the model used when ScorerParams.Model is empty: the
// learned combination of both models.
const DefaultModel = ModelCombined

// ScorerNames lists the values ScorerParams.Model accepts.
func ScorerNames() []string {
	return append(ModelNames(), ModelEnsemble, ModelCombined, ModelCombinedFast)
}

// Quality rule (see QualityLow): a face is low quality when
//   - it is smaller than MinFaceFrac of the frame height (too few pixels);
//   - its crop is blurred or featureless: the variance of the Laplacian of
//     the gray crop scaled to SharpnessSide pixels is below MinSharpness;
//   - the detector barely finds it: fewer than MinDetectNeighbors raw
//     cascade hits at the common scale (Detector.Neighbors), i.e. fewer than
//     the tracker needs to keep following a face (often not a face at all);
//   - it is turned away: the head pose from its 68 landmarks (HeadPose) has
//     |yaw| above MaxYaw (past a half profile: the far eye and mouth corner
//     start to be hidden behind the nose and cheek) or |pitch| above
//     MaxPitch (looking far up or down: the mouth or eyes foreshortened);
//   - or it is not a detected face (the whole-image fallback of photos).
//
// The mirror symmetry of the crop (Quality.Symmetry) is still measured and
// written, but no longer part of the rule: it was a stand-in for pose, and
// it also drops for evenly turned-but-visible faces and uneven light.
//
// Frames of a low-quality face keep their score; the flag lets an analysis
// leave them out (low_quality=1 in the per-frame CSV).
const (
	// QualityMargin is the margin per side (a fraction of the face box) of
	// the crop on which sharpness and symmetry are measured: the models'
	// crop when the rule was set (combined_v1), kept so that the quality
	// signal does not change with the models' crops.
	QualityMargin      = 0.1
	MinFaceFrac        = 0.10
	MinSharpness       = 20.0
	SharpnessSide      = 64
	MinDetectNeighbors = 6
	MaxYaw             = 45.0
	MaxPitch           = 30.0
)

// QualityLow applies the documented quality rule to a face's measures.
// Measures that were not taken (DetectNeighbors, Yaw, Pitch nil) do not
// count.
func QualityLow(q record.Quality) bool {
	return q.FaceFrac < MinFaceFrac || q.Sharpness < MinSharpness ||
		(q.DetectNeighbors != nil && *q.DetectNeighbors < MinDetectNeighbors) ||
		(q.Yaw != nil && math.Abs(*q.Yaw) > MaxYaw) ||
		(q.Pitch != nil && math.Abs(*q.Pitch) > MaxPitch)
}

// ScorerParams configure a Scorer.
type ScorerParams struct {
	// Model is "human", "faceapi", "ensemble" (mean of both models'
	// probabilities) or "combined" (default: logistic regression on both
	// models' outputs, models.CombinationFile).
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
	// Uncalibrated ships the raw P(happy) of human, faceapi or ensemble as
	// Happiness instead of its Platt-calibrated value (for measurement only;
	// "combined" is calibrated by construction and ignores it).
	Uncalibrated bool
	// Margin, when > 0, overrides every model's crop margin (the
	// combination's Margins, else models.Spec.Margin; a fraction of the face
	// box per side) around detected faces: for measuring which margin suits a model.
	Margin float64
	// NoFlip turns off the mirror averaging that models.CombinationFile asks
	// for (for measurement only: the calibration was fitted with it).
	NoFlip bool
	// Landmarks names the 68-point landmark model
	// (models.LandmarkModelNames). Default DefaultLandmarks.
	Landmarks string
}

// DefaultLandmarks is the landmark model used when none is named: face-api's
// tiny 68-point net, which finds points about as well as the full one on
// the hand-marked test images and gives the same head-pose agreement with
// GENKI-4K's labels, at about half the cost (models/README.md).
const DefaultLandmarks = "landmark68tiny"

// NewFaceTrackerFor returns the FaceTracker that the scoring loop uses
// with a Scorer of parameters p: its detector, and the landmark model
// that follows faces between keyframes and whose landmarks the Scorer
// then uses.
func NewFaceTrackerFor(p ScorerParams) (*FaceTracker, error) {
	if p.Landmarks == "" {
		p.Landmarks = DefaultLandmarks
	}
	return NewFaceTrackerWith(p.Detector, TrackParams{Landmarks: p.Landmarks, Backend: p.Backend})
}

// Timing is the time a Scorer spent per stage.
type Timing struct {
	Frames   int
	Faces    int
	Detect   time.Duration
	Classify time.Duration
	// Landmarks is the part of Classify spent finding landmarks.
	Landmarks time.Duration
}

// Scorer finds faces in a frame and scores each for happiness.
// A Scorer is not safe for concurrent use: make one per goroutine.
type Scorer struct {
	p   ScorerParams
	det FaceDetector
	// lm finds the 68 landmarks (head pose; smile geometry when the
	// combination uses it: geometry) of a face given without them; loaded
	// on first use.
	lm       *Landmarker
	geometry bool
	models   []*Model
	names    []string
	cal      calibrator
	flip     bool
	crop     gocv.Mat
	gray     gocv.Mat
	small    gocv.Mat
	lap      gocv.Mat
	mirror   gocv.Mat
	match    gocv.Mat
	probs    [][7]float64
	timing   Timing
}

// NewScorer loads the detector and model(s).
func NewScorer(p ScorerParams) (*Scorer, error) {
	if p.Model == "" {
		p.Model = DefaultModel
	}
	if p.Backend == "" {
		p.Backend = BackendOpenCV
	}
	load, calModel := models.LoadCombination, p.Model
	if p.Model == ModelCombinedFast {
		load, calModel = models.LoadFastCombination, ModelCombined
	}
	comb, err := load()
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	names := []string{p.Model}
	if p.Model == ModelEnsemble || p.Model == ModelCombined || p.Model == ModelCombinedFast {
		names = ModelNames()
	}
	s := &Scorer{p: p, names: names, cal: calibrator{c: comb, model: calModel, raw: p.Uncalibrated}, flip: comb.Flip && !p.NoFlip}
	if !p.Crops {
		d, err := NewFaceDetector(p.Detector)
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
	if p.Landmarks == "" {
		p.Landmarks = DefaultLandmarks
		s.p.Landmarks = p.Landmarks
	}
	// The landmark net is loaded when a face comes without landmarks (a
	// FaceTracker gives them): checked now, so a bad name fails here.
	if _, err := models.GetLandmarks(p.Landmarks); err != nil {
		s.Close()
		return nil, fmt.Errorf("classify: %w", err)
	}
	s.geometry = p.Model == ModelCombined && comb.NeedsLandmarks()
	s.crop = gocv.NewMat()
	s.gray = gocv.NewMat()
	s.small = gocv.NewMat()
	s.lap = gocv.NewMat()
	s.mirror = gocv.NewMat()
	s.match = gocv.NewMat()
	s.probs = make([][7]float64, len(s.models))
	return s, nil
}

// CropMargin is the crop margin per side (a fraction of the detected face
// box) the Scorer gives model name: the shipped combination's (its
// Margins, the crop it was fitted with), else the model's Spec.Margin.
func CropMargin(name string) (float64, error) {
	spec, err := models.Get(name)
	if err != nil {
		return 0, fmt.Errorf("classify: %w", err)
	}
	c, err := models.LoadCombination()
	if err != nil {
		return 0, fmt.Errorf("classify: %w", err)
	}
	return cropMargin(c, spec), nil
}

func cropMargin(c models.Combination, spec models.Spec) float64 {
	if m, ok := c.Margins[spec.Name]; ok {
		return m
	}
	return spec.Margin
}

// ModelVersion names what makes the scores: the model and the embedded
// combination and calibration file, e.g. "combined (combined_v2.json)".
func (s *Scorer) ModelVersion() string { return ModelVersion(s.p.Model) }

// ModelVersion names a selectable model with the combination and
// calibration file it uses (models.CombinationFile), for result files.
func ModelVersion(model string) string {
	if model == "" {
		model = DefaultModel
	}
	if model == ModelCombinedFast {
		return model + " (" + models.FastCombinationFile + ")"
	}
	return model + " (" + models.CombinationFile + ")"
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
	if s.lm != nil {
		errs = append(errs, s.lm.Close())
	}
	s.crop.Close()
	s.gray.Close()
	s.small.Close()
	s.lap.Close()
	s.mirror.Close()
	s.match.Close()
	return errors.Join(errs...)
}

// Score finds the faces in frame (largest first) and scores each.
// A frame with no face gives an empty slice and no error.
func (s *Scorer) Score(frame gocv.Mat) ([]record.Face, error) {
	if frame.Empty() {
		return nil, errors.New("classify: empty frame")
	}
	s.timing.Frames++
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	var dets []Detection
	lowFallback := false
	if s.det == nil {
		dets = []Detection{{Box: bounds, Neighbors: -1}}
	} else {
		t0 := time.Now()
		dets = s.det.Detect(frame)
		s.timing.Detect += time.Since(t0)
		if len(dets) == 0 && s.p.FallbackWholeImage {
			dets = []Detection{{Box: bounds, Neighbors: -1}}
			lowFallback = true
		}
	}
	return s.scoreFaces(frame, dets, lowFallback)
}

// ScoreFaces scores the faces found in frame by a FaceTracker, say.
func (s *Scorer) ScoreFaces(frame gocv.Mat, faces []Detection) ([]record.Face, error) {
	if frame.Empty() {
		return nil, errors.New("classify: empty frame")
	}
	return s.scoreFaces(frame, faces, false)
}

func (s *Scorer) scoreFaces(frame gocv.Mat, dets []Detection, low bool) ([]record.Face, error) {
	t0 := time.Now()
	defer func() { s.timing.Classify += time.Since(t0) }()
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	faces := make([]record.Face, 0, len(dets))
	for _, d := range dets {
		b := d.Box
		// Landmarks on the face box itself (not the models' margin crop):
		// head pose for the quality rule, and smile geometry when the
		// combination uses it.
		var l Landmarks68
		if d.Landmarks != nil { // found by the FaceTracker
			l = *d.Landmarks
		} else {
			t1 := time.Now()
			var err error
			if s.lm == nil {
				if s.lm, err = NewLandmarkerModel(s.p.Backend, s.p.Landmarks); err != nil {
					return nil, err
				}
			}
			l, err = s.lm.Landmarks(frame, b)
			s.timing.Landmarks += time.Since(t1)
			if err != nil {
				return nil, err
			}
		}
		var geo *SmileGeometry
		if s.geometry {
			if g, ok := SmileGeometryOf(&l); ok {
				geo = &g
			}
		}
		f, m, err := s.scoreBox(frame, b, bounds, geo)
		if err != nil {
			return nil, err
		}
		q := record.Quality{FaceFrac: float64(b.Dy()) / float64(bounds.Dy()), Sharpness: m.sharpness, Symmetry: m.symmetry}
		if d.Neighbors >= 0 {
			n := d.Neighbors
			q.DetectNeighbors = &n
		}
		var pose Pose
		if d.Pose != nil && d.Landmarks != nil {
			pose = *d.Pose
		} else {
			pose = HeadPose(&l)
		}
		q.Yaw, q.Pitch, q.Roll = &pose.Yaw, &pose.Pitch, &pose.Roll
		f.Landmarks = &l
		q.Low = low || QualityLow(q)
		f.Quality = &q
		f.ID = d.ID
		faces = append(faces, f)
		s.timing.Faces++
	}
	return faces, nil
}

// cropMeasures are the quality measures of a face crop.
type cropMeasures struct{ sharpness, symmetry float64 }

// scoreBox scores the face in box; geo is its smile geometry (nil: none),
// used when the combination asks for it.
func (s *Scorer) scoreBox(frame gocv.Mat, box, bounds image.Rectangle, geo *SmileGeometry) (record.Face, cropMeasures, error) {
	var sum [7]float64
	// The quality measures are taken on the box widened by QualityMargin
	// (the crop the quality rule was set on), whatever crop the models see.
	qr := box
	if s.det != nil {
		qr = CropBox(box, QualityMargin, bounds)
	}
	qregion := frame.Region(qr)
	cm := s.measure(qregion)
	qregion.Close()
	for k, m := range s.models {
		r := box
		if s.det != nil {
			margin := cropMargin(s.cal.c, m.Spec())
			if s.p.Margin > 0 {
				margin = s.p.Margin
			}
			r = CropBox(box, margin, bounds)
		}
		region := frame.Region(r)
		p, err := m.Predict(region)
		if err == nil && s.flip {
			gocv.Flip(region, &s.crop, 1)
			var q [7]float64
			q, err = m.Predict(s.crop)
			for i := range p {
				p[i] = (p[i] + q[i]) / 2
			}
		}
		region.Close()
		if err != nil {
			return record.Face{}, cropMeasures{}, fmt.Errorf("classify: model %s: %w", m.Name(), err)
		}
		s.probs[k] = p
		for i := range sum {
			sum[i] += p[i]
		}
	}
	f := record.Face{Box: record.Box{X: box.Min.X, Y: box.Min.Y, W: box.Dx(), H: box.Dy()}}
	for i := range sum {
		f.Probs[i] = sum[i] / float64(len(s.models))
	}
	f.Happiness = s.cal.happiness(s.names, s.probs, geo)
	if math.IsNaN(f.Happiness) {
		return record.Face{}, cropMeasures{}, errors.New("classify: no smile geometry for this face (its eyes coincide): cannot score it")
	}
	return f, cm, nil
}

// Sharpness is the variance of the Laplacian of the gray face crop scaled to
// SharpnessSide x SharpnessSide pixels (so it does not depend on the face's
// size in pixels): a blurred or featureless crop gives a small value.
func Sharpness(crop gocv.Mat) float64 {
	g, sm, lap := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer g.Close()
	defer sm.Close()
	defer lap.Close()
	return sharpness(crop, &g, &sm, &lap)
}

// measure computes the crop's sharpness and symmetry, reusing s's buffers.
func (s *Scorer) measure(crop gocv.Mat) cropMeasures {
	sh := sharpness(crop, &s.gray, &s.small, &s.lap)
	if crop.Empty() {
		return cropMeasures{sharpness: sh}
	}
	return cropMeasures{sharpness: sh, symmetry: symmetry(s.small, &s.mirror, &s.match)}
}

// Symmetry is the correlation (Pearson, -1..1) between the gray face crop,
// scaled to SharpnessSide x SharpnessSide pixels, and its mirror image. A
// frontal, evenly lit face is close to mirror-symmetric (typically 0.6 or
// more); a face turned away from the camera (out-of-plane rotation), tilted
// far, half in shadow or partly hidden is less so. It is the pose measure of
// the quality signal: the Haar box gives no head angles.
func Symmetry(crop gocv.Mat) float64 {
	if crop.Empty() {
		return 0
	}
	g, sm, lap, mir, res := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer g.Close()
	defer sm.Close()
	defer lap.Close()
	defer mir.Close()
	defer res.Close()
	sharpness(crop, &g, &sm, &lap)
	return symmetry(sm, &mir, &res)
}

// symmetry correlates small (a gray square) with its mirror image.
func symmetry(small gocv.Mat, mirror, match *gocv.Mat) float64 {
	if _, std := meanStd(small); std < 1 {
		return 0 // a flat crop: no structure to compare
	}
	gocv.Flip(small, mirror, 1)
	noMask := gocv.NewMat()
	defer noMask.Close()
	gocv.MatchTemplate(small, *mirror, match, gocv.TmCcoeffNormed, noMask)
	v := float64(match.GetFloatAt(0, 0))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0 // a flat crop: no structure to compare
	}
	return math.Max(-1, math.Min(1, v))
}

func sharpness(crop gocv.Mat, gray, small, lap *gocv.Mat) float64 {
	if crop.Empty() {
		return 0
	}
	toGray(crop, gray)
	gocv.Resize(*gray, small, image.Pt(SharpnessSide, SharpnessSide), 0, 0, gocv.InterpolationArea)
	gocv.Laplacian(*small, lap, gocv.MatTypeCV64F, 1, 1, 0, gocv.BorderDefault)
	_, std := meanStd(*lap)
	return std * std
}

func meanStd(m gocv.Mat) (float64, float64) {
	mean, std := gocv.NewMat(), gocv.NewMat()
	defer mean.Close()
	defer std.Close()
	gocv.MeanStdDev(m, &mean, &std)
	return mean.GetDoubleAt(0, 0), std.GetDoubleAt(0, 0)
}
