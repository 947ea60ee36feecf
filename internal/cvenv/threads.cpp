#include <opencv2/core.hpp>
#include "threads.h"

extern "C" void affect_cv_set_num_threads(int n) { cv::setNumThreads(n); }
extern "C" int affect_cv_get_num_threads() { return cv::getNumThreads(); }
