package classify

import (
	"fmt"

	"github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"

	// gorgonia needs this on go1.26, or it panics at start.
	_ "go4.org/unsafe/assume-no-moving-gc"
)

// onnxGo runs a graph with onnx-go's gorgonnx backend (pure Go).
//
// onnx-go has known bugs (see models/README.md): Conv ignores group, rejects
// asymmetric pads, and Gemm adds its bias again on every run. The graphs in
// models (Spec.File) avoid all three; tests check that 100 runs on one input
// give identical outputs and that the outputs equal OpenCV DNN's.
type onnxGo struct {
	model *onnx.Model
	graph *gorgonnx.Graph
	in    []float32 // backing array of the input tensor
	input *tensor.Dense
}

func newONNXGo(onnxModel []byte, shape []int) (b *onnxGo, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-go: loading the model panicked: %v", r)
		}
	}()
	g := gorgonnx.NewGraph()
	m := onnx.NewModel(g)
	if err := m.UnmarshalBinary(onnxModel); err != nil {
		return nil, fmt.Errorf("onnx-go: decode model: %w", err)
	}
	if len(m.Input) != 1 {
		return nil, fmt.Errorf("onnx-go: model has %d inputs, want 1", len(m.Input))
	}
	in := make([]float32, product(shape))
	t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(in))
	if err := m.SetInput(0, t); err != nil {
		return nil, fmt.Errorf("onnx-go: set input: %w", err)
	}
	// Build the gorgonia graph now, so that an unsupported operator is
	// reported here rather than at the first inference.
	if _, err := g.GetExprGraph(); err != nil {
		return nil, fmt.Errorf("onnx-go: build graph: %w", err)
	}
	return &onnxGo{model: m, graph: g, in: in, input: t}, nil
}

func (b *onnxGo) Infer(x []float32) (out []float32, err error) {
	if b.model == nil {
		return nil, ErrClosed
	}
	if len(x) != len(b.in) {
		return nil, fmt.Errorf("onnx-go: input has %d values, the model takes %d", len(x), len(b.in))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-go: inference panicked: %v", r)
		}
	}()
	copy(b.in, x)
	if err := b.model.SetInput(0, b.input); err != nil {
		return nil, fmt.Errorf("onnx-go: set input: %w", err)
	}
	if err := b.graph.Run(); err != nil {
		return nil, fmt.Errorf("onnx-go: run: %w", err)
	}
	outs, err := b.model.GetOutputTensors()
	if err != nil {
		return nil, fmt.Errorf("onnx-go: output: %w", err)
	}
	if len(outs) != 1 || outs[0] == nil {
		return nil, fmt.Errorf("onnx-go: model gave %d outputs, want 1", len(outs))
	}
	data, ok := outs[0].Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("onnx-go: output is %T, want []float32", outs[0].Data())
	}
	return append([]float32(nil), data...), nil
}

func (b *onnxGo) Close() error {
	b.model, b.graph, b.input, b.in = nil, nil, nil, nil
	return nil
}

func product(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}
