package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/pipeline/aggregate"
	"gocv.io/x/gocv"
)

// affect runs the command in-process and returns its exit code and output.
func affect(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func readCSV(t *testing.T, path string) [][]string { return testenv.ReadCSV(t, path) }

func TestScoreBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.mp4")
	os.WriteFile(text, []byte("not a video\n"), 0o644)
	emptyDir := filepath.Join(dir, "empty")
	os.Mkdir(emptyDir, 0o755)
	data, err := os.ReadFile(testenv.Sample(t))
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "cut.mp4")
	os.WriteFile(trunc, data[:len(data)/2], 0o644)

	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"missing file", []string{"score", filepath.Join(dir, "missing.mp4")}, 1, "input not found"},
		{"text file named mp4", []string{"score", text}, 1, "not a video OpenCV can read"},
		{"truncated mp4", []string{"score", trunc}, 1, "truncated"},
		{"empty directory", []string{"score", emptyDir}, 1, "holds no images"},
		{"unsupported URL", []string{"score", "ftp://example.org/a.mp4"}, 1, "unsupported input"},
		{"absent camera", []string{"score", "42"}, 1, "no camera at index 42"},
		{"no --out", []string{"score", testenv.Sample(t)}, 2, "--out DIR is required"},
		{"no input", []string{"score"}, 2, "no INPUT"},
		{"wrong flag", []string{"score", "--bogus"}, 2, "flag provided but not defined"},
		{"bad model", []string{"score", "--model", "xyz", testenv.Sample(t)}, 2, "--model"},
		{"bad backend", []string{"score", "--backend", "tpu", testenv.Sample(t)}, 2, "--backend"},
		{"bad threshold", []string{"score", "--threshold", "2", testenv.Sample(t)}, 2, "--threshold"},
		{"unknown command", []string{"scrore"}, 2, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := tc.args
			if tc.code == 1 {
				args = append(args, "--out", out)
			}
			code, _, stderr := affect(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.inStderr) {
				t.Fatalf("stderr does not say %q:\n%s", tc.inStderr, stderr)
			}
			// A failed input leaves no result files, not even temporary ones.
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Fatalf("failed run left files: %v", entries)
			}
		})
	}
}

func TestScoreImageWithNoFace(t *testing.T) {
	dir := t.TempDir()
	img := gocv.NewMatWithSize(240, 320, gocv.MatTypeCV8UC3)
	defer img.Close()
	for x := 0; x < 320; x += 8 {
		gocv.Line(&img, image.Pt(x, 0), image.Pt(x, 239), color.RGBA{uint8(x % 255), 120, 200, 0}, 4)
	}
	p := filepath.Join(dir, "wall.png")
	if !gocv.IMWrite(p, img) {
		t.Fatal("cannot write test image")
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := affect(t, "score", p, "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "0 with a face") {
		t.Errorf("stdout: %s", stdout)
	}
	paths := export.PathsFor(out, "wall")
	rows := readCSV(t, paths.Frames)
	if len(rows) != 2 {
		t.Fatalf("rows: %v", rows)
	}
	head, row := rows[0], rows[1]
	col := func(name string) string {
		for i, h := range head {
			if h == name {
				return row[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	if col("face_found") != "0" || col("happiness") != "" || col("happy") != "" || col("x") != "" {
		t.Fatalf("no-face row must have face_found=0 and empty scores: %v", row)
	}
	var sum ScoreSummary
	b, _ := os.ReadFile(paths.Summary)
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Overall.Frames != 1 || sum.Overall.FaceFrames != 0 || sum.Overall.Mean != nil || sum.Status != "complete" {
		t.Fatalf("summary: %s", b)
	}
	// Every number says which model made it, down to the combination file.
	if want := "combined (" + models.CombinationFile + ") sha256:"; sum.Model != "combined" || !strings.HasPrefix(sum.ModelVersion, want) {
		t.Errorf("summary model %q, model_version %q; want combined, %q", sum.Model, sum.ModelVersion, want)
	}
	if sum.Detector != classify.DefaultDetector || sum.LandmarkModel != classify.DefaultLandmarks {
		t.Errorf("summary detector %q, landmark_model %q; want %q, %q", sum.Detector, sum.LandmarkModel, classify.DefaultDetector, classify.DefaultLandmarks)
	}
}

func TestScoreSampleVideo(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := affect(t, "score", testenv.Sample(t), "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	paths := export.PathsFor(out, "sample")
	rows := readCSV(t, paths.Frames)
	if len(rows) != 1+180 {
		t.Fatalf("%d rows, want a header and 180 frames", len(rows))
	}
	if strings.Join(rows[0], ",") != strings.Join(export.FramesHeader, ",") {
		t.Fatalf("header %v", rows[0])
	}
	faces, participant := 0, 0
	for i, r := range rows[1:] {
		if r[0] != strconv.Itoa(i) {
			t.Fatalf("row %d has frame %s", i, r[0])
		}
		if r[4] != "0" {
			faces++
		}
		if r[3] == "1" {
			participant++
			if r[4] == "0" || r[len(r)-1] == "" {
				t.Errorf("frame %d: participant found without faces or face_id: %v", i, r)
			}
		}
	}
	// The sample has 12 s: a pan over smiling faces (6 s), a wall (2 s), a
	// group (4 s). Faces are seen in most frames, not on the wall; the
	// participant (the first face) leaves the picture during the pan, and
	// the other faces do not take over the participant's row until the
	// participant has been gone for 90 frames (6 s at 15 frames/s).
	if faces < 120 || faces > 170 {
		t.Errorf("%d of 180 frames with a face; want most but not the 2 s of wall", faces)
	}
	if participant < 30 || participant > faces {
		t.Errorf("%d frames with the participant, %d with any face", participant, faces)
	}
	st, err := os.Stat(paths.Plot)
	if err != nil || st.Size() < 5000 {
		t.Fatalf("plot: %v", err)
	}
	plot := gocv.IMRead(paths.Plot, gocv.IMReadColor)
	defer plot.Close()
	if plot.Cols() != 1200 || plot.Rows() != 420 {
		t.Fatalf("plot is %dx%d", plot.Cols(), plot.Rows())
	}
	t.Log(stdout)
}

// With --calibration the summary has the neutral segment's mean and the
// rest of the video raw and baseline-corrected, as the per-frame CSV says.
func TestScoreCalibration(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := affect(t, "score", testenv.Sample(t), "--out", out, "--quiet", "--no-plot", "--calibration", "2s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	paths := export.PathsFor(out, "sample")
	var neutral, rest []float64
	for _, r := range readCSV(t, paths.Frames)[1:] {
		if r[3] != "1" {
			continue
		}
		ms, _ := strconv.ParseFloat(r[1], 64)
		h, _ := strconv.ParseFloat(r[9], 64)
		if ms < 2000 {
			neutral = append(neutral, h)
		} else {
			rest = append(rest, h)
		}
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	b, err := os.ReadFile(paths.Summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Calibration *aggregate.Calibration `json:"calibration"`
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	c := sum.Calibration
	if c == nil || c.Neutral == nil || c.RawMean == nil || c.CorrectedMean == nil {
		t.Fatalf("summary calibration %+v: want the neutral mean, raw and corrected values", c)
	}
	near := func(a, b float64) bool { return a-b < 1e-5 && b-a < 1e-5 }
	if c.UntilMS != 2000 || c.NeutralFrames != len(neutral) || c.FaceFrames != len(rest) ||
		!near(*c.Neutral, mean(neutral)) || !near(*c.RawMean, mean(rest)) || !near(*c.CorrectedMean, mean(rest)-mean(neutral)) {
		t.Errorf("calibration %+v (neutral %v, raw %v, corrected %v); from the CSV: %d neutral frames mean %.6f, %d others mean %.6f",
			c, *c.Neutral, *c.RawMean, *c.CorrectedMean, len(neutral), mean(neutral), len(rest), mean(rest))
	}
	if code, _, stderr := affect(t, "score", testenv.Sample(t), "--out", out, "--calibration", "-1s"); code != 2 || !strings.Contains(stderr, "calibration") {
		t.Errorf("--calibration -1s: exit %d, %q; want a usage error", code, stderr)
	}
}

// --exclude-low leaves the faces flagged low_quality=1 in the per-frame CSV
// out of the summary statistics, and both runs count them.
// lowQualityInput writes a folder of two photos made from the bundled
// samples/face.jpg: the face as it is, and the same face pasted into a
// 1800x1800 black frame, where it is 8 % of the frame height (below
// classify.MinFaceFrac: low quality). It returns the folder and the flags
// that let the detector find the small face.
func lowQualityInput(t *testing.T) (string, []string) {
	t.Helper()
	img := gocv.IMRead(filepath.Join(testenv.Root(t), "samples", "face.jpg"), gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatal("cannot read samples/face.jpg")
	}
	big := gocv.NewMatWithSize(1800, 1800, gocv.MatTypeCV8UC3)
	defer big.Close()
	roi := big.Region(image.Rect(800, 800, 800+img.Cols(), 800+img.Rows()))
	img.CopyTo(&roi)
	roi.Close()
	dir := filepath.Join(t.TempDir(), "photos")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !gocv.IMWrite(filepath.Join(dir, "a_face.png"), img) || !gocv.IMWrite(filepath.Join(dir, "b_small_face.png"), big) {
		t.Fatal("cannot write the test photos")
	}
	// Haar: the short-range BlazeFace model does not look for a face this small.
	return dir, []string{"--detector", "haar", "--min-face", "0.05", "--detect-width", "1800", "--keyframe-every", "1"}
}

func TestScoreExcludeLow(t *testing.T) {
	in, flags := lowQualityInput(t)
	for _, exclude := range []bool{false, true} {
		out := t.TempDir()
		args := append([]string{"score", in, "--out", out, "--quiet", "--no-plot"}, flags...)
		if exclude {
			args = append(args, "--exclude-low")
		}
		code, stdout, stderr := affect(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		paths := export.PathsFor(out, "photos")
		low, faces, sumGood, nGood := 0, 0, 0.0, 0
		for _, r := range readCSV(t, paths.Frames)[1:] {
			if r[3] != "1" {
				continue
			}
			faces++
			if r[18] == "1" {
				low++
				continue
			}
			h, _ := strconv.ParseFloat(r[9], 64)
			sumGood += h
			nGood++
		}
		if low == 0 {
			t.Fatal("the sample has no low-quality face: the test needs one")
		}
		b, err := os.ReadFile(paths.Summary)
		if err != nil {
			t.Fatal(err)
		}
		var sum aggregate.Summary
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatal(err)
		}
		if sum.LowQualityFrames != low || sum.ExcludeLowQuality != exclude {
			t.Errorf("exclude=%v: summary low_quality_frames %d (exclude %v), CSV has %d", exclude, sum.LowQualityFrames, sum.ExcludeLowQuality, low)
		}
		wantFaces := faces
		if exclude {
			wantFaces = nGood
			if m := sum.Overall.Mean; m == nil || *m-sumGood/float64(nGood) > 1e-5 || sumGood/float64(nGood)-*m > 1e-5 {
				t.Errorf("mean %v, want the mean of the %d good faces %.6f", m, nGood, sumGood/float64(nGood))
			}
			if !strings.Contains(stdout, "low quality left out") {
				t.Errorf("stdout does not say faces were left out: %q", stdout)
			}
		}
		if sum.Overall.FaceFrames != wantFaces {
			t.Errorf("exclude=%v: face_frames %d, want %d", exclude, sum.Overall.FaceFrames, wantFaces)
		}
	}
}

// TestScoreLandmarks: --landmarks adds x0..y67 to the per-frame CSV; every
// face row has pose cells and 68 points inside (or near) its face box, and
// frames without a face have none.
func TestScoreLandmarks(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := affect(t, "score", testenv.Sample(t), "--out", out, "--quiet", "--no-plot", "--landmarks", "--every", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := readCSV(t, export.PathsFor(out, "sample").Frames)
	n := len(export.FramesHeader)
	if len(rows[0]) != n+136 || strings.Join(rows[0][:n], ",") != strings.Join(export.FramesHeader, ",") || rows[0][n] != "x0" || rows[0][n+135] != "y67" {
		t.Fatalf("header %v", rows[0])
	}
	idx := map[string]int{}
	for i, h := range rows[0] {
		idx[h] = i
	}
	num := func(r []string, name string) float64 {
		v, err := strconv.ParseFloat(r[idx[name]], 64)
		if err != nil {
			t.Fatalf("frame %s: %s = %q: %v", r[0], name, r[idx[name]], err)
		}
		return v
	}
	faces := 0
	for _, r := range rows[1:] {
		if r[idx["face_found"]] != "1" {
			if strings.Join(r[n:], "") != "" || r[idx["yaw"]] != "" {
				t.Errorf("frame %s without a face has landmark or pose cells", r[0])
			}
			continue
		}
		faces++
		x, y, w, h := num(r, "x"), num(r, "y"), num(r, "w"), num(r, "h")
		for _, a := range []string{"yaw", "pitch", "roll"} {
			if v := num(r, a); v < -180 || v > 180 {
				t.Errorf("frame %s: %s %v", r[0], a, v)
			}
		}
		for k := 0; k < 68; k++ {
			px, py := num(r, "x"+strconv.Itoa(k)), num(r, "y"+strconv.Itoa(k))
			if px < x-w/4 || px > x+w+w/4 || py < y-h/4 || py > y+h+h/4 {
				t.Errorf("frame %s: landmark %d (%.1f, %.1f) far outside the face box %v,%v %vx%v", r[0], k, px, py, x, y, w, h)
			}
		}
	}
	if faces == 0 {
		t.Fatal("no face rows")
	}
}
