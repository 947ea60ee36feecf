#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include "threads.h"

extern "C" void affect_cv_set_num_threads(int n) { cv::setNumThreads(n); }
extern "C" int affect_cv_get_num_threads() { return cv::getNumThreads(); }
extern "C" void affect_cv_quiet_log() {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
}
