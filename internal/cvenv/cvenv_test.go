package cvenv

import (
	"os"
	"runtime"
	"testing"
)

// The defaults init sets, unless the user set the variables.
func TestDefaults(t *testing.T) {
	if _, set := os.LookupEnv("AFFECT_OPENCV_THREADS"); !set {
		if n := NumThreads(); n != 1 {
			t.Errorf("OpenCV threads %d, want 1", n)
		}
	}
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		if got, want := runtime.GOMAXPROCS(0), procsPerCPU*runtime.NumCPU(); got != want {
			t.Errorf("GOMAXPROCS %d, want %d", got, want)
		}
	}
	for _, v := range []string{"OPENCV_FOR_THREADS_NUM", "OPENCV_LOG_LEVEL", "OPENCV_VIDEOIO_PRIORITY_GSTREAMER"} {
		if os.Getenv(v) == "" {
			t.Errorf("%s is not set", v)
		}
	}
}
