package score_test

import (
	"context"
	"image"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
	"gocv.io/x/gocv"
)

// Two-face video made at test time from shared material: the CREMA-D HAP
// clip on the left (the participant, alone at first), the astronaut's face,
// larger than the participant's, entering on the right at frame 15, and the
// participant hidden behind a grey card for frames 40-47 while the
// astronaut stays. Timings of the made video, in frames.
const (
	intruderFrom = 15
	hideFrom     = 40
	hideTo       = 48
)

func makeTwoFaceVideo(t *testing.T) string {
	t.Helper()
	clip := testenv.Shared(t, "video/crema_d/1001_DFA_HAP_XX.mp4")
	astro := gocv.IMRead(testenv.Shared(t, "images/astronaut.png"), gocv.IMReadColor)
	defer astro.Close()
	if astro.Empty() {
		t.Fatal("cannot read astronaut.png")
	}
	// The astronaut's face (about x 180-270, y 80-175 of 512) scaled so that
	// it is larger than the participant's.
	face := astro.Region(image.Rect(120, 20, 340, 240))
	defer face.Close()
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(face, &big, image.Pt(360, 360), 0, 0, gocv.InterpolationLinear)

	c, err := gocv.VideoCaptureFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := filepath.Join(t.TempDir(), "two_faces.avi")
	w, err := gocv.VideoWriterFile(path, "MJPG", 30, 840, 360, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	frame := gocv.NewMatWithSize(360, 840, gocv.MatTypeCV8UC3)
	defer frame.Close()
	src := gocv.NewMat()
	defer src.Close()
	for i := 0; c.Read(&src); i++ {
		frame.SetTo(gocv.NewScalar(128, 128, 128, 0))
		left := frame.Region(image.Rect(0, 0, 480, 360))
		if i < hideFrom || i >= hideTo {
			src.CopyTo(&left)
		}
		left.Close()
		if i >= intruderFrom {
			right := frame.Region(image.Rect(480, 0, 840, 360))
			big.CopyTo(&right)
			right.Close()
		}
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// Issue 10, point 5: the participant keeps the same ID and row throughout;
// the larger second face gets its own ID and never takes over the row, not
// even while the participant is hidden; the participant gets the same ID
// back after the short loss.
func TestTwoFacesKeepParticipant(t *testing.T) {
	path := makeTwoFaceVideo(t)
	frames, _ := runFile(t, path, classify.ScorerParams{Model: "human"})
	if len(frames) < hideTo+5 {
		t.Fatalf("%d frames", len(frames))
	}
	pid := 0
	for _, f := range frames {
		hidden := f.Frame >= hideFrom && f.Frame < hideTo
		switch {
		case hidden && f.FaceFound:
			t.Errorf("frame %d: participant hidden, but the row shows face %d at %+v", f.Frame, f.FaceID, f.Primary.Box)
		case !hidden && !f.FaceFound:
			t.Errorf("frame %d: participant not found (%d faces)", f.Frame, f.NFaces)
		case f.FaceFound:
			if pid == 0 {
				pid = f.FaceID
			}
			if f.FaceID != pid || f.Primary.Box.X+f.Primary.Box.W/2 >= 480 {
				t.Errorf("frame %d: the row shows face %d at %+v, want the participant %d on the left", f.Frame, f.FaceID, f.Primary.Box, pid)
			}
		}
		if f.Frame >= 20 { // the intruder is found on the first keyframe after it entered
			want := 2
			if hidden {
				want = 1
			}
			if f.NFaces != want {
				t.Errorf("frame %d: %d faces, want %d", f.Frame, f.NFaces, want)
				continue
			}
			other := 0
			for _, fc := range f.Faces {
				if fc.ID != pid {
					other = fc.ID
				}
				if fc.ID == 0 {
					t.Errorf("frame %d: a face without an ID", f.Frame)
				}
			}
			if other == pid || other == 0 {
				t.Errorf("frame %d: the second face has ID %d (participant %d)", f.Frame, other, pid)
			}
		}
	}
	if pid == 0 {
		t.Fatal("no participant")
	}
}

// Results depend only on the video: 1 and 3 workers give the same frames,
// track IDs included.
func TestSameResultsAnyWorkers(t *testing.T) {
	path := makeTwoFaceVideo(t)
	run := func(workers int) []record.FrameScore {
		src, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var frames []record.FrameScore
		_, err = score.Run(context.Background(), src, score.Config{Session: "t", Workers: workers, Scorer: classify.ScorerParams{Model: "human"}},
			func(f record.FrameScore) error { f.CaptureUnixNano = 0; frames = append(frames, f); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return frames
	}
	a, b := run(1), run(3)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("1 worker and 3 workers differ (%d and %d frames)", len(a), len(b))
	}
}
