package export_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/record"
)

func frames() []record.FrameScore {
	face := &record.Face{Box: record.Box{X: 10, Y: 20, W: 30, H: 40}, Happiness: 0.75,
		Probs: [7]float64{0.05, 0, 0.05, 0.75, 0.05, 0.05, 0.05}, Quality: &record.Quality{FaceFrac: 0.4}}
	nb, sm := 31, 0.6
	crop := &record.Face{Box: record.Box{W: 48, H: 48}, Happiness: 0.25, Smoothed: &sm,
		Quality: &record.Quality{FaceFrac: 1, Sharpness: 512.25, Symmetry: -0.125, Low: true}}
	yaw, pitch, roll := -12.345, 3.0, 0.004
	var lm record.Landmarks68
	for i := range lm {
		lm[i] = record.Point{X: float64(i) + 0.125, Y: 100 - float64(i)}
	}
	tracked := &record.Face{ID: 7, Box: record.Box{X: 1, Y: 2, W: 3, H: 4}, Happiness: 0.5, Landmarks: &lm,
		Quality: &record.Quality{FaceFrac: 0.2, Sharpness: 80, Symmetry: 0.71234, DetectNeighbors: &nb, Yaw: &yaw, Pitch: &pitch, Roll: &roll}}
	return []record.FrameScore{
		{Frame: 0, MediaMS: 0, FaceFound: true, NFaces: 1, Primary: face},
		{Frame: 3, MediaMS: 100, FaceFound: true, NFaces: 1, Primary: crop},
		{Frame: 4, MediaMS: 133.333, FaceFound: true, NFaces: 2, Primary: tracked, FaceID: 7},
		{Frame: 1, MediaMS: 33.333, FaceFound: false},
		{Frame: 2, MediaMS: 66.667, Error: "cannot read image x.png", File: "x.png"},
	}
}

func TestFramesCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.frames.csv")
	if err := export.WriteFramesCSV(path, frames()); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		row  int
		want string
	}{
		{0, strings.Join(export.FramesHeader, ",")},
		{1, "0,0.000,,1,1,10,20,30,40,0.750000,0.050000,0.000000,0.050000,0.750000,0.050000,0.050000,0.050000,0.4000,0,,,0.0,,0.0000,,,,,"},
		// A crop: no detection score (empty, not 0); a negative symmetry.
		{2, "3,100.000,,1,1,0,0,48,48,0.250000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,1.0000,1,,0.600000,512.2,,-0.1250,,,,,"},
		{3, "4,133.333,,1,2,1,2,3,4,0.500000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,0.2000,0,,,80.0,31,0.7123,,-12.35,3.00,0.00,7"},
		// (a tracked face: its track ID in face_id)
		// No face: face_found=0 and every score cell empty, never 0.
		{4, "1,33.333,,0,0,,,,,,,,,,,,,,,,,,,,,,,,"},
		{5, "2,66.667,,0,0,,,,,,,,,,,,,,,cannot read image x.png,,,,,x.png,,,,"},
	}
	for _, tc := range tests {
		if got := strings.Join(rows[tc.row], ","); got != tc.want {
			t.Errorf("row %d:\n got %s\nwant %s", tc.row, got, tc.want)
		}
	}
	// The reader is the same codec: it gives back every written value.
	r, _ := os.Open(path)
	defer r.Close()
	back, err := export.ReadFramesCSV(r)
	if err != nil {
		t.Fatal(err)
	}
	want := frames()
	if len(back) != len(want) {
		t.Fatalf("read %d frames, wrote %d", len(back), len(want))
	}
	for i := range want {
		g, w := back[i], want[i]
		if g.Frame != w.Frame || g.FaceFound != w.FaceFound || g.Error != w.Error || g.File != w.File || g.NFaces != w.NFaces {
			t.Errorf("frame %d read back as %+v, wrote %+v", i, g, w)
		}
		if w.Primary != nil && (g.Primary == nil || g.Primary.Box != w.Primary.Box || g.Primary.Happiness != w.Primary.Happiness ||
			(w.Primary.Smoothed != nil) != (g.Primary.Smoothed != nil)) {
			t.Errorf("frame %d: primary read back as %+v, wrote %+v", i, g.Primary, w.Primary)
		}
	}
}

// TestFramesCSVLandmarks: --landmarks adds x0,y0 ... x67,y67 after the
// standard columns, filled for a face with landmarks and empty otherwise.
func TestFramesCSVLandmarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.frames.csv")
	if err := export.WriteFramesCSVOptions(path, frames(), export.FramesOptions{Landmarks: true}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := len(export.FramesHeader)
	if len(rows[0]) != n+136 || rows[0][n] != "x0" || rows[0][n+1] != "y0" || rows[0][n+135] != "y67" {
		t.Fatalf("header %v", rows[0][n:])
	}
	if strings.Join(rows[0][:n], ",") != strings.Join(export.FramesHeader, ",") {
		t.Errorf("the standard columns changed with --landmarks")
	}
	tracked := rows[3]
	if tracked[n] != "0.12" || tracked[n+1] != "100.00" || tracked[n+134] != "67.12" || tracked[n+135] != "33.00" {
		t.Errorf("landmark cells %v ... %v", tracked[n:n+2], tracked[n+134:])
	}
	for _, r := range [][]string{rows[1], rows[4], rows[5]} {
		if strings.Join(r[n:], "") != "" {
			t.Errorf("frame %s without landmarks has landmark cells %v", r[0], r[n:n+4])
		}
	}
}

// An aborted file leaves nothing behind: no final file, no temporary file.
func TestAtomicAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.frames.csv")
	fw, err := export.NewFramesWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := frames()
	fw.Write(&fs[0])
	fw.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("abort left %v", entries)
	}
	boom := errors.New("boom")
	err = export.WriteFile(filepath.Join(dir, "x.json"), func(io.Writer) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed write left %v", entries)
	}
}

func TestPlotPNG(t *testing.T) {
	var buf bytes.Buffer
	err := export.PlotPNG(&buf, frames(), export.PlotOptions{Title: "t", Markers: []export.PlotMarker{{TimeMS: 30, Label: "m"}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 420 {
		t.Fatalf("plot is %v", b)
	}
	if err := export.PlotPNG(&buf, nil, export.PlotOptions{Width: 10, Height: 10}); err == nil {
		t.Fatal("a 10x10 plot was accepted")
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"/data/s01.mp4":                "s01",
		"rtsp://cam.local/live stream": "live_stream",
		"photos/":                      "photos",
		"0":                            "0",
		"a.b.c.mp4":                    "a.b.c",
	} {
		if got := export.BaseName(in); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBaseNames(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"P01/face.jpg", "P02/face.jpg"}, []string{"P01_face", "P02_face"}},
		{[]string{"x ä.jpg", "x ö.jpg"}, []string{"x_ä", "x_ö"}},
		{[]string{"y.jpg", "y.png"}, []string{"y.jpg", "y.png"}},
		{[]string{"a/s01.mp4", "b/s02.mp4"}, []string{"s01", "s02"}},
		{[]string{"A.mp4", "a.mp4"}, []string{"A", "a-2"}}, // one name on a case-insensitive disk
		{[]string{"v.mp4", "v.mp4"}, []string{"v", "v-2"}},
		{[]string{"d/P01/face.jpg", "e/P01/face.jpg", "face.png"}, []string{"d_P01_face.jpg", "e_P01_face.jpg", "face.png"}},
		{[]string{"rtsp://cam/live", "rtsp://cam2/live"}, []string{"cam_live", "cam2_live"}},
		{[]string{"Überraschung.mp4", "日本.mp4"}, []string{"Überraschung", "日本"}},
	}
	for _, tc := range tests {
		got := export.BaseNames(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("BaseNames(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
