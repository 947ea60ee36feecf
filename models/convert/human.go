package convert

import (
	"encoding/json"
	"fmt"
	"strings"
)

// convertGraphModel translates a TensorFlow.js graph model (NHWC, batch 1) into
// an ONNX graph (NCHW). It knows the operators of Human's emotion model:
// Placeholder, Const, _FusedConv2D (BiasAdd, optional Relu), DepthwiseConv2dNative
// feeding a 1x1 _FusedConv2D (a separable convolution), MaxPool, AddV2, Relu,
// Mean over H and W, Softmax and Identity. Anything else is an error.
func convertGraphModel(name string, flavor Flavor, modelJSON []byte, files map[string][]byte, inputHW, inputC int) (*graph, error) {
	var m graphModel
	if err := json.Unmarshal(modelJSON, &m); err != nil {
		return nil, fmt.Errorf("parse graph model: %w", err)
	}
	if m.Format != "graph-model" {
		return nil, fmt.Errorf("model format is %q, want graph-model", m.Format)
	}
	weights, err := decodeWeights(m.WeightsManifest, files)
	if err != nil {
		return nil, err
	}
	nodes := map[string]tfNode{}
	consumers := map[string]int{}
	for _, n := range m.ModelTopology.Node {
		nodes[n.Name] = n
		for _, in := range n.Input {
			consumers[tfName(in)]++
		}
	}
	var outName string
	for k := range m.UserDefinedMetadata.Signature.Outputs {
		if outName != "" {
			return nil, fmt.Errorf("graph model has more than one output")
		}
		outName = tfName(k)
	}
	if outName == "" {
		return nil, fmt.Errorf("graph model signature names no output")
	}

	g := newGraph(name, flavor, "input", []int{1, inputC, inputHW, inputHW})
	t := &tfTranslator{g: g, nodes: nodes, consumers: consumers, weights: weights, values: map[string]string{}}
	out, err := t.value(outName)
	if err != nil {
		return nil, err
	}
	g.setOutput(out)
	return g, nil
}

// tfName strips an output index (":0") from a TensorFlow tensor name.
func tfName(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i]
	}
	return s
}

type tfTranslator struct {
	g         *graph
	nodes     map[string]tfNode
	consumers map[string]int
	weights   map[string]tensor
	values    map[string]string // TF node name -> ONNX value name
}

func (t *tfTranslator) weight(name string, rank int) (tensor, error) {
	w, ok := t.weights[tfName(name)]
	if !ok {
		return tensor{}, fmt.Errorf("constant %q has no weights", name)
	}
	if len(w.shape) != rank {
		return tensor{}, fmt.Errorf("constant %q has shape %v, want rank %d", name, w.shape, rank)
	}
	return w, nil
}

func onnxName(tf string) string {
	return strings.TrimPrefix(tf, "StatefulPartitionedCall/model_1/")
}

func (t *tfTranslator) value(name string) (string, error) {
	name = tfName(name)
	if v, ok := t.values[name]; ok {
		return v, nil
	}
	n, ok := t.nodes[name]
	if !ok {
		return "", fmt.Errorf("graph has no node %q", name)
	}
	v, err := t.translate(n)
	if err != nil {
		return "", fmt.Errorf("node %s (%s): %w", n.Name, n.Op, err)
	}
	t.values[name] = v
	return v, nil
}

func (t *tfTranslator) checkConvAttrs(n tfNode) (stride int, padding string, err error) {
	if df := n.str("data_format"); df != "" && df != "NHWC" {
		return 0, "", fmt.Errorf("data_format %s is not supported", df)
	}
	if d, err := n.ints("dilations"); err == nil {
		for _, v := range d {
			if v != 1 {
				return 0, "", fmt.Errorf("dilations %v are not supported", d)
			}
		}
	}
	s, err := n.ints("strides")
	if err != nil {
		return 0, "", err
	}
	if len(s) != 4 || s[0] != 1 || s[3] != 1 || s[1] != s[2] {
		return 0, "", fmt.Errorf("strides %v are not supported", s)
	}
	return s[1], n.str("padding"), nil
}

func (t *tfTranslator) translate(n tfNode) (string, error) {
	g := t.g
	switch n.Op {
	case "Placeholder":
		return g.input, nil
	case "Identity":
		return t.value(n.Input[0])
	case "Relu":
		x, err := t.value(n.Input[0])
		if err != nil {
			return "", err
		}
		return g.relu(onnxName(n.Name), x), nil
	case "AddV2", "Add":
		a, err := t.value(n.Input[0])
		if err != nil {
			return "", err
		}
		b, err := t.value(n.Input[1])
		if err != nil {
			return "", err
		}
		return g.add(onnxName(n.Name), a, b)
	case "Softmax":
		x, err := t.value(n.Input[0])
		if err != nil {
			return "", err
		}
		return g.softmax(onnxName(n.Name), x), nil
	case "Mean":
		axes, err := t.weight(n.Input[1], 1)
		if err != nil {
			return "", err
		}
		if fmt.Sprint(axes.i32) != "[1 2]" || n.Attr["keep_dims"].B {
			return "", fmt.Errorf("only a mean over axes [1 2] without keep_dims is supported, got %v", axes.i32)
		}
		x, err := t.value(n.Input[0])
		if err != nil {
			return "", err
		}
		return g.globalMean(onnxName(n.Name), x), nil
	case "MaxPool":
		stride, padding, err := t.checkConvAttrs(n)
		if err != nil {
			return "", err
		}
		k, err := n.ints("ksize")
		if err != nil {
			return "", err
		}
		if len(k) != 4 || k[1] != k[2] || k[0] != 1 || k[3] != 1 {
			return "", fmt.Errorf("ksize %v is not supported", k)
		}
		x, err := t.value(n.Input[0])
		if err != nil {
			return "", err
		}
		return g.maxPool(onnxName(n.Name), x, k[1], stride, padding)
	case "_FusedConv2D":
		return t.fusedConv(n)
	case "DepthwiseConv2dNative":
		return "", fmt.Errorf("a depthwise convolution that does not feed exactly one 1x1 convolution is not supported")
	}
	return "", fmt.Errorf("operator %s is not supported", n.Op)
}

func (t *tfTranslator) fusedConv(n tfNode) (string, error) {
	g := t.g
	ops := n.strs("fused_ops")
	relu := false
	switch strings.Join(ops, ",") {
	case "BiasAdd":
	case "BiasAdd,Relu":
		relu = true
	default:
		return "", fmt.Errorf("fused ops %v are not supported", ops)
	}
	if len(n.Input) != 3 {
		return "", fmt.Errorf("want 3 inputs (x, filter, bias), got %d", len(n.Input))
	}
	stride, padding, err := t.checkConvAttrs(n)
	if err != nil {
		return "", err
	}
	w, err := t.weight(n.Input[1], 4)
	if err != nil {
		return "", err
	}
	b, err := t.weight(n.Input[2], 1)
	if err != nil {
		return "", err
	}
	kh, kw, ci, co := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	name := onnxName(n.Name)

	// A depthwise convolution whose only consumer is this 1x1 convolution is
	// the first half of a separable convolution.
	src := t.nodes[tfName(n.Input[0])]
	if src.Op == "DepthwiseConv2dNative" && t.consumers[src.Name] == 1 && kh == 1 && kw == 1 && stride == 1 && padding == "VALID" {
		dstride, dpadding, err := t.checkConvAttrs(src)
		if err != nil {
			return "", fmt.Errorf("depthwise input %s: %w", src.Name, err)
		}
		dw, err := t.weight(src.Input[1], 4)
		if err != nil {
			return "", err
		}
		if dw.shape[2] != ci || dw.shape[3] != 1 {
			return "", fmt.Errorf("depthwise filter shape %v does not fit %d channels with multiplier 1", dw.shape, ci)
		}
		x, err := t.value(src.Input[0])
		if err != nil {
			return "", err
		}
		return g.sepConv(strings.TrimSuffix(strings.TrimSuffix(name, "/Relu"), "/FusedBatchNormV3"), x,
			dw.f32, dw.shape[0], dw.shape[1], ci, w.f32, co, b.f32, dstride, dpadding, relu)
	}
	x, err := t.value(n.Input[0])
	if err != nil {
		return "", err
	}
	return g.conv(strings.TrimSuffix(strings.TrimSuffix(name, "/Relu"), "/FusedBatchNormV3"), x,
		fromHWIO(w.f32, kh, kw, ci, co), b.f32, stride, padding, 1, relu)
}
