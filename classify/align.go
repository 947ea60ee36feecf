package classify

import (
	"image"
	"image/color"
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// EyeCascade is the Haar cascade (Debian opencv-data) used to find the eyes
// for face alignment.
const EyeCascade = "haarcascade_eye.xml"

// Aligner levels the eyes of a face crop: it finds both eyes with a Haar
// cascade in the upper part of the crop and rotates the crop about its centre
// so that the line through the eyes is horizontal. Not safe for concurrent use.
type Aligner struct {
	eyes gocv.CascadeClassifier
	gray gocv.Mat
	big  gocv.Mat
	// MaxAngle is the largest correction, in degrees, that is applied; a
	// larger measured tilt is taken as a false eye detection. Default 25.
	MaxAngle float64
}

// NewAligner loads the eye cascade.
func NewAligner() (*Aligner, error) {
	c, err := LoadCascade(EyeCascade)
	if err != nil {
		return nil, err
	}
	return &Aligner{eyes: c, gray: gocv.NewMat(), big: gocv.NewMat(), MaxAngle: 25}, nil
}

// Close releases the cascade and buffers.
func (a *Aligner) Close() error {
	a.gray.Close()
	a.big.Close()
	return a.eyes.Close()
}

// alignSide is the side in pixels to which a face crop is scaled before the
// eye search (eyes of 48x48 crops are too small for the cascade).
const alignSide = 192

// Eyes are the centres of both eyes in a face crop, in the crop's pixels;
// left is the eye on the image's left.
type Eyes struct{ LX, LY, RX, RY float64 }

// Angle is the angle in degrees of the line from the left to the right eye
// (positive: the right eye is lower).
func (e Eyes) Angle() float64 { return math.Atan2(e.RY-e.LY, e.RX-e.LX) * 180 / math.Pi }

// Dist is the distance between the eye centres in pixels.
func (e Eyes) Dist() float64 { return math.Hypot(e.RX-e.LX, e.RY-e.LY) }

// FindEyes finds both eyes of face with the eye cascade in the upper 60 %
// of the crop (scaled to 192 pixels), taking the largest hit on each side.
// ok is false when an eye is missing or the eyes tilt more than MaxAngle.
func (a *Aligner) FindEyes(face gocv.Mat) (Eyes, bool) {
	if face.Empty() {
		return Eyes{}, false
	}
	toGray(face, &a.gray)
	sx := float64(alignSide) / float64(face.Cols())
	sy := float64(alignSide) / float64(face.Rows())
	gocv.Resize(a.gray, &a.big, image.Pt(alignSide, alignSide), 0, 0, gocv.InterpolationLinear)
	upper := a.big.Region(image.Rect(0, 0, alignSide, alignSide*6/10))
	defer upper.Close()
	rs := a.eyes.DetectMultiScaleWithParams(upper, 1.1, 3, 0, image.Pt(alignSide/10, alignSide/10), image.Pt(alignSide/3, alignSide/3))
	var left, right []image.Rectangle
	for _, r := range rs {
		if c := (r.Min.X + r.Max.X) / 2; c < alignSide/2 {
			left = append(left, r)
		} else {
			right = append(right, r)
		}
	}
	if len(left) == 0 || len(right) == 0 {
		return Eyes{}, false
	}
	big := func(v []image.Rectangle) image.Rectangle {
		sort.Slice(v, func(i, j int) bool { return area(v[i]) > area(v[j]) })
		return v[0]
	}
	l, r := center(big(left)), center(big(right))
	e := Eyes{LX: l.X / sx, LY: l.Y / sy, RX: r.X / sx, RY: r.Y / sy}
	if math.Abs(e.Angle()) > a.MaxAngle {
		return Eyes{}, false
	}
	return e, true
}

// EyeAngle returns the angle in degrees of the line from the left to the
// right eye of face (positive: the right eye is lower) and whether both eyes
// were found.
func (a *Aligner) EyeAngle(face gocv.Mat) (float64, bool) {
	e, ok := a.FindEyes(face)
	if !ok {
		return 0, false
	}
	return e.Angle(), true
}

// EyeGeometry is where AlignEyes puts the eyes: their distance Dist as a
// fraction of the crop's width, and their midpoint (MidX, MidY) as fractions
// of its width and height.
type EyeGeometry struct{ Dist, MidX, MidY float64 }

// AlignEyes writes face into dst (same size, edges replicated) rotated,
// scaled and shifted so that its eyes are level and at g: a similarity
// transform, where Align only rotates. When the eyes are not found dst is a
// copy of face and ok is false.
func (a *Aligner) AlignEyes(face gocv.Mat, dst *gocv.Mat, g EyeGeometry) (Eyes, bool) {
	e, ok := a.FindEyes(face)
	if !ok || e.Dist() < 1 {
		face.CopyTo(dst)
		return e, false
	}
	w, h := float64(face.Cols()), float64(face.Rows())
	mx, my := (e.LX+e.RX)/2, (e.LY+e.RY)/2
	scale := g.Dist * w / e.Dist()
	// Rotate and scale about the origin, then move the eye midpoint to g.
	rad := e.Angle() * math.Pi / 180
	c, s := scale*math.Cos(rad), scale*math.Sin(rad)
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	// x' = c·x + s·y + tx, y' = −s·x + c·y + ty (OpenCV's rotation by +angle).
	m.SetDoubleAt(0, 0, c)
	m.SetDoubleAt(0, 1, s)
	m.SetDoubleAt(0, 2, g.MidX*w-(c*mx+s*my))
	m.SetDoubleAt(1, 0, -s)
	m.SetDoubleAt(1, 1, c)
	m.SetDoubleAt(1, 2, g.MidY*h-(-s*mx+c*my))
	gocv.WarpAffineWithParams(face, dst, m, image.Pt(face.Cols(), face.Rows()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	return e, true
}

// Align writes face rotated to level the eyes into dst (same size, edges
// replicated) and returns the correction applied; when the eyes are not
// found dst is a copy of face and ok is false.
func (a *Aligner) Align(face gocv.Mat, dst *gocv.Mat) (angle float64, ok bool) {
	ang, ok := a.EyeAngle(face)
	if !ok || math.Abs(ang) < 0.5 {
		face.CopyTo(dst)
		return 0, ok
	}
	c := image.Pt(face.Cols()/2, face.Rows()/2)
	m := gocv.GetRotationMatrix2D(c, ang, 1)
	defer m.Close()
	gocv.WarpAffineWithParams(face, dst, m, image.Pt(face.Cols(), face.Rows()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	return ang, true
}
