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
#ifdef __EMSCRIPTEN__
  // In wasm our register-blocked loops (matmul.cpp) beat the dynamic operator on every product the
  // trainer does: it repacks B on every call, and its kernels are no faster than ours there.
  // Measured under node, ms per batch-32 step, this operator (for K*N <= 65536, loops above) vs
  // loops only: seed-cnn head 1.86 vs 1.82, last block 13.4 vs 12.6, all layers 28.6 vs 24.1;
  // digitlab-cnn head 0.039 vs 0.022, all layers 44.5 vs 36.6. Natively XNNPACK's AVX kernels
  // still win (digitlab-cnn all layers 19.7 vs 32.0 ms).
  return matmul_loops;
#else
  auto state = std::make_shared<XnnMatMul>();
  return [state](float* out, const float* a, const float* b, const float* bias, int M, int K, int N, bool b_k_by_n) {
    (*state)(out, a, b, bias, M, K, N, b_k_by_n);
  };
#endif
}

}  // namespace digitlab
