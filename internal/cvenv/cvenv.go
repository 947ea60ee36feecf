// Package cvenv sets OpenCV's run-time defaults for affect before OpenCV
// reads them; import it for its side effect. A variable the user already set
// is left alone.
//
//   - OpenCV's own thread pool is set to 1 thread (cv::setNumThreads(1), and
//     OPENCV_FOR_THREADS_NUM=1): affect runs one scorer per CPU in parallel, so
//     a second level of threads only oversubscribes the cores (OpenCV DNN on
//     Debian's TBB build otherwise spreads every small forward pass over all
//     cores, costing about twice the CPU time). AFFECT_OPENCV_THREADS=N
//     overrides it.
//   - OPENCV_LOG_LEVEL=ERROR: no warnings for every video backend tried.
//   - OPENCV_VIDEOIO_PRIORITY_GSTREAMER=0: files and streams are read with FFmpeg.
//   - glibc's malloc keeps freed memory for reuse (see keepFreedMemory).
//   - GOMAXPROCS is 4 per CPU unless the GOMAXPROCS variable is set (see
//     moreProcs).
package cvenv

import (
	"os"
	"runtime"
	"strconv"
)

func init() {
	if _, set := os.LookupEnv("OPENCV_LOG_LEVEL"); !set {
		quietLog()
	}
	for _, kv := range [][2]string{
		{"OPENCV_FOR_THREADS_NUM", "1"},
		{"OPENCV_LOG_LEVEL", "ERROR"},
		{"OPENCV_VIDEOIO_PRIORITY_GSTREAMER", "0"},
	} {
		if _, set := os.LookupEnv(kv[0]); !set {
			os.Setenv(kv[0], kv[1])
		}
	}
	n := 1
	if v, err := strconv.Atoi(os.Getenv("AFFECT_OPENCV_THREADS")); err == nil && v >= 0 {
		n = v
	}
	SetNumThreads(n)
	keepFreedMemory()
	moreProcs()
}

// procsPerCPU is GOMAXPROCS per CPU (moreProcs).
const procsPerCPU = 4

// moreProcs sets GOMAXPROCS to procsPerCPU × the CPUs. affect's goroutines
// spend most of their time in OpenCV (cgo) calls of a few milliseconds,
// which do not count towards GOMAXPROCS; but with GOMAXPROCS = CPUs there
// is seldom an idle P, so the runtime takes the P of every long cgo call
// away and wakes another thread for it, one OS context switch after
// another. Spare Ps let the runtime leave them be: on the 2-core machine
// the scoring loop then makes about 35 % fewer context switches and runs
// about 10 % faster (README "Speed"). The CPU-bound work itself is bounded
// by the number of scoring workers, not by GOMAXPROCS.
func moreProcs() {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return
	}
	runtime.GOMAXPROCS(procsPerCPU * runtime.NumCPU())
}
