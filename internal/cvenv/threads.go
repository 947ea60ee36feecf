package cvenv

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include "threads.h"
*/
import "C"

// SetNumThreads sets the size of OpenCV's own thread pool (cv::setNumThreads;
// gocv v0.32 has no binding for it). 1 runs every OpenCV function on the
// calling goroutine's thread.
func SetNumThreads(n int) { C.affect_cv_set_num_threads(C.int(n)) }

// NumThreads returns OpenCV's thread pool size (cv::getNumThreads).
func NumThreads() int { return int(C.affect_cv_get_num_threads()) }

// quietLog keeps only OpenCV's errors (OpenCV reads OPENCV_LOG_LEVEL before
// Go code runs, so setting the variable from Go is too late).
func quietLog() { C.affect_cv_quiet_log() }
