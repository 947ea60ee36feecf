package classify

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"

	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

// Detector names accepted by DetectorParams.Cascade besides cascade files.
const (
	// DetectorBlazeFace is MediaPipe's BlazeFace short-range (front camera)
	// model: the default detector. Finds faces down to about 1/10 of the
	// frame's longer side.
	DetectorBlazeFace = "blazeface"
	// DetectorBlazeFaceBack is BlazeFace's far-face (back camera) model, 256x256
	// input: smaller faces, about 4 times slower.
	DetectorBlazeFaceBack = "blazeface-back"
)

// DefaultDetector is the detector used when DetectorParams.Cascade is empty.
const DefaultDetector = DetectorBlazeFace

// IsBlazeFace says whether name selects a BlazeFace model.
func IsBlazeFace(name string) bool { return name == DetectorBlazeFace || name == DetectorBlazeFaceBack }

// Keypoint is a point in frame pixels.
type Keypoint struct{ X, Y float64 }

// BlazeFace keypoint indices (MediaPipe's order): the subject's right eye is
// on the image's left.
const (
	KeyRightEye = iota
	KeyLeftEye
	KeyNose
	KeyMouth
	KeyRightEar
	KeyLeftEar
	NumKeypoints
)

// blazeIoU is MediaPipe's min_suppression_threshold for face detection.
const blazeIoU = 0.3

// anchor is an SSD anchor centre, in input-normalised coordinates (0..1).
// BlazeFace uses fixed_anchor_size: every anchor is 1x1.
type anchor struct{ x, y float64 }

// ssdAnchors generates the anchors as MediaPipe's SsdAnchorsCalculator does
// for BlazeFace (aspect ratio 1, interpolated_scale_aspect_ratio 1,
// fixed_anchor_size, anchor_offset 0.5): layers with the same stride share
// one grid, two anchors per layer in each cell; cells in row-major order.
func ssdAnchors(inputSize int, strides []int) []anchor {
	var out []anchor
	for l := 0; l < len(strides); {
		n := 0
		last := l
		for last < len(strides) && strides[last] == strides[l] {
			n += 2 // aspect ratio 1.0 + the interpolated scale
			last++
		}
		fm := int(math.Ceil(float64(inputSize) / float64(strides[l])))
		for y := range fm {
			for x := range fm {
				for range n {
					out = append(out, anchor{x: (float64(x) + 0.5) / float64(fm), y: (float64(y) + 0.5) / float64(fm)})
				}
			}
		}
		l = last
	}
	return out
}

// blazeDet is one decoded detection, in input-normalised coordinates.
type blazeDet struct {
	score                  float64
	xmin, ymin, xmax, ymax float64
	kp                     [NumKeypoints][2]float64
}

// decodeBlaze turns the raw outputs into detections as MediaPipe's
// TensorsToDetectionsCalculator does for BlazeFace (reverse_output_order,
// x/y/w/h scale = input size, sigmoid score clipped at ±100): boxes is 16
// values per anchor. Detections scoring below minScore are dropped. They
// are appended to out[:0].
func decodeBlaze(out []blazeDet, scores, boxes []float32, anchors []anchor, inputSize int, minScore float64) []blazeDet {
	s := float64(inputSize)
	out = out[:0]
	for i, a := range anchors {
		raw := math.Max(-100, math.Min(100, float64(scores[i])))
		score := 1 / (1 + math.Exp(-raw))
		if score < minScore {
			continue
		}
		b := boxes[i*16 : i*16+16]
		cx := float64(b[0])/s + a.x
		cy := float64(b[1])/s + a.y
		w := float64(b[2]) / s
		h := float64(b[3]) / s
		d := blazeDet{score: score, xmin: cx - w/2, ymin: cy - h/2, xmax: cx + w/2, ymax: cy + h/2}
		for k := range NumKeypoints {
			d.kp[k] = [2]float64{float64(b[4+2*k])/s + a.x, float64(b[5+2*k])/s + a.y}
		}
		out = append(out, d)
	}
	return out
}

func (d blazeDet) iou(o blazeDet) float64 {
	ix := math.Min(d.xmax, o.xmax) - math.Max(d.xmin, o.xmin)
	iy := math.Min(d.ymax, o.ymax) - math.Max(d.ymin, o.ymin)
	if ix <= 0 || iy <= 0 {
		return 0
	}
	in := ix * iy
	u := (d.xmax-d.xmin)*(d.ymax-d.ymin) + (o.xmax-o.xmin)*(o.ymax-o.ymin) - in
	if u <= 0 {
		return 0
	}
	return in / u
}

// weightedNMS is MediaPipe's WEIGHTED non-maximum suppression: take the
// highest-scoring detection left, gather every remaining one (itself
// included) that overlaps it with IoU above iouThresh, replace the group by
// its score-weighted mean box and keypoints (keeping the top score), and
// repeat. At most maxN detections are returned, best first, appended to
// out[:0]; dets is reordered and overwritten (no allocation per frame).
func weightedNMS(out, dets []blazeDet, iouThresh float64, maxN int) []blazeDet {
	rest := dets
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].score > rest[j].score })
	out = out[:0]
	for len(rest) > 0 && len(out) < maxN {
		top := rest[0]
		keep := rest[:0] // compacted in place: keep never passes the loop's index
		var w blazeDet
		total := 0.0
		for _, d := range rest {
			if d.iou(top) > iouThresh {
				total += d.score
				w.xmin += d.xmin * d.score
				w.ymin += d.ymin * d.score
				w.xmax += d.xmax * d.score
				w.ymax += d.ymax * d.score
				for k := range NumKeypoints {
					w.kp[k][0] += d.kp[k][0] * d.score
					w.kp[k][1] += d.kp[k][1] * d.score
				}
			} else {
				keep = append(keep, d)
			}
		}
		if total > 0 {
			w.xmin /= total
			w.ymin /= total
			w.xmax /= total
			w.ymax /= total
			for k := range NumKeypoints {
				w.kp[k][0] /= total
				w.kp[k][1] /= total
			}
			w.score = top.score
		} else {
			w = top // a degenerate (empty) box overlaps nothing, not even itself
			keep = append(keep[:0], rest[1:]...)
		}
		out = append(out, w)
		rest = keep
	}
	return out
}

// blazeFace runs a BlazeFace model on frames letterboxed to its square input.
// Not safe for concurrent use.
type blazeFace struct {
	spec    models.DetectorSpec
	net     gocv.Net
	anchors []anchor
	blob    gocv.Mat // NHWC float input
	small   gocv.Mat
	rgb     gocv.Mat
	square  gocv.Mat
	float   gocv.Mat
	outs    []string
	scores  []float32
	boxes   []float32
	cand    []blazeDet // decoded detections, reused
	dets    []blazeDet // after NMS, reused: valid until the next detect
	minSc   float64
}

func newBlazeFace(name string, minScore float64) (*blazeFace, error) {
	spec, err := models.GetDetector(name)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	b, err := models.Open(spec.File)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	net, err := gocv.ReadNetFromONNXBytes(b)
	if err != nil {
		return nil, fmt.Errorf("classify: read %s: %w", spec.File, err)
	}
	if net.Empty() {
		net.Close()
		return nil, fmt.Errorf("classify: %s could not be loaded", spec.File)
	}
	if err := net.SetPreferableBackend(gocv.NetBackendOpenCV); err != nil {
		net.Close()
		return nil, err
	}
	if err := net.SetPreferableTarget(gocv.NetTargetCPU); err != nil {
		net.Close()
		return nil, err
	}
	if minScore == 0 {
		minScore = spec.MinScore
	}
	n := spec.InputSize
	an := ssdAnchors(n, spec.Strides)
	return &blazeFace{
		spec: spec, net: net, anchors: an, minSc: minScore,
		blob:   gocv.NewMatWithSizes([]int{1, n, n, 3}, gocv.MatTypeCV32F),
		small:  gocv.NewMat(),
		rgb:    gocv.NewMat(),
		square: gocv.NewMat(),
		float:  gocv.NewMat(),
		outs:   spec.Outputs[:],
		scores: make([]float32, len(an)),
		boxes:  make([]float32, len(an)*16),
	}, nil
}

func (b *blazeFace) Close() error {
	b.blob.Close()
	b.small.Close()
	b.rgb.Close()
	b.square.Close()
	b.float.Close()
	return b.net.Close()
}

// letterbox is how an image was put into the square input: resized by
// (sx, sy) and shifted by (padX, padY) input pixels.
type letterbox struct{ sx, sy, padX, padY float64 }

// toFrame maps an input-normalised point back to image pixels.
func (l letterbox) toFrame(x, y float64, in int) (float64, float64) {
	return (x*float64(in) - l.padX) / l.sx, (y*float64(in) - l.padY) / l.sy
}

// detect runs the model on img (BGR, BGRA or gray) and returns the
// detections after weighted NMS, best first, in img's pixels.
func (b *blazeFace) detect(img gocv.Mat, maxN int) ([]blazeDet, letterbox, error) {
	in := b.spec.InputSize
	w, h := img.Cols(), img.Rows()
	if w < 1 || h < 1 {
		return nil, letterbox{}, nil
	}
	s := float64(in) / float64(max(w, h))
	nw, nh := max(1, min(in, int(math.Round(float64(w)*s)))), max(1, min(in, int(math.Round(float64(h)*s))))
	gocv.Resize(img, &b.small, image.Pt(nw, nh), 0, 0, gocv.InterpolationArea)
	switch img.Channels() {
	case 1:
		gocv.CvtColor(b.small, &b.rgb, gocv.ColorGrayToBGR) // gray: R = G = B
	case 4:
		gocv.CvtColor(b.small, &b.rgb, gocv.ColorRGBAToBGR) // = OpenCV BGRA2RGB
	default:
		gocv.CvtColor(b.small, &b.rgb, gocv.ColorBGRToRGB)
	}
	padX, padY := (in-nw)/2, (in-nh)/2
	gocv.CopyMakeBorder(b.rgb, &b.square, padY, in-nh-padY, padX, in-nw-padX, gocv.BorderConstant, color.RGBA{})
	b.square.ConvertToWithParams(&b.float, gocv.MatTypeCV32FC3, 1/127.5, -1)
	src, err := b.float.DataPtrFloat32()
	if err != nil {
		return nil, letterbox{}, fmt.Errorf("classify: blazeface input: %w", err)
	}
	dst, err := b.blob.DataPtrFloat32()
	if err != nil || len(dst) != len(src) {
		return nil, letterbox{}, fmt.Errorf("classify: blazeface input blob: %d values, want %d (%v)", len(dst), len(src), err)
	}
	copy(dst, src)
	b.net.SetInput(b.blob, "")
	outs := b.net.ForwardLayers(b.outs)
	defer func() {
		for i := range outs {
			outs[i].Close()
		}
	}()
	if len(outs) != 4 {
		return nil, letterbox{}, fmt.Errorf("classify: blazeface gave %d outputs, want 4", len(outs))
	}
	var v [4][]float32
	for i := range outs {
		if v[i], err = outs[i].DataPtrFloat32(); err != nil {
			return nil, letterbox{}, fmt.Errorf("classify: blazeface output %d: %w", i, err)
		}
	}
	if len(v[0])+len(v[1]) != len(b.anchors) || len(v[2])+len(v[3]) != 16*len(b.anchors) || len(v[2]) != 16*len(v[0]) {
		return nil, letterbox{}, fmt.Errorf("classify: blazeface outputs of %d, %d, %d, %d values do not fit %d anchors",
			len(v[0]), len(v[1]), len(v[2]), len(v[3]), len(b.anchors))
	}
	copy(b.scores, v[0])
	copy(b.scores[len(v[0]):], v[1])
	copy(b.boxes, v[2])
	copy(b.boxes[len(v[2]):], v[3])
	b.cand = decodeBlaze(b.cand, b.scores, b.boxes, b.anchors, in, b.minSc)
	b.dets = weightedNMS(b.dets, b.cand, blazeIoU, maxN)
	dets := b.dets
	lb := letterbox{sx: float64(nw) / float64(w), sy: float64(nh) / float64(h), padX: float64(padX), padY: float64(padY)}
	for i := range dets {
		d := &dets[i]
		d.xmin, d.ymin = lb.toFrame(d.xmin, d.ymin, in)
		d.xmax, d.ymax = lb.toFrame(d.xmax, d.ymax, in)
		for k := range d.kp {
			d.kp[k][0], d.kp[k][1] = lb.toFrame(d.kp[k][0], d.kp[k][1], in)
		}
	}
	return dets, lb, nil
}

// BlazeDetector finds faces with a BlazeFace model (DetectorBlazeFace or
// DetectorBlazeFaceBack) and gives each its six keypoints. Its boxes are
// placed in the geometry of the Haar cascade's boxes, on which the
// expression models' crops and the combination were tuned (see faceBox).
// A BlazeDetector is not safe for concurrent use.
type BlazeDetector struct {
	p  DetectorParams
	bf *blazeFace
}

// NewBlazeDetector loads the BlazeFace model named by p.Cascade.
func NewBlazeDetector(p DetectorParams) (*BlazeDetector, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	if !IsBlazeFace(p.Cascade) {
		return nil, fmt.Errorf("classify: %q is not a BlazeFace model (%s or %s)", p.Cascade, DetectorBlazeFace, DetectorBlazeFaceBack)
	}
	bf, err := newBlazeFace(p.Cascade, p.MinScore)
	if err != nil {
		return nil, err
	}
	// One run on a blank image checks the outputs' shapes once, so that a
	// wrong model file fails here and not frame by frame.
	blank := gocv.NewMatWithSize(bf.spec.InputSize, bf.spec.InputSize, gocv.MatTypeCV8UC3)
	defer blank.Close()
	if _, _, err := bf.detect(blank, 1); err != nil {
		bf.Close()
		return nil, err
	}
	return &BlazeDetector{p: p, bf: bf}, nil
}

// Params returns the detector's parameters with defaults filled in.
func (d *BlazeDetector) Params() DetectorParams { return d.p }

// Close releases the network and buffers.
func (d *BlazeDetector) Close() error { return d.bf.Close() }

// toDetection turns a BlazeFace detection in img's pixels, img at off in the
// frame, into a Detection in frame pixels.
func toDetection(b blazeDet, off image.Point, bounds image.Rectangle) Detection {
	d := Detection{Neighbors: -1, Score: b.score, Keypoints: make([]Keypoint, NumKeypoints)}
	ox, oy := float64(off.X), float64(off.Y)
	for k := range NumKeypoints {
		d.Keypoints[k] = Keypoint{X: b.kp[k][0] + ox, Y: b.kp[k][1] + oy}
	}
	d.Raw = image.Rect(int(math.Round(b.xmin+ox)), int(math.Round(b.ymin+oy)), int(math.Round(b.xmax+ox)), int(math.Round(b.ymax+oy))).Intersect(bounds)
	d.Box = faceBox(b, ox, oy).Intersect(bounds)
	return d
}

// Detect returns the faces in frame, largest first, at most MaxFaces.
func (d *BlazeDetector) Detect(frame gocv.Mat) []Detection {
	if frame.Empty() {
		return nil
	}
	dets, _, err := d.bf.detect(frame, 4*d.p.MaxFaces)
	if err != nil {
		return nil // shapes were checked when the model was loaded
	}
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	minH := d.p.MinFaceFrac * float64(frame.Rows())
	out := make([]Detection, 0, len(dets))
	for _, b := range dets {
		if b.ymax-b.ymin < minH {
			continue
		}
		if dt := toDetection(b, image.Point{}, bounds); !dt.Box.Empty() {
			out = append(out, dt)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return area(out[i].Box) > area(out[j].Box) })
	if len(out) > d.p.MaxFaces {
		out = out[:d.p.MaxFaces]
	}
	return out
}

// DetectNear looks for one face close to box (its last known place) in the
// square region twice its size around it, where the face fills about half
// of the network's input, and returns the face found closest to box's
// centre whose size is 0.5 to 2 times box's.
func (d *BlazeDetector) DetectNear(frame gocv.Mat, box image.Rectangle) (Detection, bool) {
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	side := max(box.Dx(), box.Dy())
	if frame.Empty() || side < 8 {
		return Detection{}, false
	}
	region := CropBox(box, 0.5, bounds)
	if region.Dx() < side/2 || region.Dy() < side/2 {
		return Detection{}, false
	}
	sub := frame.Region(region)
	dets, _, err := d.bf.detect(sub, 4)
	sub.Close()
	if err != nil {
		return Detection{}, false
	}
	c0 := center(box)
	best, bd := Detection{}, -1.0
	for _, b := range dets {
		dt := toDetection(b, region.Min, bounds)
		s := float64(max(dt.Box.Dx(), dt.Box.Dy())) / float64(side)
		if dt.Box.Empty() || s < 0.5 || s > 2 {
			continue
		}
		c := center(dt.Box)
		if dist := (c.X-c0.X)*(c.X-c0.X) + (c.Y-c0.Y)*(c.Y-c0.Y); bd < 0 || dist < bd {
			best, bd = dt, dist
		}
	}
	return best, bd >= 0
}

// Geometry of the cascade's boxes relative to BlazeFace's (faceBox), fitted
// by least squares on 1050 faces that both found (969 GENKI-4K photos, every
// 4th, and 81 CREMA-D frames, every 5th frame of the six clips): mean error
// 7 % of the side for the size, 2 % for the centre. Only the box and the eyes
// are used, not the mouth, so that a smile does not move the crop.
const (
	geoSide = 1.0796 // side = geoSide × BlazeFace box width
	geoEyeX = 0.8073 // centre x = box centre x + geoEyeX × (eye midpoint x − box centre x)
	geoEyeY = 0.8816 // centre y = box centre y + geoEyeY × (eye midpoint y − box centre y) + geoDY × width
	geoDY   = 0.0929
)

// faceBox places the face box from a BlazeFace detection (in pixels, shifted
// by ox, oy) where the Haar cascade would put it: a square whose size and
// centre follow from BlazeFace's box and eyes (see geoSide). The expression
// models' crop margins and the combination were tuned on cascade boxes.
func faceBox(b blazeDet, ox, oy float64) image.Rectangle {
	w := b.xmax - b.xmin
	bcx, bcy := (b.xmin+b.xmax)/2, (b.ymin+b.ymax)/2
	ex := (b.kp[KeyRightEye][0] + b.kp[KeyLeftEye][0]) / 2
	ey := (b.kp[KeyRightEye][1] + b.kp[KeyLeftEye][1]) / 2
	cx := bcx + geoEyeX*(ex-bcx) + ox
	cy := bcy + geoEyeY*(ey-bcy) + geoDY*w + oy
	half := geoSide * w / 2
	return image.Rect(int(math.Round(cx-half)), int(math.Round(cy-half)), int(math.Round(cx+half)), int(math.Round(cy+half)))
}
