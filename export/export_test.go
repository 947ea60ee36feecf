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
	"github.com/affectlab/affect/pipeline"
)

func frames() []pipeline.FrameScore {
	face := &pipeline.Face{Box: pipeline.Box{X: 10, Y: 20, W: 30, H: 40}, Happiness: 0.75,
		Probs: [7]float64{0.05, 0, 0.05, 0.75, 0.05, 0.05, 0.05}, Quality: &pipeline.Quality{FaceFrac: 0.4}}
	return []pipeline.FrameScore{
		{Frame: 0, MediaMS: 0, FaceFound: true, NFaces: 1, Primary: face},
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
		{1, "0,0.000,,1,1,10,20,30,40,0.750000,0.050000,0.000000,0.050000,0.750000,0.050000,0.050000,0.050000,0.4000,0,,"},
		// No face: face_found=0 and every score cell empty, never 0.
		{2, "1,33.333,,0,0,,,,,,,,,,,,,,,,"},
		{3, "2,66.667,,0,0,,,,,,,,,,,,,,,cannot read image x.png,"},
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
