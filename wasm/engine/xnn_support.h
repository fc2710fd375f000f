// What every XNNPACK operator wrapper needs: one initialisation per process, statuses that become
// Errors, operator ownership, and workspace memory with the alignment that reshape asks for. Free of
// xnnpack.h, which only the digitlab_xnn sources see, so public engine headers can hold these types.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

typedef struct xnn_operator* xnn_operator_t;
typedef struct pthreadpool* pthreadpool_t;

namespace digitlab {

// Initialises XNNPACK once per process. Throws Error if the CPU or runtime is unsupported (e.g. a
// browser without wasm SIMD).
void xnn_ensure_initialized();

// Throws Error("XNNPACK <what> failed (status N)") unless status is xnn_status_success. An int
// because C enums without a fixed type cannot be declared without xnnpack.h.
void xnn_check(int status, const char* what);

// The pthreadpool every XNNPACK operator of this process reshapes and runs on; null (the default)
// runs them on the calling thread. Process-wide because XNNPACK takes the pool at each reshape and
// run, and a process has one pool: the -pthread worker module's (pthreadpool_runner.h), which the
// training products share, so no second set of threads competes for the cores. The caller keeps the
// pool alive while it is set, and sets it between operator calls, never during one.
pthreadpool_t xnn_threadpool();
void set_xnn_threadpool(pthreadpool_t pool);

struct XnnOperatorDeleter {
  void operator()(xnn_operator_t op) const;
};
using XnnOperator = std::unique_ptr<struct xnn_operator, XnnOperatorDeleter>;

// Scratch memory an operator uses between setup and run; sized at reshape time.
class XnnWorkspace {
 public:
  void resize(size_t size, size_t alignment);
  void* data();  // aligned as asked; null when the operator needs none

 private:
  std::vector<char> bytes_;
  size_t alignment_ = 1;
};

}  // namespace digitlab
