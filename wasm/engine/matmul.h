// The one matrix product the training code needs, on our own register-blocked SIMD loops (wasm
// SIMD128 in the browser, SSE natively; XNNPACK-free, so tests can link it beside LibTorch). In wasm
// they beat XNNPACK's dynamic fully-connected operator on every product training does: it repacks the
// right-hand side on every call and its kernels are no faster there (measured under node, ms per
// batch-32 step: seed-cnn all layers 28.6 with it against 24.1 with these loops; digitlab-cnn 44.5 vs
// 36.6).
#pragma once
#include "train_workspace.h"

namespace digitlab {

// out (M, N) = a (M, K) x B (+ bias (N), or null). B is (N, K) row-major, like a PyTorch weight, or
// (K, N) when b_k_by_n. Uses the workspace's matmul slot.
void matmul(float* out, const float* a, const float* b, const float* bias, int M, int K, int N, bool b_k_by_n,
            TrainWorkspace& ws);

}  // namespace digitlab
