package classify

import (
	"fmt"

	"gocv.io/x/gocv"
)

// openCVDNN runs a graph with OpenCV's DNN module (CPU).
type openCVDNN struct {
	net  *gocv.Net
	blob gocv.Mat // the NCHW input, owned by OpenCV, reused by every Infer
	size int
}

func newOpenCVDNN(onnxModel []byte, shape []int) (*openCVDNN, error) {
	net, err := gocv.ReadNetFromONNXBytes(onnxModel)
	if err != nil {
		return nil, fmt.Errorf("opencv dnn: read model: %w", err)
	}
	if net.Empty() {
		net.Close()
		return nil, fmt.Errorf("opencv dnn: the model could not be loaded")
	}
	if err := net.SetPreferableBackend(gocv.NetBackendOpenCV); err != nil {
		net.Close()
		return nil, err
	}
	if err := net.SetPreferableTarget(gocv.NetTargetCPU); err != nil {
		net.Close()
		return nil, err
	}
	return &openCVDNN{net: &net, blob: gocv.NewMatWithSizes(shape, gocv.MatTypeCV32F), size: product(shape)}, nil
}

func (b *openCVDNN) Infer(x []float32) ([]float32, error) {
	if b.net == nil {
		return nil, ErrClosed
	}
	if len(x) != b.size {
		return nil, fmt.Errorf("opencv dnn: input has %d values, the model takes %d", len(x), b.size)
	}
	in, err := b.blob.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("opencv dnn: input blob: %w", err)
	}
	if len(in) != b.size {
		return nil, fmt.Errorf("opencv dnn: input blob has %d values, want %d", len(in), b.size)
	}
	copy(in, x)
	b.net.SetInput(b.blob, "")
	out := b.net.Forward("")
	defer out.Close()
	if out.Empty() {
		return nil, fmt.Errorf("opencv dnn: forward gave no output")
	}
	data, err := out.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("opencv dnn: output: %w", err)
	}
	return append([]float32(nil), data...), nil
}

func (b *openCVDNN) Close() error {
	if b.net == nil {
		return nil
	}
	err := b.net.Close()
	b.net = nil
	if cerr := b.blob.Close(); err == nil {
		err = cerr
	}
	return err
}
