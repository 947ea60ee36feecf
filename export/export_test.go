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
	tracked := &record.Face{Box: record.Box{X: 1, Y: 2, W: 3, H: 4}, Happiness: 0.5,
		Quality: &record.Quality{FaceFrac: 0.2, Sharpness: 80, Symmetry: 0.71234, DetectNeighbors: &nb}}
	return []record.FrameScore{
		{Frame: 0, MediaMS: 0, FaceFound: true, NFaces: 1, Primary: face},
		{Frame: 3, MediaMS: 100, FaceFound: true, NFaces: 1, Primary: crop},
		{Frame: 4, MediaMS: 133.333, FaceFound: true, NFaces: 2, Primary: tracked},
		{Frame: 1, MediaMS: 33.333, FaceFound: false},
		{Frame: 2, MediaMS: 66.667, Error: "cannot read image x.png"},
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
		{1, "0,0.000,,1,1,10,20,30,40,0.750000,0.050000,0.000000,0.050000,0.750000,0.050000,0.050000,0.050000,0.4000,0,,,0.0,,0.0000"},
		// A crop: no detection score (empty, not 0); a negative symmetry.
		{2, "3,100.000,,1,1,0,0,48,48,0.250000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,1.0000,1,,0.600000,512.2,,-0.1250"},
		{3, "4,133.333,,1,2,1,2,3,4,0.500000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,0.2000,0,,,80.0,31,0.7123"},
		// No face: face_found=0 and every score cell empty, never 0.
		{4, "1,33.333,,0,0,,,,,,,,,,,,,,,,,,,"},
		{5, "2,66.667,,0,0,,,,,,,,,,,,,,,cannot read image x.png,,,,"},
	}
	for _, tc := range tests {
		if got := strings.Join(rows[tc.row], ","); got != tc.want {
			t.Errorf("row %d:\n got %s\nwant %s", tc.row, got, tc.want)
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
