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

	ys := resizeTaps(h, n, offY, rows, cols*bytesPerPixel)
	xs := resizeTaps(w, n, offX, cols, bytesPerPixel)
	// byte offsets in a pixel of R, G and B
	var chOff [3]int
	if bytesPerPixel >= 3 {
		chOff = [3]int{2, 1, 0}
	}
	plane := n * n
	for oy, ty := range ys {
		for ox, tx := range xs {
			p00, p01 := pixelAt(ty.lo, tx.lo), pixelAt(ty.lo, tx.hi)
			p10, p11 := pixelAt(ty.hi, tx.lo), pixelAt(ty.hi, tx.hi)
			var v [3]float64
			for c := 0; c < 3; c++ {
				o := chOff[c]
				// TensorFlow's resizeBilinear: lerp along x on both rows, then along y.
				tl, tr := value(pix, p00, o), value(pix, p01, o)
				bl, br := value(pix, p10, o), value(pix, p11, o)
				top := tl + (tr-tl)*tx.frac
				bottom := bl + (br-bl)*tx.frac
				v[c] = top + (bottom-top)*ty.frac
			}
			i := oy*n + ox
			if spec.Channels == 1 {
				g := grayR*v[0] + grayG*v[1] + grayB*v[2]
				dst[i] = float32((g - spec.Mean[0]) * spec.Scale)
				continue
			}
			for c := 0; c < 3; c++ {
				dst[c*plane+i] = float32((v[c] - spec.Mean[c]) * spec.Scale)
			}
		}
	}
	return nil
}

// pixelAt returns the byte offset of a pixel from its row and column
// offsets, or -1 when either is in the black padding.
func pixelAt(row, col int) int {
	if row < 0 || col < 0 {
		return -1
	}
	return row + col
}

func value(pix []uint8, p, channel int) float64 {
	if p < 0 {
		return 0
	}
	return float64(pix[p+channel])
}

// tap is where one output row (or column) samples its input: byte offsets
// of the two neighbouring source rows (columns), -1 for padding, and the
// fraction between them.
type tap struct {
	lo, hi int
	frac   float64
}

// resizeTaps computes TensorFlow's legacy bilinear sampling positions
// (alignCorners=false, halfPixelCenters=false) from a (padded) axis of size
// in to out pixels. Position i of the padded axis is source pixel i-off of
// the image's n pixels; stride is the byte distance between source pixels.
func resizeTaps(in, out, off, n, stride int) []tap {
	t := make([]tap, out)
	ratio := float64(in) / float64(out)
	at := func(i int) int {
		i -= off
		if i < 0 || i >= n {
			return -1
		}
		return i * stride
	}
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
		t[i] = tap{lo: at(lo), hi: at(hi), frac: src - float64(lo)}
	}
	return t
}
