// Package cvenv sets OpenCV's run-time defaults for affect before OpenCV
// reads them; import it for its side effect. A variable the user already set
// is left alone.
//
//   - OPENCV_FOR_THREADS_NUM=1: affect runs one scorer per CPU in parallel, so
//     OpenCV's own thread pool would only oversubscribe the cores.
//   - OPENCV_LOG_LEVEL=ERROR: no warnings for every video backend tried.
//   - OPENCV_VIDEOIO_PRIORITY_GSTREAMER=0: files and streams are read with FFmpeg.
package cvenv

import "os"

func init() {
	for _, kv := range [][2]string{
		{"OPENCV_FOR_THREADS_NUM", "1"},
		{"OPENCV_LOG_LEVEL", "ERROR"},
		{"OPENCV_VIDEOIO_PRIORITY_GSTREAMER", "0"},
	} {
		if _, set := os.LookupEnv(kv[0]); !set {
			os.Setenv(kv[0], kv[1])
		}
	}
}
