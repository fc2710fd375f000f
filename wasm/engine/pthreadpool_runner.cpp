#include "pthreadpool_runner.h"

#include <pthreadpool.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>

namespace digitlab {

PthreadpoolRunner::PthreadpoolRunner(int threads) {
  const int n = std::clamp(threads, 1, 64);
  if (n == 1) return;  // no pool: everything on the caller, as pthreadpool does with a null pool
  pool_ = pthreadpool_create(size_t(n));
  // pthreadpool_create gives null when a thread cannot start; the single-threaded shim gives a pool
  // of one thread. Either way there are no threads to share.
  if (!pool_ || pthreadpool_get_threads_count(pool_) < size_t(n)) {
    if (pool_) pthreadpool_destroy(pool_);
    pool_ = nullptr;
    throw std::system_error(EAGAIN, std::generic_category(), "pthreadpool_create(" + std::to_string(n) + ")");
  }
  threads_ = n;
}

PthreadpoolRunner::~PthreadpoolRunner() {
  if (pool_) pthreadpool_destroy(pool_);
}

namespace {

struct Job {
  const std::function<void(size_t)>* task;
  std::mutex mutex;
  std::exception_ptr error;
};

void run_one(void* context, size_t i) {
  Job& job = *static_cast<Job*>(context);
  try {
    (*job.task)(i);
  } catch (...) {  // an exception must not cross pthreadpool's C frames: keep the first, rethrow later
    std::lock_guard<std::mutex> lock(job.mutex);
    if (!job.error) job.error = std::current_exception();
  }
}

}  // namespace

void PthreadpoolRunner::rest() {
  if (pool_) pthreadpool_parallelize_1d(pool_, [](void*, size_t) {}, nullptr, 1, PTHREADPOOL_FLAG_YIELD_WORKERS);
}

void PthreadpoolRunner::run(size_t n, const std::function<void(size_t)>& task) {
  if (n == 0) return;
  Job job;
  job.task = &task;
  pthreadpool_parallelize_1d(pool_, run_one, &job, n, 0);
  if (job.error) std::rethrow_exception(job.error);  // every task has finished: no lock needed
}

}  // namespace digitlab
