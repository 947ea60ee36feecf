package classify

import (
	_ "github.com/affectlab/affect/internal/cvenv" // OpenCV defaults, before any OpenCV call

	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"

	"gocv.io/x/gocv"
)

// ErrNoCascade is returned when no Haar cascade file can be found.
var ErrNoCascade = errors.New("face detector cascade not found")

// DefaultCascade is the Haar cascade used when DetectorParams.Cascade is empty.
const DefaultCascade = "haarcascade_frontalface_default.xml"

// FastCascade is OpenCV's LBP frontal face cascade: about 3-4 times faster
// than DefaultCascade, with slightly smaller boxes and a few more misses on
// dim faces (see the README's speed section).
const FastCascade = "lbpcascade_frontalface.xml"

// CascadeAliases are short names for the cascades affect knows.
var CascadeAliases = map[string]string{"haar": DefaultCascade, "lbp": FastCascade}

// CascadeDirs are searched, in order, for a cascade given by file name.
// Debian's opencv-data package installs the first.
var CascadeDirs = []string{
	"/usr/share/opencv4/lbpcascades",
	"/usr/share/opencv4/haarcascades",
	"/usr/share/opencv/lbpcascades",
	"/usr/share/opencv/haarcascades",
	"/usr/local/share/opencv4/lbpcascades",
	"/usr/local/share/opencv4/haarcascades",
	"/opt/homebrew/share/opencv4/lbpcascades",
	"/opt/homebrew/share/opencv4/haarcascades",
}

// DetectorParams configure face detection. The zero value of each field means
// its documented default.
type DetectorParams struct {
	// Cascade is a cascade file path, a file name looked up in
	// $AFFECT_CASCADE_DIR and CascadeDirs, or "haar" (DefaultCascade) or
	// "lbp" (FastCascade). Default DefaultCascade.
	Cascade string
	// DetectWidth is the width, in pixels, to which a frame is shrunk before
	// detection (boxes are mapped back to full resolution). Smaller is faster
	// but misses smaller faces. Default 320; frames narrower are not enlarged.
	DetectWidth int
	// ScaleFactor is the image pyramid step of the cascade. Default 1.1.
	ScaleFactor float64
	// MinNeighbors is how many overlapping hits a face needs. Default 5.
	MinNeighbors int
	// MinFaceFrac is the smallest face height as a fraction of the frame
	// height. Default 1/8.
	MinFaceFrac float64
	// MaxFaces caps the faces returned (largest first). Default 4.
	MaxFaces int
	// KeyframeEvery is how often, in frames, a FaceTracker runs the full-frame
	// detection; in between it looks for each known face near its last box,
	// which is many times cheaper. 1 detects on every frame. Default 10.
	KeyframeEvery int
}

func (p DetectorParams) withDefaults() DetectorParams {
	if p.Cascade == "" {
		p.Cascade = DefaultCascade
	}
	if p.DetectWidth == 0 {
		p.DetectWidth = 320
	}
	if p.ScaleFactor == 0 {
		p.ScaleFactor = 1.1
	}
	if p.MinNeighbors == 0 {
		p.MinNeighbors = 5
	}
	if p.MinFaceFrac == 0 {
		p.MinFaceFrac = 1.0 / 8
	}
	if p.MaxFaces == 0 {
		p.MaxFaces = 4
	}
	if p.KeyframeEvery == 0 {
		p.KeyframeEvery = 10
	}
	return p
}

// Validate reports a parameter outside its range.
func (p DetectorParams) Validate() error {
	p = p.withDefaults()
	switch {
	case p.DetectWidth < 64:
		return fmt.Errorf("classify: DetectWidth %d is below 64 pixels", p.DetectWidth)
	case p.ScaleFactor <= 1 || p.ScaleFactor > 2:
		return fmt.Errorf("classify: ScaleFactor %g must be in (1, 2]", p.ScaleFactor)
	case p.MinNeighbors < 0:
		return fmt.Errorf("classify: MinNeighbors %d must be ≥ 0", p.MinNeighbors)
	case p.MinFaceFrac <= 0 || p.MinFaceFrac >= 1:
		return fmt.Errorf("classify: MinFaceFrac %g must be in (0, 1)", p.MinFaceFrac)
	case p.MaxFaces < 1:
		return fmt.Errorf("classify: MaxFaces %d must be ≥ 1", p.MaxFaces)
	case p.KeyframeEvery < 1:
		return fmt.Errorf("classify: KeyframeEvery %d must be ≥ 1", p.KeyframeEvery)
	}
	return nil
}

// FindCascade resolves a cascade name to a readable file path.
func FindCascade(name string) (string, error) {
	if name == "" {
		name = DefaultCascade
	}
	if a, ok := CascadeAliases[name]; ok {
		name = a
	}
	if filepath.IsAbs(name) || filepath.Base(name) != name {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrNoCascade, name, err)
		}
		return name, nil
	}
	dirs := CascadeDirs
	if d := os.Getenv("AFFECT_CASCADE_DIR"); d != "" {
		dirs = append([]string{d}, dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s is in none of %v (install Debian's opencv-data: apt-get install opencv-data, or set AFFECT_CASCADE_DIR)", ErrNoCascade, name, dirs)
}

// Detector finds frontal faces with a Haar cascade.
// A Detector is not safe for concurrent use.
type Detector struct {
	p       DetectorParams
	cascade gocv.CascadeClassifier
	gray    gocv.Mat
	small   gocv.Mat
	roi     gocv.Mat
}

// NewDetector loads the cascade named in p.
func NewDetector(p DetectorParams) (*Detector, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	path, err := FindCascade(p.Cascade)
	if err != nil {
		return nil, err
	}
	c := gocv.NewCascadeClassifier()
	if !c.Load(path) {
		c.Close()
		return nil, fmt.Errorf("%w: %s could not be loaded as a cascade", ErrNoCascade, path)
	}
	return &Detector{p: p, cascade: c, gray: gocv.NewMat(), small: gocv.NewMat(), roi: gocv.NewMat()}, nil
}

// Params returns the detector's parameters with defaults filled in.
func (d *Detector) Params() DetectorParams { return d.p }

// Close releases the cascade and buffers.
func (d *Detector) Close() error {
	d.gray.Close()
	d.small.Close()
	d.roi.Close()
	return d.cascade.Close()
}

func (d *Detector) toGray(frame gocv.Mat) {
	switch frame.Channels() {
	case 1:
		frame.CopyTo(&d.gray)
	case 4:
		gocv.CvtColor(frame, &d.gray, gocv.ColorBGRAToGray)
	default:
		gocv.CvtColor(frame, &d.gray, gocv.ColorBGRToGray)
	}
}

// Detect returns face boxes in frame coordinates, largest first, at most MaxFaces.
func (d *Detector) Detect(frame gocv.Mat) []image.Rectangle {
	if frame.Empty() {
		return nil
	}
	d.toGray(frame)
	scale := 1.0
	img := d.gray
	if w := frame.Cols(); w > d.p.DetectWidth {
		scale = float64(w) / float64(d.p.DetectWidth)
		h := int(float64(frame.Rows())/scale + 0.5)
		gocv.Resize(d.gray, &d.small, image.Pt(d.p.DetectWidth, h), 0, 0, gocv.InterpolationArea)
		img = d.small
	}
	gocv.EqualizeHist(img, &img)
	minSide := int(float64(img.Rows()) * d.p.MinFaceFrac)
	if minSide < 20 {
		minSide = 20
	}
	rects := d.cascade.DetectMultiScaleWithParams(img, d.p.ScaleFactor, d.p.MinNeighbors, 0,
		image.Pt(minSide, minSide), image.Pt(0, 0))
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	out := make([]image.Rectangle, 0, len(rects))
	for _, r := range rects {
		if scale != 1 {
			r = image.Rect(int(float64(r.Min.X)*scale+0.5), int(float64(r.Min.Y)*scale+0.5),
				int(float64(r.Max.X)*scale+0.5), int(float64(r.Max.Y)*scale+0.5))
		}
		r = r.Intersect(bounds)
		if !r.Empty() {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return area(out[i]) > area(out[j]) })
	if len(out) > d.p.MaxFaces {
		out = out[:d.p.MaxFaces]
	}
	return out
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// CropBox grows box by margin (a fraction of its size on each side), makes
// it square around its centre and clips it to bounds.
func CropBox(box image.Rectangle, margin float64, bounds image.Rectangle) image.Rectangle {
	side := float64(max(box.Dx(), box.Dy())) * (1 + 2*margin)
	cx := float64(box.Min.X+box.Max.X) / 2
	cy := float64(box.Min.Y+box.Max.Y) / 2
	half := side / 2
	r := image.Rect(int(cx-half+0.5), int(cy-half+0.5), int(cx+half+0.5), int(cy+half+0.5))
	return r.Intersect(bounds)
}

// nearSide is the face size, in pixels, to which a search region is scaled
// by DetectNear: big enough for the cascade, small enough to be cheap.
const nearSide = 64

// DetectNear looks for one face close to box (its last known place) in a
// region twice its size, accepting faces from 0.65 to 1.5 times its size.
// It returns the found face closest to box's centre.
func (d *Detector) DetectNear(frame gocv.Mat, box image.Rectangle) (image.Rectangle, bool) {
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	side := max(box.Dx(), box.Dy())
	if frame.Empty() || side < 8 {
		return image.Rectangle{}, false
	}
	region := CropBox(box, 0.5, bounds)
	if region.Dx() < side/2 || region.Dy() < side/2 {
		return image.Rectangle{}, false
	}
	sub := frame.Region(region)
	d.toGray(sub)
	sub.Close()
	scale := 1.0
	img := d.gray
	if side > nearSide {
		scale = float64(side) / nearSide
		gocv.Resize(d.gray, &d.roi, image.Pt(max(int(float64(region.Dx())/scale+0.5), 1), max(int(float64(region.Dy())/scale+0.5), 1)), 0, 0, gocv.InterpolationArea)
		img = d.roi
	}
	gocv.EqualizeHist(img, &img)
	s := float64(side) / scale
	minS, maxS := int(s*0.65), int(s*1.5+0.5)
	minS = max(minS, 20)
	if maxS <= minS {
		return image.Rectangle{}, false
	}
	rects := d.cascade.DetectMultiScaleWithParams(img, d.p.ScaleFactor, d.p.MinNeighbors, 0, image.Pt(minS, minS), image.Pt(maxS, maxS))
	if len(rects) == 0 {
		return image.Rectangle{}, false
	}
	c0 := center(box)
	best, bd := image.Rectangle{}, -1.0
	for _, r := range rects {
		r = image.Rect(region.Min.X+int(float64(r.Min.X)*scale+0.5), region.Min.Y+int(float64(r.Min.Y)*scale+0.5),
			region.Min.X+int(float64(r.Max.X)*scale+0.5), region.Min.Y+int(float64(r.Max.Y)*scale+0.5)).Intersect(bounds)
		c := center(r)
		dist := (c.X-c0.X)*(c.X-c0.X) + (c.Y-c0.Y)*(c.Y-c0.Y)
		if bd < 0 || dist < bd {
			best, bd = r, dist
		}
	}
	return best, !best.Empty()
}
