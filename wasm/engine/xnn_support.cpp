#include "xnn_support.h"

#include <xnnpack.h>

#include <cstdint>
#include <string>

#include "digitlab/error.h"

namespace digitlab {

void xnn_ensure_initialized() {
  static const xnn_status status = xnn_initialize(nullptr);
  if (status != xnn_status_success)
    throw Error("XNNPACK could not initialise (status " + std::to_string(int(status)) +
                "): this CPU or browser lacks the required SIMD support");
}

void xnn_check(int status, const char* what) {
  if (status != xnn_status_success)
    throw Error(std::string("XNNPACK ") + what + " failed (status " + std::to_string(status) + ")");
}

namespace {
pthreadpool_t g_threadpool = nullptr;
}

pthreadpool_t xnn_threadpool() { return g_threadpool; }
void set_xnn_threadpool(pthreadpool_t pool) { g_threadpool = pool; }

void XnnOperatorDeleter::operator()(xnn_operator_t op) const { xnn_delete_operator(op); }

void XnnWorkspace::resize(size_t size, size_t alignment) {
  alignment_ = alignment ? alignment : 1;
  bytes_.resize(size ? size + alignment_ : 0);  // slack so that an aligned start still leaves size bytes
}

void* XnnWorkspace::data() {
  if (bytes_.empty()) return nullptr;
  const uintptr_t at = reinterpret_cast<uintptr_t>(bytes_.data());
  return reinterpret_cast<void*>((at + alignment_ - 1) / alignment_ * alignment_);
}

}  // namespace digitlab
