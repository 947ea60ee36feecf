package convert

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// weightGroup is one entry of a TensorFlow.js weights manifest.
type weightGroup struct {
	Paths   []string     `json:"paths"`
	Weights []weightSpec `json:"weights"`
}

type weightSpec struct {
	Name         string `json:"name"`
	Shape        []int  `json:"shape"`
	Dtype        string `json:"dtype"`
	Quantization *struct {
		Dtype string  `json:"dtype"`
		Scale float64 `json:"scale"`
		Min   float64 `json:"min"`
	} `json:"quantization"`
}

// tensor is a decoded weight. Float weights are in f32, int32 weights in i32.
type tensor struct {
	shape []int
	f32   []float32
	i32   []int32
}

// decodeWeights decodes the weights of a manifest as tf.io.decodeWeights does:
// the groups' files are concatenated, and each weight takes its bytes in order.
// Quantized uint8 weights become q*scale + min, computed in float64 and rounded
// to float32 as TensorFlow.js does.
func decodeWeights(groups []weightGroup, files map[string][]byte) (map[string]tensor, error) {
	out := map[string]tensor{}
	for _, gr := range groups {
		var buf []byte
		for _, p := range gr.Paths {
			b, ok := files[p]
			if !ok {
				return nil, fmt.Errorf("weights file %q named in the manifest is missing", p)
			}
			buf = append(buf, b...)
		}
		off := 0
		for _, w := range gr.Weights {
			n := product(w.Shape)
			t := tensor{shape: w.Shape}
			take := func(size int) ([]byte, error) {
				if off+n*size > len(buf) {
					return nil, fmt.Errorf("weight %q needs bytes %d..%d, weights data has %d", w.Name, off, off+n*size, len(buf))
				}
				b := buf[off : off+n*size]
				off += n * size
				return b, nil
			}
			switch {
			case w.Quantization != nil:
				if w.Quantization.Dtype != "uint8" || w.Dtype != "float32" {
					return nil, fmt.Errorf("weight %q: quantization %s to %s is not supported", w.Name, w.Quantization.Dtype, w.Dtype)
				}
				b, err := take(1)
				if err != nil {
					return nil, err
				}
				t.f32 = make([]float32, n)
				for i, q := range b {
					t.f32[i] = float32(float64(q)*w.Quantization.Scale + w.Quantization.Min)
				}
			case w.Dtype == "float32":
				b, err := take(4)
				if err != nil {
					return nil, err
				}
				t.f32 = make([]float32, n)
				for i := range t.f32 {
					t.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				}
			case w.Dtype == "int32":
				b, err := take(4)
				if err != nil {
					return nil, err
				}
				t.i32 = make([]int32, n)
				for i := range t.i32 {
					t.i32[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
				}
			default:
				return nil, fmt.Errorf("weight %q: dtype %s is not supported", w.Name, w.Dtype)
			}
			if _, dup := out[w.Name]; dup {
				return nil, fmt.Errorf("weight %q appears twice in the manifest", w.Name)
			}
			out[w.Name] = t
		}
		if off != len(buf) {
			return nil, fmt.Errorf("weights data has %d bytes, the manifest describes %d", len(buf), off)
		}
	}
	return out, nil
}

// graphModel is a TensorFlow.js graph model (model.json).
type graphModel struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []tfNode `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest     []weightGroup `json:"weightsManifest"`
	UserDefinedMetadata struct {
		Signature struct {
			Inputs  map[string]json.RawMessage `json:"inputs"`
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"signature"`
	} `json:"userDefinedMetadata"`
}

// tfNode is one node of a TensorFlow GraphDef in JSON form.
type tfNode struct {
	Name  string            `json:"name"`
	Op    string            `json:"op"`
	Input []string          `json:"input"`
	Attr  map[string]tfAttr `json:"attr"`
}

// tfAttr is a TensorFlow AttrValue in JSON form; strings are base64 ([]byte).
type tfAttr struct {
	S    []byte `json:"s"`
	I    string `json:"i"`
	B    bool   `json:"b"`
	List *struct {
		S [][]byte `json:"s"`
		I []string `json:"i"`
	} `json:"list"`
}

func (n tfNode) str(key string) string { return string(n.Attr[key].S) }

func (n tfNode) ints(key string) ([]int, error) {
	a, ok := n.Attr[key]
	if !ok || a.List == nil {
		return nil, fmt.Errorf("node %s: attribute %s missing", n.Name, key)
	}
	r := make([]int, len(a.List.I))
	for i, s := range a.List.I {
		if _, err := fmt.Sscan(s, &r[i]); err != nil {
			return nil, fmt.Errorf("node %s: attribute %s: %w", n.Name, key, err)
		}
	}
	return r, nil
}

func (n tfNode) strs(key string) []string {
	a, ok := n.Attr[key]
	if !ok || a.List == nil {
		return nil
	}
	r := make([]string, len(a.List.S))
	for i, s := range a.List.S {
		r[i] = string(s)
	}
	return r
}
