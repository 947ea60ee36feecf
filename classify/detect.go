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
	// Cascade is the detector: "blazeface" (DefaultDetector),
	// "blazeface-back" (small faces), "haar" (DefaultCascade), "lbp"
	// (FastCascade), or a cascade file path or a file name looked up in
	// $AFFECT_CASCADE_DIR and CascadeDirs. Default DefaultDetector.
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
	// MinScore is BlazeFace's score threshold (0: the model's own, 0.5).
	MinScore float64
	// KeyframeEvery is how often, in frames, a FaceTracker runs the full-frame
	// detection; in between it looks for each known face near its last box,
	// which is many times cheaper. 1 detects on every frame. Default 10.
	KeyframeEvery int
}

func (p DetectorParams) withDefaults() DetectorParams {
	if p.Cascade == "" {
		p.Cascade = DefaultDetector
	}
	if IsBlazeFace(p.Cascade) && p.MinFaceFrac == 0 {
		p.MinFaceFrac = 0.01 // BlazeFace's own limit applies; no search cost to save
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
	case p.MinScore < 0 || p.MinScore >= 1:
		return fmt.Errorf("classify: MinScore %g must be in [0, 1)", p.MinScore)
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

// LoadCascade finds the cascade name (see FindCascade) and loads it: the one
// cascade loader of the face detector and the eye aligner. The caller
// closes the classifier.
func LoadCascade(name string) (gocv.CascadeClassifier, error) {
	path, err := FindCascade(name)
	if err != nil {
		return gocv.CascadeClassifier{}, err
	}
	c := gocv.NewCascadeClassifier()
	if !c.Load(path) {
		c.Close()
		return gocv.CascadeClassifier{}, fmt.Errorf("%w: %s could not be loaded as a cascade", ErrNoCascade, path)
	}
	return c, nil
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

// FaceDetector finds faces: a Haar or LBP cascade (Detector) or BlazeFace
// (BlazeDetector). Not safe for concurrent use.
type FaceDetector interface {
	// Detect returns the faces in frame, largest first, at most MaxFaces.
	Detect(frame gocv.Mat) []Detection
	// DetectNear looks for one face close to box, its last known place.
	DetectNear(frame gocv.Mat, box image.Rectangle) (Detection, bool)
	// Params returns the parameters with defaults filled in.
	Params() DetectorParams
	Close() error
}

// NewFaceDetector returns the detector p.Cascade names: BlazeFace by default.
func NewFaceDetector(p DetectorParams) (FaceDetector, error) {
	if p.Cascade == "" || IsBlazeFace(p.Cascade) {
		return NewBlazeDetector(p)
	}
	return NewDetector(p)
}

// NewDetector loads the cascade named in p (DefaultCascade when empty).
func NewDetector(p DetectorParams) (*Detector, error) {
	if p.Cascade == "" {
		p.Cascade = DefaultCascade
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	c, err := LoadCascade(p.Cascade)
	if err != nil {
		return nil, err
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

func (d *Detector) toGray(frame gocv.Mat) { toGray(frame, &d.gray) }

// toGray converts a gray, BGR or BGRA picture to gray in dst.
func toGray(src gocv.Mat, dst *gocv.Mat) {
	switch src.Channels() {
	case 1:
		src.CopyTo(dst)
	case 4:
		gocv.CvtColor(src, dst, gocv.ColorBGRAToGray)
	default:
		gocv.CvtColor(src, dst, gocv.ColorBGRToGray)
	}
}

// A Detection is one face found by a Detector.
type Detection struct {
	// Box is the face in frame coordinates.
	Box image.Rectangle
	// Neighbors is the detection score: the number of raw cascade hits
	// (positions and scales) around the face, counted with the face scaled
	// to a common size (see Detector.Neighbors) so that small and large
	// faces compare. Clear frontal faces in the CREMA-D clips have 45-95; a
	// false detection or a face the cascade barely sees has a handful.
	// -1 means the box did not come from the cascade (BlazeFace, a crop,
	// or the whole image).
	Neighbors int
	// ID is the face's track ID given by a FaceTracker (0: not tracked).
	ID int
	// Score is BlazeFace's confidence (0..1); 0 for a cascade.
	Score float64
	// Keypoints are BlazeFace's six keypoints in frame pixels (KeyRightEye,
	// KeyLeftEye, KeyNose, KeyMouth, KeyRightEar, KeyLeftEar); nil for a
	// cascade.
	Keypoints []Keypoint
	// Raw is the box as BlazeFace gave it; Box is placed in the cascade's
	// geometry, on which the expression models' crops were tuned. Empty for
	// a cascade (its Box is its own).
	Raw image.Rectangle
	// Landmarks are the face's 68 landmarks when the FaceTracker found them
	// (TrackParams.Landmarks), found on Box; nil otherwise (a Scorer then
	// finds them itself).
	Landmarks *Landmarks68
	// Pose is the head pose from Landmarks (nil with them).
	Pose *Pose
	// Followed says the face was followed from the previous frame by its
	// landmarks instead of being found by the detector (Box, Raw,
	// Keypoints moved with the landmarks; Score is the last detection's).
	Followed bool
}

// Boxes returns the boxes of ds.
func Boxes(ds []Detection) []image.Rectangle {
	out := make([]image.Rectangle, len(ds))
	for i, d := range ds {
		out[i] = d.Box
	}
	return out
}

// hits runs the cascade without grouping and groups the raw hits itself
// (same result as OpenCV's grouping, plus each face's hit count).
//
// OpenCV clips the boxes it returns to the image after grouping, so a raw
// hit at the right or bottom edge comes back cut short; its full size is
// restored first from the cascade window's aspect ratio (seen on the hits
// that are not cut), and the grouped boxes are clipped again afterwards.
func (d *Detector) hits(img gocv.Mat, minSize, maxSize image.Point) []Detection {
	faces, _ := d.hitsAll(img, minSize, maxSize)
	return faces
}

// hitsAll is hits that also returns every cluster of raw hits, however
// few hits it has.
func (d *Detector) hitsAll(img gocv.Mat, minSize, maxSize image.Point) (faces, clusters []Detection) {
	raw := d.cascade.DetectMultiScaleWithParams(img, d.p.ScaleFactor, 0, 0, minSize, maxSize)
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	unclip(raw, bounds)
	clusters = cluster(raw)
	faces = selectFaces(clusters, d.p.MinNeighbors) // on the unclipped boxes, as OpenCV
	for i := range faces {
		faces[i].Box = faces[i].Box.Intersect(bounds)
	}
	for i := range clusters {
		clusters[i].Box = clusters[i].Box.Intersect(bounds)
	}
	return faces, clusters
}

// unclip restores the size of the hits that OpenCV cut at the right or
// bottom edge of bounds, from the height/width ratio of the uncut hits (1
// for OpenCV's face cascades). A hit cut on both sides keeps its larger side.
func unclip(hits []image.Rectangle, bounds image.Rectangle) {
	cut := func(r image.Rectangle) (bool, bool) { return r.Max.X >= bounds.Max.X, r.Max.Y >= bounds.Max.Y }
	ratio, n := 0.0, 0
	for _, r := range hits {
		if cx, cy := cut(r); !cx && !cy && r.Dx() > 0 {
			ratio += float64(r.Dy()) / float64(r.Dx())
			n++
		}
	}
	if n == 0 {
		ratio, n = 1, 1
	}
	ratio /= float64(n)
	for i, r := range hits {
		switch cx, cy := cut(r); {
		case cx && cy:
			s := max(r.Dx(), r.Dy())
			hits[i].Max = image.Pt(r.Min.X+s, r.Min.Y+s)
		case cx:
			hits[i].Max.X = r.Min.X + max(r.Dx(), cvRound64(float64(r.Dy())/ratio))
		case cy:
			hits[i].Max.Y = r.Min.Y + max(r.Dy(), cvRound64(float64(r.Dx())*ratio))
		}
	}
}

// Detect returns the faces in frame, largest first, at most MaxFaces.
func (d *Detector) Detect(frame gocv.Mat) []Detection {
	if frame.Empty() {
		return nil
	}
	img, scale, minSide := d.prepare(frame)
	dets := d.hits(img, image.Pt(minSide, minSide), image.Pt(0, 0))
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	out := make([]Detection, 0, len(dets))
	for _, dt := range dets {
		r := dt.Box
		if scale != 1 {
			r = image.Rect(int(float64(r.Min.X)*scale+0.5), int(float64(r.Min.Y)*scale+0.5),
				int(float64(r.Max.X)*scale+0.5), int(float64(r.Max.Y)*scale+0.5))
		}
		r = r.Intersect(bounds)
		if !r.Empty() {
			out = append(out, Detection{Box: r})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return area(out[i].Box) > area(out[j].Box) })
	if len(out) > d.p.MaxFaces {
		out = out[:d.p.MaxFaces]
	}
	// The hits counted above depend on the face's size at DetectWidth: score
	// every face on the common scale instead.
	for i := range out {
		out[i].Neighbors = d.Neighbors(frame, out[i].Box)
	}
	return out
}

// prepare makes the equalised gray image that Detect searches (frame shrunk
// to DetectWidth) and returns it (a buffer of d), the factor from it to frame
// coordinates and the smallest face side to look for.
func (d *Detector) prepare(frame gocv.Mat) (img gocv.Mat, scale float64, minSide int) {
	d.toGray(frame)
	scale = 1.0
	img = d.gray
	if w := frame.Cols(); w > d.p.DetectWidth {
		scale = float64(w) / float64(d.p.DetectWidth)
		h := int(float64(frame.Rows())/scale + 0.5)
		gocv.Resize(d.gray, &d.small, image.Pt(d.p.DetectWidth, h), 0, 0, gocv.InterpolationArea)
		img = d.small
	}
	gocv.EqualizeHist(img, &img)
	minSide = max(int(float64(img.Rows())*d.p.MinFaceFrac), 20)
	return img, scale, minSide
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
// It returns the found face closest to box's centre; its Neighbors are on
// the common scale of the Neighbors method.
func (d *Detector) DetectNear(frame gocv.Mat, box image.Rectangle) (Detection, bool) {
	faces, _ := d.searchNear(frame, box)
	c0 := center(box)
	best, bd := Detection{}, -1.0
	for _, f := range faces {
		c := center(f.Box)
		dist := (c.X-c0.X)*(c.X-c0.X) + (c.Y-c0.Y)*(c.Y-c0.Y)
		if bd < 0 || dist < bd {
			best, bd = f, dist
		}
	}
	return best, !best.Box.Empty()
}

// Neighbors is the detection score of the face at box on a common scale:
// the number of raw cascade hits near box when the region around it is
// scaled so that the face is nearSide pixels tall (as DetectNear does), so
// that scores of small and large faces, and of faces found on a keyframe or
// by tracking, can be compared. It counts the hits of the group whose centre
// is nearest box's (within a quarter of its side), even when they are too
// few to make a face; 0 when there is none.
func (d *Detector) Neighbors(frame gocv.Mat, box image.Rectangle) int {
	_, clusters := d.searchNear(frame, box)
	c0 := center(box)
	lim := float64(max(box.Dx(), box.Dy())) / 4
	best, bd := 0, lim*lim
	for _, c := range clusters {
		cc := center(c.Box)
		if dist := (cc.X-c0.X)*(cc.X-c0.X) + (cc.Y-c0.Y)*(cc.Y-c0.Y); dist <= bd {
			best, bd = c.Neighbors, dist
		}
	}
	return best
}

// searchNear runs the cascade on the region twice box's size around it,
// scaled so that the face is nearSide pixels tall, for faces 0.65 to 1.5
// times box's size. It returns the faces found and every group of raw hits,
// in frame coordinates.
func (d *Detector) searchNear(frame gocv.Mat, box image.Rectangle) (faces, clusters []Detection) {
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	side := max(box.Dx(), box.Dy())
	if frame.Empty() || side < 8 {
		return nil, nil
	}
	region := CropBox(box, 0.5, bounds)
	if region.Dx() < side/2 || region.Dy() < side/2 {
		return nil, nil
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
		return nil, nil
	}
	faces, clusters = d.hitsAll(img, image.Pt(minS, minS), image.Pt(maxS, maxS))
	toFrame := func(ds []Detection) {
		for i, dt := range ds {
			r := dt.Box
			ds[i].Box = image.Rect(region.Min.X+int(float64(r.Min.X)*scale+0.5), region.Min.Y+int(float64(r.Min.Y)*scale+0.5),
				region.Min.X+int(float64(r.Max.X)*scale+0.5), region.Min.Y+int(float64(r.Max.Y)*scale+0.5)).Intersect(bounds)
		}
	}
	toFrame(faces)
	toFrame(clusters)
	return faces, clusters
}
