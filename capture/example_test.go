package capture_test

import (
	"context"
	"fmt"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/samples"
)

// Read the bundled sample video at 5 frames per second of media time. Each
// frame's Mat belongs to the caller: ReadAll closes it after the callback.
func ExampleOpen() {
	path, err := samples.VideoPath()
	if err != nil {
		fmt.Println(err)
		return
	}
	src, err := capture.Open(path, capture.FPS(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	info := src.Info()
	fmt.Printf("%s video, %dx%d at %.0f frames/s, %d frames\n", info.Kind, info.Width, info.Height, info.FPS, info.FrameCount)
	n := 0
	err = capture.ReadAll(context.Background(), src, func(f capture.Frame) error {
		if n < 3 {
			fmt.Printf("frame %d at %.0f ms\n", f.Index, f.TimeMS)
		}
		n++
		return nil
	})
	fmt.Println(n, "frames kept, error:", err)
	// Output:
	// file video, 640x480 at 15 frames/s, 180 frames
	// frame 0 at 0 ms
	// frame 3 at 200 ms
	// frame 6 at 400 ms
	// 60 frames kept, error: <nil>
}
