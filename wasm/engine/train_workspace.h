// Scratch memory for the training layers and their matrix products, owned by whoever trains (one per
// TailTrainer) and passed to every call, as ggml passes its work buffer: steady-state training
// allocates nothing, and no state hides in thread_local buffers. It also carries the threads the
// products may use (task_runner.h; none: everything on the caller's thread).
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "task_runner.h"

namespace digitlab {

class TrainWorkspace {
 public:
  // Who uses which slot: a layer's forward or backward uses slots 0-3 for as long as it runs, and
  // matmul() (which those calls make) uses slot 4.
  static constexpr int kSlots = 5, kMatMulSlot = 4;

  // Slot `slot` as room for at least n floats (it grows, never shrinks; contents are not kept).
  float* floats(int slot, size_t n) {
    std::vector<float>& v = slots_[slot];
    if (v.size() < n) v.resize(n);
    return v.data();
  }

  TaskRunner* runner() const { return runner_; }
  void set_runner(TaskRunner* runner) { runner_ = runner; }  // not owned; null: one thread
  int threads() const { return runner_ ? runner_->threads() : 1; }

 private:
  std::vector<float> slots_[kSlots];
  TaskRunner* runner_ = nullptr;
};

// Runs range(i0, i1) over [0, n) in contiguous ranges on the workspace's threads (one call on the
// caller's thread when there is one thread). For loops whose iterations write outputs no other
// iteration touches, each computed as a serial loop computes it: the bits do not depend on where the
// ranges fall, so the ranges may follow the thread count (a few per thread, for balance).
template <typename Range>
void parallel_ranges(TrainWorkspace& ws, size_t n, const Range& range) {
  const size_t chunks = ws.threads() > 1 ? std::min(n, size_t(ws.threads()) * 4) : 1;
  if (chunks <= 1) {
    if (n > 0) range(size_t(0), n);
    return;
  }
  const size_t per = (n + chunks - 1) / chunks;
  ws.runner()->run((n + per - 1) / per, [&](size_t t) { range(t * per, std::min(n, (t + 1) * per)); });
}

}  // namespace digitlab
