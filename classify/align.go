package classify

import (
	"fmt"
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
	path, err := FindCascade(EyeCascade)
	if err != nil {
		return nil, err
	}
	c := gocv.NewCascadeClassifier()
	if !c.Load(path) {
		c.Close()
		return nil, fmt.Errorf("%w: %s could not be loaded as a cascade", ErrNoCascade, path)
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

// EyeAngle returns the angle in degrees of the line from the left to the
// right eye of face (positive: the right eye is lower) and whether both eyes
// were found.
func (a *Aligner) EyeAngle(face gocv.Mat) (float64, bool) {
	if face.Empty() {
		return 0, false
	}
	switch face.Channels() {
	case 1:
		face.CopyTo(&a.gray)
	case 4:
		gocv.CvtColor(face, &a.gray, gocv.ColorBGRAToGray)
	default:
		gocv.CvtColor(face, &a.gray, gocv.ColorBGRToGray)
	}
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
		return 0, false
	}
	big := func(v []image.Rectangle) image.Rectangle {
		sort.Slice(v, func(i, j int) bool { return area(v[i]) > area(v[j]) })
		return v[0]
	}
	l, r := center(big(left)), center(big(right))
	ang := math.Atan2((r.Y-l.Y)/sy, (r.X-l.X)/sx) * 180 / math.Pi
	if math.Abs(ang) > a.MaxAngle {
		return 0, false
	}
	return ang, true
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
