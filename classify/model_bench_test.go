package classify_test

import (
	"fmt"
	"image"
	"testing"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// BenchmarkPredict measures one face through each model on each backend:
// preprocessing (from the 96x112 BGR fixture) plus inference.
func BenchmarkPredict(b *testing.B) {
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	if img.Empty() {
		b.Fatalf("cannot read %s", fixtureFace)
	}
	defer img.Close()
	for _, name := range classify.ModelNames() {
		for _, backend := range classify.BackendNames() {
			b.Run(name+"/"+backend, func(b *testing.B) {
				m, err := classify.NewModel(name, backend)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				if _, err := m.Predict(img); err != nil { // warm up
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := m.Predict(img); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPreprocess measures each model's preprocessing alone, on the
// 96x112 fixture and on a 256x256 crop (a large webcam face with margin).
func BenchmarkPreprocess(b *testing.B) {
	img := gocv.IMRead(fixtureFace, gocv.IMReadColor)
	if img.Empty() {
		b.Fatalf("cannot read %s", fixtureFace)
	}
	defer img.Close()
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(img, &big, image.Pt(256, 256), 0, 0, gocv.InterpolationLinear)
	for _, name := range classify.ModelNames() {
		spec := mustSpec(b, name)
		for _, in := range []struct {
			size string
			m    gocv.Mat
		}{{"96x112", img}, {"256x256", big}} {
			b.Run(fmt.Sprintf("%s/%s", name, in.size), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := classify.Preprocess(in.m, spec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// ExampleNewModel classifies the committed smiling-face fixture.
func ExampleNewModel() {
	m, err := classify.NewModel("faceapi", classify.BackendOpenCV)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	face := gocv.IMRead("testdata/face_sample3.png", gocv.IMReadColor)
	defer face.Close()
	p, err := m.Predict(face) // probabilities in record.Labels order
	if err != nil {
		fmt.Println(err)
		return
	}
	best := 0
	for i := range p {
		if p[i] > p[best] {
			best = i
		}
	}
	fmt.Printf("%s, happiness %.2f\n", record.Labels[best], p[record.HappyIndex])
	// Output: happy, happiness 1.00
}

// BenchmarkNewModel measures loading each embedded model into each backend.
func BenchmarkNewModel(b *testing.B) {
	for _, name := range classify.ModelNames() {
		for _, backend := range classify.BackendNames() {
			b.Run(name+"/"+backend, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					m, err := classify.NewModel(name, backend)
					if err != nil {
						b.Fatal(err)
					}
					m.Close()
				}
			})
		}
	}
}
