package report_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/report"
)

// A report of a few frames: one self-contained HTML file.
func ExampleWrite() {
	var frames []record.FrameScore
	for i := range 90 {
		f := record.FrameScore{Schema: 1, Session: "demo", Source: "cam", Frame: int64(i), MediaMS: float64(i) * 1000 / 30}
		if i%10 != 0 { // every tenth frame has no face
			f.FaceFound, f.NFaces = true, 1
			f.Primary = &record.Face{Happiness: float64(i) / 100}
		}
		frames = append(frames, f)
	}
	markers := []record.Marker{{OnsetMS: 1000, Label: "joke", Condition: "funny"}}
	sum, _ := aggregate.Compute(aggregate.DefaultConfig(), frames, markers)
	d := &report.Data{Title: "demo", Kind: report.KindResult, Summary: sum, Frames: frames, Markers: markers}

	dir, _ := os.MkdirTemp("", "affect-report-example-")
	defer os.RemoveAll(dir)
	p, err := report.Write(filepath.Join(dir, "demo.html"), d, report.Options{NoPNG: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(p.HTML)
	fmt.Println(strings.Contains(string(b), "<svg"), strings.Contains(string(b), "<script"))
	fmt.Printf("mean %.3f over %d face frames\n", *sum.Overall.Mean, sum.Overall.FaceFrames)
	// Output:
	// true false
	// mean 0.450 over 81 face frames
}
