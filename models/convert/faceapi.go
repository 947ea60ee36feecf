package convert

import (
	"encoding/json"
	"fmt"
)

// convertFaceExpression builds face-api's FaceExpressionNet as an ONNX graph,
// following @vladmandic/face-api 1.7.15 src/faceFeatureExtractor/
// FaceFeatureExtractor.ts, denseBlock.ts (denseBlock4), common/
// depthwiseSeparableConv.ts, faceProcessor/FaceProcessor.ts and
// faceExpressionNet/FaceExpressionNet.ts. The input is the already normalised
// tensor ((rgb - mean) / 255), NCHW [1,3,112,112]; the output is softmax over 7.
func convertFaceExpression(name string, flavor Flavor, manifestJSON []byte, files map[string][]byte) (*graph, error) {
	return convertFaceProcessor(name, flavor, manifestJSON, files, 7, true)
}

// convertFaceLandmark68 builds face-api's FaceLandmark68Net
// (faceLandmarkNet/FaceLandmark68Net.ts, FaceLandmark68NetBase.ts): the same
// FaceFeatureExtractor and FaceProcessor as the expression net, with a fully
// connected layer 256x136 and no softmax. The output is runNet's: 68 (x, y)
// pairs, interleaved, relative to the padded 112x112 input (postProcess,
// which maps them back to the face crop, is done by classify.Landmarker).
func convertFaceLandmark68(name string, flavor Flavor, manifestJSON []byte, files map[string][]byte) (*graph, error) {
	return convertFaceProcessor(name, flavor, manifestJSON, files, 136, false)
}

// convertFaceLandmark68Tiny builds face-api's FaceLandmark68TinyNet
// (faceLandmarkNet/FaceLandmark68TinyNet.ts): the TinyFaceFeatureExtractor
// (tinyFaceFeatureExtractor/TinyFaceFeatureExtractor.ts: three denseBlock3 of
// 32/64/128 channels, a 14x14 average pool) and a fully connected layer
// 128x136. Input and output are those of convertFaceLandmark68.
func convertFaceLandmark68Tiny(name string, flavor Flavor, manifestJSON []byte, files map[string][]byte) (*graph, error) {
	return buildFaceProcessor(name, flavor, manifestJSON, files, tinyExtractor, 136, false)
}

// featureExtractor describes one of face-api's feature extractors: the
// channels of its dense blocks and the convolutions per block (4 for
// denseBlock4, 3 for denseBlock3).
type featureExtractor struct {
	channels []int
	convs    int
}

var (
	fullExtractor = featureExtractor{channels: []int{32, 64, 128, 256}, convs: 4}
	tinyExtractor = featureExtractor{channels: []int{32, 64, 128}, convs: 3}
)

// convertFaceProcessor builds a face-api FaceProcessor network: the
// FaceFeatureExtractor (four dense blocks), the global average pool and a
// fully connected layer 256 x nOut, followed by a softmax if asked.
func convertFaceProcessor(name string, flavor Flavor, manifestJSON []byte, files map[string][]byte, nOut int, softmax bool) (*graph, error) {
	return buildFaceProcessor(name, flavor, manifestJSON, files, fullExtractor, nOut, softmax)
}

// buildFaceProcessor builds a face-api network from feature extractor fx, a
// global average pool and a fully connected layer to nOut, followed by a
// softmax if asked.
func buildFaceProcessor(name string, flavor Flavor, manifestJSON []byte, files map[string][]byte, fx featureExtractor, nOut int, softmax bool) (*graph, error) {
	var groups []weightGroup
	if err := json.Unmarshal(manifestJSON, &groups); err != nil {
		return nil, fmt.Errorf("parse weights manifest: %w", err)
	}
	w, err := decodeWeights(groups, files)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	get := func(key string, shape ...int) ([]float32, error) {
		t, ok := w[key]
		if !ok {
			return nil, fmt.Errorf("weight %q is missing", key)
		}
		if fmt.Sprint(t.shape) != fmt.Sprint(shape) || t.f32 == nil {
			return nil, fmt.Errorf("weight %q has shape %v (%d floats), want %v", key, t.shape, len(t.f32), shape)
		}
		used[key] = true
		return t.f32, nil
	}

	g := newGraph(name, flavor, "input", []int{1, 3, 112, 112})

	// sep is depthwiseSeparableConv: separableConv2d(x, dw, pw, stride, 'same') + bias.
	sep := func(prefix, x string, cin, cout, stride int, relu bool) (string, error) {
		dw, err := get(prefix+"/depthwise_filter", 3, 3, cin, 1)
		if err != nil {
			return "", err
		}
		pw, err := get(prefix+"/pointwise_filter", 1, 1, cin, cout)
		if err != nil {
			return "", err
		}
		b, err := get(prefix+"/bias", cout)
		if err != nil {
			return "", err
		}
		return g.sepConv(prefix, x, dw, 3, 3, cin, pw, cout, b, stride, "SAME", relu)
	}

	// denseBlock4 with isScaleDown = true.
	block := func(prefix, x string, cin, cout int, first bool) (string, error) {
		var out1 string
		var err error
		if first {
			f, err := get(prefix+"/conv0/filters", 3, 3, cin, cout)
			if err != nil {
				return "", err
			}
			b, err := get(prefix+"/conv0/bias", cout)
			if err != nil {
				return "", err
			}
			out1, err = g.conv(prefix+"/conv0", x, fromHWIO(f, 3, 3, cin, cout), b, 2, "SAME", 1, true)
			if err != nil {
				return "", err
			}
		} else {
			out1, err = sep(prefix+"/conv0", x, cin, cout, 2, true)
			if err != nil {
				return "", err
			}
		}
		out2, err := sep(prefix+"/conv1", out1, cout, cout, 1, false)
		if err != nil {
			return "", err
		}
		s12, err := g.add(prefix+"/add12", out1, out2)
		if err != nil {
			return "", err
		}
		out3, err := sep(prefix+"/conv2", g.relu(prefix+"/in3", s12), cout, cout, 1, false)
		if err != nil {
			return "", err
		}
		// tf.relu(tf.add(out1, tf.add(out2, out3)))
		s23, err := g.add(prefix+"/add23", out2, out3)
		if err != nil {
			return "", err
		}
		s123, err := g.add(prefix+"/add123", out1, s23)
		if err != nil {
			return "", err
		}
		if fx.convs == 3 { // denseBlock3 ends here
			return g.relu(prefix+"/out", s123), nil
		}
		out4, err := sep(prefix+"/conv3", g.relu(prefix+"/in4", s123), cout, cout, 1, false)
		if err != nil {
			return "", err
		}
		// tf.relu(tf.add(out1, tf.add(out2, tf.add(out3, out4))))
		s34, err := g.add(prefix+"/add34", out3, out4)
		if err != nil {
			return "", err
		}
		s234, err := g.add(prefix+"/add234", out2, s34)
		if err != nil {
			return "", err
		}
		s1234, err := g.add(prefix+"/add1234", out1, s234)
		if err != nil {
			return "", err
		}
		return g.relu(prefix+"/out", s1234), nil
	}

	x := g.input
	cin := 3
	for i, cout := range fx.channels {
		x, err = block(fmt.Sprintf("dense%d", i), x, cin, cout, i == 0)
		if err != nil {
			return nil, err
		}
		cin = cout
	}
	// tf.avgPool(out, [7, 7], [2, 2], 'valid') on a 7x7 map (the tiny
	// extractor: [14, 14] on 14x14) is the global mean.
	side := 112 >> len(fx.channels)
	if s := g.shape(x); s[2] != side || s[3] != side {
		return nil, fmt.Errorf("feature map is %v, want %dx%d before the average pool", s, side, side)
	}
	x = g.globalMean("avgpool", x)
	last := fx.channels[len(fx.channels)-1]
	fw, err := get("fc/weights", last, nOut)
	if err != nil {
		return nil, err
	}
	fb, err := get("fc/bias", nOut)
	if err != nil {
		return nil, err
	}
	x, err = g.dense("fc", x, fw, last, nOut, fb)
	if err != nil {
		return nil, err
	}
	if softmax {
		x = g.softmax("softmax", x)
	}
	g.setOutput(x)
	for k := range w {
		if !used[k] {
			return nil, fmt.Errorf("weight %q is not used by the network", k)
		}
	}
	return g, nil
}
