package convert

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file hand-encodes the few ONNX protobuf messages the converter needs
// (onnx.proto3, https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
// Field numbers are the ones in onnx.proto; only the fields used are written.

const (
	irVersion    = 7  // ONNX IR version 7 (ONNX 1.7); initializers need not be graph inputs.
	opsetVersion = 11 // default-domain operator set; every operator used is unchanged from 11 to 13 for our shapes.

	tensorFloat = 1 // TensorProto.DataType FLOAT
	tensorInt64 = 7 // TensorProto.DataType INT64

	attrFloat  = 1 // AttributeProto.AttributeType
	attrInt    = 2
	attrString = 3
	attrInts   = 7
)

// attr is one node attribute: exactly one of the value fields is used, by kind.
type attr struct {
	name string
	kind int
	f    float32
	i    int64
	s    string
	ints []int64
}

func attrI(name string, v int64) attr   { return attr{name: name, kind: attrInt, i: v} }
func attrS(name string, v string) attr  { return attr{name: name, kind: attrString, s: v} }
func attrF(name string, v float32) attr { return attr{name: name, kind: attrFloat, f: v} }
func (a attr) String() string           { return fmt.Sprintf("%s(kind %d)", a.name, a.kind) }

func attrIs(name string, v ...int) attr {
	r := make([]int64, len(v))
	for i, x := range v {
		r[i] = int64(x)
	}
	return attr{name: name, kind: attrInts, ints: r}
}

func appendMsg(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendStr(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// encode writes an AttributeProto.
func (a attr) encode() []byte {
	var b []byte
	b = appendStr(b, 1, a.name) // name
	switch a.kind {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type) // f
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = appendVarint(b, 3, uint64(a.i)) // i
	case attrString:
		b = appendStr(b, 4, a.s) // s (bytes)
	case attrInts:
		for _, v := range a.ints {
			b = appendVarint(b, 8, uint64(v)) // ints (proto2: not packed)
		}
	default:
		panic("convert: unsupported attribute kind " + a.String())
	}
	b = appendVarint(b, 20, uint64(a.kind)) // type
	return b
}

// node is one NodeProto.
type node struct {
	op      string
	name    string
	inputs  []string
	outputs []string
	attrs   []attr
}

func (n node) encode() []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendStr(b, 1, in)
	}
	for _, out := range n.outputs {
		b = appendStr(b, 2, out)
	}
	b = appendStr(b, 3, n.name)
	b = appendStr(b, 4, n.op)
	for _, a := range n.attrs {
		b = appendMsg(b, 5, a.encode())
	}
	return b
}

// initializer is a float32 (or int64) constant tensor stored as raw little-endian data.
type initializer struct {
	name  string
	dims  []int
	f32   []float32
	i64   []int64
	isI64 bool
}

func (t initializer) encode() []byte {
	var b []byte
	for _, d := range t.dims {
		b = appendVarint(b, 1, uint64(d)) // dims (proto2: not packed)
	}
	var raw []byte
	if t.isI64 {
		b = appendVarint(b, 2, tensorInt64)
		raw = make([]byte, 8*len(t.i64))
		for i, v := range t.i64 {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	} else {
		b = appendVarint(b, 2, tensorFloat)
		raw = make([]byte, 4*len(t.f32))
		for i, v := range t.f32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	}
	b = appendStr(b, 8, t.name)
	b = appendMsg(b, 9, raw) // raw_data
	return b
}

// valueInfo encodes a float32 ValueInfoProto with a fixed shape.
func valueInfo(name string, shape []int) []byte {
	var dims []byte
	for _, d := range shape {
		var dim []byte
		dim = appendVarint(dim, 1, uint64(d)) // dim_value
		dims = appendMsg(dims, 1, dim)        // TensorShapeProto.dim
	}
	var tt []byte
	tt = appendVarint(tt, 1, tensorFloat) // elem_type
	tt = appendMsg(tt, 2, dims)           // shape
	var typ []byte
	typ = appendMsg(typ, 1, tt) // TypeProto.tensor_type
	var b []byte
	b = appendStr(b, 1, name)
	b = appendMsg(b, 2, typ)
	return b
}

// encodeModel writes a ModelProto holding g.
func encodeModel(g *graph, docString string) []byte {
	var gb []byte
	for _, n := range g.nodes {
		gb = appendMsg(gb, 1, n.encode())
	}
	gb = appendStr(gb, 2, g.name)
	for _, t := range g.inits {
		gb = appendMsg(gb, 5, t.encode())
	}
	gb = appendMsg(gb, 11, valueInfo(g.input, g.inputShape))
	gb = appendMsg(gb, 12, valueInfo(g.output, g.outputShape))

	var b []byte
	b = appendVarint(b, 1, irVersion)
	b = appendStr(b, 2, "affect-models-convert")
	b = appendStr(b, 3, "1")
	b = appendVarint(b, 5, 1) // model_version
	b = appendStr(b, 6, docString)
	b = appendMsg(b, 7, gb)
	var opset []byte
	opset = appendStr(opset, 1, "")
	opset = appendVarint(opset, 2, opsetVersion)
	b = appendMsg(b, 8, opset)
	return b
}
