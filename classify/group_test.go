package classify

import (
	"context"
	"errors"
	"image"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/testenv"
	"gocv.io/x/gocv"
)

// groupHits must give exactly OpenCV's groupRectangles result (the boxes the
// detector returned before it counted hits), so that adding the detection
// score changed no face box and no score.
func TestGroupHitsMatchesOpenCV(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		var hits []image.Rectangle
		for range 1 + rng.IntN(5) { // clusters of jittered hits
			x, y, s := rng.IntN(300), rng.IntN(200), 20+rng.IntN(120)
			for range 1 + rng.IntN(30) {
				d := 1 + s/8
				x0, y0 := x+rng.IntN(2*d+1)-d, y+rng.IntN(2*d+1)-d
				ss := s + rng.IntN(2*d+1) - d
				hits = append(hits, image.Rect(x0, y0, x0+ss, y0+ss))
			}
			if rng.IntN(3) == 0 { // a smaller face inside this one
				hits = append(hits, image.Rect(x+s/4, y+s/4, x+s/2, y+s/2))
			}
		}
		for _, th := range []int{1, 2, 3, 5, 8} {
			want := gocv.GroupRectangles(slices.Clone(hits), th, groupEps)
			got := Boxes(groupHits(hits, th))
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("trial %d, threshold %d: got %v, OpenCV %v (hits %v)", trial, th, got, want, hits)
			}
		}
	}
}

// On real frames the hits grouped here give the boxes of OpenCV's own
// grouping, and every face has more hits than MinNeighbors.
func TestDetectNeighborsMatchesCascade(t *testing.T) {
	videos := []string{testenv.Sample(t)}
	for _, rel := range []string{"video/short_hamilton_clip.mp4", "video/crema_d/1001_DFA_HAP_XX.mp4"} {
		if p := sharedOrEmpty(t, rel); p != "" {
			videos = append(videos, p)
		}
	}
	for _, cascade := range []string{"haar", "lbp"} {
		d, err := NewDetector(DetectorParams{Cascade: cascade})
		if err != nil {
			t.Skipf("no face detector (install opencv-data): %v", err)
		}
		faces := 0
		for _, v := range videos {
			src, err := capture.Open(v, capture.Every(4))
			if err != nil {
				t.Fatal(err)
			}
			for {
				f, err := src.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				img, _, minSide := d.prepare(f.Image)
				want := d.cascade.DetectMultiScaleWithParams(img, d.p.ScaleFactor, d.p.MinNeighbors, 0, image.Pt(minSide, minSide), image.Pt(0, 0))
				got := d.hits(img, image.Pt(minSide, minSide), image.Pt(0, 0))
				if !slices.Equal(Boxes(got), want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("%s %s frame %d: grouped %v, OpenCV %v", cascade, v, f.Index, Boxes(got), want)
				}
				for _, g := range got {
					if g.Neighbors <= d.p.MinNeighbors {
						t.Errorf("%s frame %d: face with %d hits, need > %d", v, f.Index, g.Neighbors, d.p.MinNeighbors)
					}
				}
				faces += len(got)
				f.Close()
			}
			src.Close()
		}
		d.Close()
		if faces == 0 {
			t.Errorf("%s: no face in any frame", cascade)
		}
	}
}

func sharedOrEmpty(t *testing.T, rel string) string {
	var p string
	t.Run("shared/"+rel, func(t *testing.T) { p = testenv.Shared(t, rel) })
	return p
}
