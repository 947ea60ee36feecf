package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/testenv"
	"gocv.io/x/gocv"
)

// writeSampleFrame writes frame index of the sample video as an image file.
func writeSampleFrame(t *testing.T, index int, path string) {
	t.Helper()
	vc, err := gocv.OpenVideoCapture(testenv.Sample(t))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	for i := 0; i <= index; i++ {
		if !vc.Read(&m) || m.Empty() {
			t.Fatalf("sample has no frame %d", i)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if !gocv.IMWrite(path, m) {
		t.Fatalf("cannot write %s", path)
	}
}

// Inputs that share a base name each get their own result set (issue 9,
// defect 2: P01/face.jpg and P02/face.jpg left one set; "x ä.jpg" and
// "x ö.jpg" both became "x__"; y.jpg and y.png one "y").
func TestScoreSameBaseNameKeepsEveryResult(t *testing.T) {
	dir := t.TempDir()
	inputs := map[string]int{ // input → frame of the sample it shows
		"P01/face.jpg": 10, "P02/face.jpg": 100, "x ä.jpg": 20, "x ö.jpg": 120, "y.jpg": 30, "y.png": 140,
	}
	var args []string
	for _, in := range []string{"P01/face.jpg", "P02/face.jpg", "x ä.jpg", "x ö.jpg", "y.jpg", "y.png"} {
		writeSampleFrame(t, inputs[in], filepath.Join(dir, in))
		args = append(args, filepath.Join(dir, in))
	}
	out := filepath.Join(dir, "o")
	code, stdout, stderr := affect(t, append([]string{"score", "--out", out, "--quiet"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]string{ // base → input
		"P01_face": args[0], "P02_face": args[1], "x_ä": args[2], "x_ö": args[3], "y.jpg": args[4], "y.png": args[5],
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 3*len(want) {
		t.Fatalf("%d files for %d inputs, want 3 each: %v\nstdout:\n%s", len(names), len(want), names, stdout)
	}
	for base, in := range want {
		p := export.PathsFor(out, base)
		b, err := os.ReadFile(p.Summary)
		if err != nil {
			t.Fatalf("no result for %s: %v (files: %v)", in, err, names)
		}
		var s ScoreSummary
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if s.Input != in || s.Overall.Frames != 1 {
			t.Errorf("%s holds the result of %q (%d frames), want %q", p.Summary, s.Input, s.Overall.Frames, in)
		}
		rows := readCSV(t, p.Frames)
		if got := rows[1][export.ColFile]; got != filepath.Base(in) {
			t.Errorf("%s: file column %q, want %q", p.Frames, got, filepath.Base(in))
		}
		if !strings.Contains(stdout, in+":") || !strings.Contains(stdout, p.Frames) {
			t.Errorf("stdout does not report %s -> %s:\n%s", in, p.Frames, stdout)
		}
	}
}

// mountTmpfs mounts a tmpfs of sizeKB at dir, or skips the test when it
// cannot (mounting needs root).
func mountTmpfs(t *testing.T, dir string, sizeKB int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full file system needs a tmpfs mount, which needs root: skipping")
	}
	cmd := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dk", sizeKB), "tmpfs", dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): skipping", err, b)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
}

// An input that fails on a full disk leaves none of its files (issue 9,
// defect 6: the plot was left behind though the tool said no files were
// written). A real full file system: a tmpfs with room for the plot and
// less than the per-frame CSV besides.
func TestScoreFullDiskLeavesNoFiles(t *testing.T) {
	ref := t.TempDir()
	if code, _, stderr := affect(t, "score", testenv.Sample(t), "--out", ref, "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := export.PathsFor(ref, "sample")
	size := func(path string) int {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return int(st.Size())
	}
	pages := func(n int) int { return (n + 4095) / 4096 * 4 } // KiB in 4 KiB pages
	png, csvKB := pages(size(p.Plot)), pages(size(p.Frames))
	if csvKB < 12 {
		t.Fatalf("per-frame CSV of %d KiB is too small for this test", csvKB)
	}
	full := filepath.Join(t.TempDir(), "full")
	os.Mkdir(full, 0o755)
	mountTmpfs(t, full, png+csvKB/2)
	code, stdout, stderr := affect(t, "score", testenv.Sample(t), "--out", full, "--quiet")
	if code != 1 {
		t.Fatalf("exit %d on a full disk, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "no space left") || !strings.Contains(stderr, "no result files were written") {
		t.Errorf("stderr does not say the disk is full and nothing was written:\n%s", stderr)
	}
	entries, _ := os.ReadDir(full)
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("a failed input left files behind: %v", names)
	}
}

// A folder of images: every row names its file; a truncated JPEG and an
// unreadable image are error rows (counted, not "no face"); entries that are
// not read are reported with the reason (issue 9, defect 9).
func TestScoreImageFolderAccountsForEveryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "photos")
	writeSampleFrame(t, 10, filepath.Join(dir, "a.jpg"))
	writeSampleFrame(t, 40, filepath.Join(dir, "b.jpg"))
	whole, _ := os.ReadFile(filepath.Join(dir, "a.jpg"))
	os.WriteFile(filepath.Join(dir, "c.jpg"), whole[:len(whole)*6/10], 0o644) // cut short
	os.WriteFile(filepath.Join(dir, "broken.png"), []byte("\x89PNG not really"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("session notes"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := affect(t, "score", dir, "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := export.PathsFor(out, "photos")
	rows := readCSV(t, p.Frames)
	if len(rows) != 5 {
		t.Fatalf("%d rows, want a header and 4 images", len(rows))
	}
	want := []struct {
		file, errHas string
	}{{"a.jpg", ""}, {"b.jpg", ""}, {"broken.png", "not an image"}, {"c.jpg", "end marker"}}
	for i, w := range want {
		r := rows[i+1]
		if r[export.ColFile] != w.file {
			t.Errorf("row %d: file %q, want %q", i+1, r[export.ColFile], w.file)
		}
		if w.errHas == "" && (r[export.ColError] != "" || r[export.ColFaceFound] != "1") {
			t.Errorf("%s: error %q, face_found %s; want a scored face", w.file, r[export.ColError], r[export.ColFaceFound])
		}
		if w.errHas != "" && !strings.Contains(r[export.ColError], w.errHas) {
			t.Errorf("%s: error %q, want it to say %q", w.file, r[export.ColError], w.errHas)
		}
	}
	var sum ScoreSummary
	readJSON(t, p.Summary, &sum)
	if sum.ErrorFrames != 2 || len(sum.SkippedFiles) != 2 {
		t.Errorf("summary: %d error frames, skipped %+v; want 2 and notes.txt, sub", sum.ErrorFrames, sum.SkippedFiles)
	}
	for _, s := range []string{"skipped 2 entries", "notes.txt (not an image", "sub (a folder", "2 of 4 frames could not be scored"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, stderr)
		}
	}
	t.Log(stdout, stderr)
}
