#include "task_runner.h"

#include <algorithm>

namespace digitlab {

ThreadPoolRunner::ThreadPoolRunner(int threads) {
  const int n = std::clamp(threads, 1, 64);
  for (int i = 1; i < n; ++i) workers_.emplace_back([this] { work_loop(); });
}

ThreadPoolRunner::~ThreadPoolRunner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

bool ThreadPoolRunner::take_and_run() {
  size_t i = 0;
  const std::function<void(size_t)>* task = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!task_ || next_ >= count_) return false;
    i = next_++;
    task = task_;
  }
  try {
    (*task)(i);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (++finished_ == count_) done_.notify_all();
  return true;
}

void ThreadPoolRunner::work_loop() {
  uint64_t seen = 0;
  for (;;) {
    // A training step hands out a run every few hundred microseconds: look for the next one for a
    // short while before sleeping, since a condition-variable wake-up costs tens of microseconds.
    for (int spin = 0; spin < kSpinChecks && published_.load(std::memory_order_acquire) == seen; ++spin)
      std::this_thread::yield();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && task_ && next_ < count_); });
      if (stop_) return;
      seen = generation_;
    }
    while (take_and_run()) {
    }
  }
}

void ThreadPoolRunner::run(size_t n, const std::function<void(size_t)>& task) {
  if (n == 0) return;
  if (workers_.empty() || n == 1) {  // no hand-over: the caller runs them in order
    std::exception_ptr first;
    for (size_t i = 0; i < n; ++i) try {
        task(i);
      } catch (...) {
        if (!first) first = std::current_exception();
      }
    if (first) std::rethrow_exception(first);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    next_ = finished_ = 0;
    count_ = n;
    error_ = nullptr;
    published_.store(++generation_, std::memory_order_release);
  }
  wake_.notify_all();
  while (take_and_run()) {
  }
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return finished_ == count_; });
    task_ = nullptr;
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace digitlab
