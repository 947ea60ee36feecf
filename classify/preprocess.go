package classify

import (
	"errors"
	"fmt"
	"math"

	"github.com/affectlab/affect/models"
	"gocv.io/x/gocv"
)

// ErrBadFace is returned when a face image cannot be preprocessed: empty, or
// not 8-bit gray, BGR or BGRA.
var ErrBadFace = errors.New("bad face image")

// Gray weights of R, G and B used by 1-channel models (Human's emotion module,
// MATLAB's rgb2gray).
const (
	grayR = 0.2989
	grayG = 0.5870
	grayB = 0.1140
)

// Preprocess turns a face crop into the model's NCHW float32 input (batch 1),
// exactly as the model's original JavaScript library does:
//
//   - human (Human's emotion module): bilinear resize to 64x64, gray =
//     0.2989 R + 0.587 G + 0.114 B on values in 0..1, then (gray - 0.5) * 2.
//   - faceapi (face-api's NetInput.toBatchTensor and FaceFeatureExtractor):
//     pad with black to a centred square (the extra pixel of an odd
//     difference goes after), bilinear resize to 112x112, RGB,
//     (x - [122.782, 117.001, 104.298]) / 255.
//
// The resize is TensorFlow's resizeBilinear with alignCorners and
// halfPixelCenters false (source = destination * in/out, no antialiasing), as
// both libraries use it. face is an 8-bit BGR (or BGRA, or gray) image of the
// face including the margin given by spec.Margin; any size.
func Preprocess(face gocv.Mat, spec models.Spec) ([]float32, error) {
	dst := make([]float32, spec.Channels*spec.InputSize*spec.InputSize)
	if err := preprocessInto(dst, face, spec); err != nil {
		return nil, err
	}
	return dst, nil
}

// preprocessInto is Preprocess writing into dst, which must have room for
// Channels*InputSize*InputSize values.
func preprocessInto(dst []float32, face gocv.Mat, spec models.Spec) error {
	n := spec.InputSize
	if n <= 0 || (spec.Channels != 1 && spec.Channels != 3) || len(dst) != spec.Channels*n*n {
		return fmt.Errorf("classify: model spec %q has input %dx%dx%d, buffer %d", spec.Name, spec.Channels, n, n, len(dst))
	}
	if face.Empty() {
		return fmt.Errorf("%w: the face image is empty", ErrBadFace)
	}
	var bytesPerPixel int
	switch face.Type() {
	case gocv.MatTypeCV8UC1:
		bytesPerPixel = 1
	case gocv.MatTypeCV8UC3:
		bytesPerPixel = 3
	case gocv.MatTypeCV8UC4:
		bytesPerPixel = 4
	default:
		return fmt.Errorf("%w: want an 8-bit gray, BGR or BGRA image, got Mat type %v", ErrBadFace, face.Type())
	}
	if !face.IsContinuous() { // a region of a larger frame
		c := face.Clone()
		defer c.Close()
		face = c
	}
	pix, err := face.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadFace, err)
	}
	rows, cols := face.Rows(), face.Cols()
	if len(pix) < rows*cols*bytesPerPixel {
		return fmt.Errorf("%w: %dx%d image has only %d bytes", ErrBadFace, cols, rows, len(pix))
	}

	// The (virtual) image that is resized: the crop, padded to a centred square if asked.
	h, w, offY, offX := rows, cols, 0, 0
	if spec.PadToSquare && rows != cols {
		diff := rows - cols
		if diff < 0 {
			diff = -diff
		}
		after := int(math.Floor(float64(diff)*0.5 + 0.5)) // Math.round(diff * 0.5)
		before := diff - after
		if rows > cols {
			w, offX = rows, before
		} else {
			h, offY = cols, before
		}
	}

	ys := resizeTaps(h, n)
	xs := resizeTaps(w, n)
	// channel offsets in the Mat's pixel for R, G, B
	var chOff [3]int
	if bytesPerPixel >= 3 {
		chOff = [3]int{2, 1, 0}
	}
	// at returns the value of channel c (R, G, B) at (y, x) of the virtual image.
	at := func(y, x, c int) float64 {
		y -= offY
		x -= offX
		if y < 0 || y >= rows || x < 0 || x >= cols {
			return 0 // padding is black
		}
		return float64(pix[(y*cols+x)*bytesPerPixel+chOff[c]])
	}
	sample := func(ty, tx tap, c int) float64 {
		tl, tr := at(ty.lo, tx.lo, c), at(ty.lo, tx.hi, c)
		bl, br := at(ty.hi, tx.lo, c), at(ty.hi, tx.hi, c)
		top := tl + (tr-tl)*tx.frac
		bottom := bl + (br-bl)*tx.frac
		return top + (bottom-top)*ty.frac
	}
	plane := n * n
	for oy, ty := range ys {
		for ox, tx := range xs {
			i := oy*n + ox
			if spec.Channels == 1 {
				g := grayR*sample(ty, tx, 0) + grayG*sample(ty, tx, 1) + grayB*sample(ty, tx, 2)
				dst[i] = float32((g - spec.Mean[0]) * spec.Scale)
				continue
			}
			for c := 0; c < 3; c++ {
				dst[c*plane+i] = float32((sample(ty, tx, c) - spec.Mean[c]) * spec.Scale)
			}
		}
	}
	return nil
}

// tap is where one output row (or column) samples its input.
type tap struct {
	lo, hi int
	frac   float64
}

// resizeTaps computes TensorFlow's legacy bilinear sampling positions
// (alignCorners=false, halfPixelCenters=false) for in -> out pixels.
func resizeTaps(in, out int) []tap {
	t := make([]tap, out)
	ratio := float64(in) / float64(out)
	for i := range t {
		src := ratio * float64(i)
		lo := int(math.Floor(src))
		if lo < 0 {
			lo = 0
		}
		hi := int(math.Ceil(src))
		if hi > in-1 {
			hi = in - 1
		}
		t[i] = tap{lo: lo, hi: hi, frac: src - float64(lo)}
	}
	return t
}
