package convert

import (
	"fmt"
)

// Flavor selects which of the two equivalent ONNX graphs is written.
type Flavor int

const (
	// Dense is the graph for onnx-go (gorgonnx): every depthwise+pointwise pair
	// is folded into one dense Conv (gorgonnx ignores Conv's group attribute),
	// every pad is symmetric (gorgonnx rejects asymmetric pads; TF's SAME padding
	// with stride 2 on even sizes is written as a 4x4 kernel whose first row and
	// column are zero, with pads 1 all round), and fully connected layers are
	// MatMul + Add (gorgonnx's Gemm adds its bias again on every run at batch 1).
	Dense Flavor = iota
	// Fast is the graph for OpenCV DNN: depthwise convolutions stay grouped Convs
	// followed by 1x1 Convs, which OpenCV runs 2.5-4x faster than the folded form.
	Fast
)

func (f Flavor) String() string {
	switch f {
	case Dense:
		return "dense"
	case Fast:
		return "fast"
	}
	return fmt.Sprintf("Flavor(%d)", int(f))
}

// graph is an ONNX graph under construction. Values are NCHW float32 tensors,
// batch 1; shapes are tracked so padding can be computed as TensorFlow does.
type graph struct {
	name        string
	flavor      Flavor
	nodes       []node
	inits       []initializer
	input       string
	inputShape  []int
	output      string
	outputShape []int
	shapes      map[string][]int
	used        map[string]bool
}

func newGraph(name string, f Flavor, input string, shape []int) *graph {
	g := &graph{
		name:       name,
		flavor:     f,
		input:      input,
		inputShape: shape,
		shapes:     map[string][]int{input: shape},
		used:       map[string]bool{input: true},
	}
	return g
}

// unique returns name, or name with a numeric suffix if it is taken.
func (g *graph) unique(name string) string {
	n := name
	for i := 2; g.used[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	g.used[n] = true
	return n
}

func (g *graph) constF(name string, dims []int, data []float32) string {
	if product(dims) != len(data) {
		panic(fmt.Sprintf("convert: constant %s has %d values for shape %v", name, len(data), dims))
	}
	name = g.unique(name)
	g.inits = append(g.inits, initializer{name: name, dims: dims, f32: data})
	return name
}

// op appends a node with one output and records the output's shape.
func (g *graph) op(op, name string, inputs []string, out []int, attrs ...attr) string {
	name = g.unique(name)
	g.nodes = append(g.nodes, node{op: op, name: name, inputs: inputs, outputs: []string{name}, attrs: attrs})
	g.shapes[name] = out
	return name
}

func (g *graph) shape(v string) []int {
	s, ok := g.shapes[v]
	if !ok {
		panic("convert: no shape for " + v)
	}
	return s
}

func (g *graph) setOutput(v string) {
	g.output = v
	g.outputShape = g.shape(v)
}

func product(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

// tfPads returns TensorFlow's output size and padding (before, after) for one
// spatial axis of size in, kernel k, stride s and padding "SAME" or "VALID".
func tfPads(in, k, s int, padding string) (out, before, after int, err error) {
	switch padding {
	case "VALID":
		if in < k {
			return 0, 0, 0, fmt.Errorf("VALID padding: input %d smaller than kernel %d", in, k)
		}
		return (in-k)/s + 1, 0, 0, nil
	case "SAME":
		out = (in + s - 1) / s
		total := (out-1)*s + k - in
		if total < 0 {
			total = 0
		}
		return out, total / 2, total - total/2, nil
	}
	return 0, 0, 0, fmt.Errorf("unsupported padding %q", padding)
}

// kernel is a convolution filter in ONNX layout [O][I][KH][KW], float32.
type kernel struct {
	o, i, kh, kw int
	w            []float32
}

func (k kernel) at(o, i, y, x int) float32 { return k.w[((o*k.i+i)*k.kh+y)*k.kw+x] }

// grow returns the kernel with one zero row on top and one zero column on the left.
// With pads p+1 on both sides it computes what the original kernel computes with
// pads p before and p+1 after (TensorFlow's SAME padding when the total is odd).
func (k kernel) grow() kernel {
	n := kernel{o: k.o, i: k.i, kh: k.kh + 1, kw: k.kw + 1}
	n.w = make([]float32, n.o*n.i*n.kh*n.kw)
	for o := 0; o < k.o; o++ {
		for i := 0; i < k.i; i++ {
			for y := 0; y < k.kh; y++ {
				for x := 0; x < k.kw; x++ {
					n.w[((o*n.i+i)*n.kh+y+1)*n.kw+x+1] = k.at(o, i, y, x)
				}
			}
		}
	}
	return n
}

// fromHWIO converts a TensorFlow Conv2D filter [KH][KW][I][O] to ONNX layout.
func fromHWIO(w []float32, kh, kw, ci, co int) kernel {
	k := kernel{o: co, i: ci, kh: kh, kw: kw, w: make([]float32, len(w))}
	for y := 0; y < kh; y++ {
		for x := 0; x < kw; x++ {
			for i := 0; i < ci; i++ {
				for o := 0; o < co; o++ {
					k.w[((o*ci+i)*kh+y)*kw+x] = w[((y*kw+x)*ci+i)*co+o]
				}
			}
		}
	}
	return k
}

// fromDepthwise converts a TensorFlow depthwise filter [KH][KW][C][1] to an
// ONNX grouped-Conv kernel [C][1][KH][KW].
func fromDepthwise(w []float32, kh, kw, c int) kernel {
	k := kernel{o: c, i: 1, kh: kh, kw: kw, w: make([]float32, len(w))}
	for y := 0; y < kh; y++ {
		for x := 0; x < kw; x++ {
			for ch := 0; ch < c; ch++ {
				k.w[(ch*kh+y)*kw+x] = w[(y*kw+x)*c+ch]
			}
		}
	}
	return k
}

// fold folds a depthwise filter [KH][KW][C][1] followed by a pointwise filter
// [C][O] into one dense kernel W[o][c][y][x] = dw[y][x][c] * pw[c][o]. Nothing
// non-linear sits between the two, so the result is the same function; the
// product is exact in float64 and rounded once to float32.
func fold(dw []float32, kh, kw, c int, pw []float32, co int) kernel {
	k := kernel{o: co, i: c, kh: kh, kw: kw, w: make([]float32, co*c*kh*kw)}
	for o := 0; o < co; o++ {
		for ch := 0; ch < c; ch++ {
			p := float64(pw[ch*co+o])
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					k.w[((o*c+ch)*kh+y)*kw+x] = float32(float64(dw[(y*kw+x)*c+ch]) * p)
				}
			}
		}
	}
	return k
}

// conv adds an ONNX Conv with TensorFlow padding semantics (square inputs and
// kernels only) and an optional bias and Relu. group > 1 makes a grouped
// (depthwise) convolution.
func (g *graph) conv(name, x string, k kernel, bias []float32, stride int, padding string, group int, relu bool) (string, error) {
	in := g.shape(x)
	if len(in) != 4 || in[2] != in[3] || k.kh != k.kw {
		return "", fmt.Errorf("%s: only square inputs and kernels are supported (input %v, kernel %dx%d)", name, in, k.kh, k.kw)
	}
	if in[1] != k.i*group {
		return "", fmt.Errorf("%s: input has %d channels, kernel expects %d", name, in[1], k.i*group)
	}
	out, before, after, err := tfPads(in[2], k.kh, stride, padding)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	pad := before
	switch {
	case before == after:
	case after == before+1:
		k = k.grow()
		pad = after
	default:
		return "", fmt.Errorf("%s: cannot express padding %d/%d with symmetric pads", name, before, after)
	}
	if got := (in[2]+2*pad-k.kh)/stride + 1; got != out {
		return "", fmt.Errorf("%s: internal error: output size %d, TensorFlow gives %d", name, got, out)
	}
	w := g.constF(name+"/W", []int{k.o, k.i, k.kh, k.kw}, k.w)
	inputs := []string{x, w}
	if bias != nil {
		if len(bias) != k.o {
			return "", fmt.Errorf("%s: bias has %d values for %d output channels", name, len(bias), k.o)
		}
		inputs = append(inputs, g.constF(name+"/B", []int{k.o}, bias))
	}
	attrs := []attr{
		attrIs("kernel_shape", k.kh, k.kw),
		attrIs("pads", pad, pad, pad, pad),
		attrIs("strides", stride, stride),
	}
	if group != 1 {
		attrs = append(attrs, attrI("group", int64(group)))
	}
	y := g.op("Conv", name, inputs, []int{in[0], k.o, out, out}, attrs...)
	if relu {
		y = g.relu(name+"/relu", y)
	}
	return y, nil
}

// sepConv adds TensorFlow's separableConv2d (depthwise [KH][KW][C][1], then
// pointwise [C][O] with stride 1) plus bias and optional Relu, in the form the
// graph's flavor wants.
func (g *graph) sepConv(name, x string, dw []float32, kh, kw, c int, pw []float32, co int, bias []float32, stride int, padding string, relu bool) (string, error) {
	if len(dw) != kh*kw*c || len(pw) != c*co {
		return "", fmt.Errorf("%s: filter sizes %d and %d do not match %dx%dx%d and %dx%d", name, len(dw), len(pw), kh, kw, c, c, co)
	}
	if g.flavor == Dense {
		return g.conv(name, x, fold(dw, kh, kw, c, pw, co), bias, stride, padding, 1, relu)
	}
	d, err := g.conv(name+"/depthwise", x, fromDepthwise(dw, kh, kw, c), nil, stride, padding, c, false)
	if err != nil {
		return "", err
	}
	return g.conv(name+"/pointwise", d, fromHWIO(pw, 1, 1, c, co), bias, 1, "VALID", 1, relu)
}

func (g *graph) relu(name, x string) string {
	return g.op("Relu", name, []string{x}, g.shape(x))
}

func (g *graph) add(name, a, b string) (string, error) {
	sa, sb := g.shape(a), g.shape(b)
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		return "", fmt.Errorf("%s: adding shapes %v and %v", name, sa, sb)
	}
	return g.op("Add", name, []string{a, b}, sa), nil
}

// maxPool adds a MaxPool with TensorFlow padding; SAME padding must be symmetric.
// Padded positions never win (ONNX, TensorFlow and gorgonia all ignore them).
func (g *graph) maxPool(name, x string, k, stride int, padding string) (string, error) {
	in := g.shape(x)
	out, before, after, err := tfPads(in[2], k, stride, padding)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if before != after || in[2] != in[3] {
		return "", fmt.Errorf("%s: asymmetric max-pool padding %d/%d is not supported", name, before, after)
	}
	return g.op("MaxPool", name, []string{x}, []int{in[0], in[1], out, out},
		attrIs("kernel_shape", k, k),
		attrIs("pads", before, before, before, before),
		attrIs("strides", stride, stride)), nil
}

// globalMean averages over H and W and flattens to [N, C].
func (g *graph) globalMean(name, x string) string {
	in := g.shape(x)
	p := g.op("GlobalAveragePool", name, []string{x}, []int{in[0], in[1], 1, 1})
	return g.op("Flatten", name+"/flatten", []string{p}, []int{in[0], in[1]}, attrI("axis", 1))
}

// dense adds x·W + b as MatMul + Add (never Gemm, see Dense). w is [in][out].
func (g *graph) dense(name, x string, w []float32, nin, nout int, b []float32) (string, error) {
	in := g.shape(x)
	if len(in) != 2 || in[1] != nin || len(w) != nin*nout || len(b) != nout {
		return "", fmt.Errorf("%s: shapes do not fit: input %v, weights %d, bias %d for %dx%d", name, in, len(w), len(b), nin, nout)
	}
	wn := g.constF(name+"/W", []int{nin, nout}, w)
	m := g.op("MatMul", name+"/matmul", []string{x, wn}, []int{in[0], nout})
	bn := g.constF(name+"/B", []int{1, nout}, b)
	return g.op("Add", name+"/add", []string{m, bn}, []int{in[0], nout}), nil
}

func (g *graph) softmax(name, x string) string {
	return g.op("Softmax", name, []string{x}, g.shape(x), attrI("axis", 1))
}
