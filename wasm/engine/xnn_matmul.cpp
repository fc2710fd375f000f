#include "xnn_matmul.h"

#include <xnnpack.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "xnn_conv2d.h"
#include "xnn_support.h"

namespace digitlab {
namespace {

struct XnnMatMul {
  XnnOperator by_rows, by_columns;  // B as (N, K) / as (K, N)
  XnnWorkspace workspace;
  std::vector<float> zeros;

  XnnMatMul() {
    xnn_ensure_initialized();
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_dynamic_fully_connected_nc_f32(-INFINITY, INFINITY, 0, &op), "dynamic fully connected create");
    by_rows.reset(op);
    xnn_check(xnn_create_dynamic_fully_connected_nc_f32(-INFINITY, INFINITY, XNN_FLAG_TRANSPOSE_WEIGHTS, &op),
              "dynamic fully connected create");
    by_columns.reset(op);
  }

  void operator()(float* out, const float* a, const float* b, const float* bias, int M, int K, int N, bool b_k_by_n) {
    xnn_operator_t op = b_k_by_n ? by_columns.get() : by_rows.get();
    if (!bias) {
      if (zeros.size() < size_t(N)) zeros.assign(size_t(N), 0.f);
      bias = zeros.data();
    }
    size_t size = 0, alignment = 0;
    xnn_check(xnn_reshape_dynamic_fully_connected_nc_f32(op, size_t(M), size_t(K), size_t(N), size_t(K), size_t(N),
                                                         &size, &alignment, nullptr),
              "dynamic fully connected reshape");
    workspace.resize(size, alignment);
    xnn_check(xnn_setup_dynamic_fully_connected_nc_f32(op, workspace.data(), a, b, bias, out),
              "dynamic fully connected setup");
    xnn_check(xnn_run_operator(op, nullptr), "dynamic fully connected run");
  }
};

}  // namespace

MatMul xnn_matmul() {
  auto state = std::make_shared<XnnMatMul>();
  return [state](float* out, const float* a, const float* b, const float* bias, int M, int K, int N, bool b_k_by_n) {
#ifdef __EMSCRIPTEN__
    // The dynamic operator repacks B on every call, and in wasm that packing costs more than XNNPACK's
    // faster product saves once B is large. Measured under node (ms per batch-32 step, XNNPACK vs
    // loops): digitlab-cnn head (B 128x10) 0.08 vs 0.13; its last block (B up to 288x864) 13.2 vs 8.7;
    // seed-cnn head (B 3136x128) 6.3 vs 5.7. Natively XNNPACK wins at every size (2.98 vs 4.84 ms).
    if (int64_t(K) * N > 65536) return matmul_loops(out, a, b, bias, M, K, N, b_k_by_n);
#endif
    (*state)(out, a, b, bias, M, K, N, b_k_by_n);
  };
}

}  // namespace digitlab
