// The one matrix product the training code needs, behind an interface so the same forward/backward
// pairs run on our own register-blocked SIMD loops (matmul_loops: XNNPACK-free, so tests can link it
// beside LibTorch) or on XNNPACK's dynamic fully-connected operator (xnn_matmul.h: what the browser
// uses, with the loops for large right-hand sides).
#pragma once
#include <functional>

namespace digitlab {

// out (M, N) = a (M, K) x B (+ bias (N), or null). B is (N, K) row-major, like a PyTorch weight,
// or (K, N) when b_k_by_n.
using MatMul = std::function<void(float* out, const float* a, const float* b, const float* bias, int M, int K, int N,
                                  bool b_k_by_n)>;

void matmul_loops(float* out, const float* a, const float* b, const float* bias, int M, int K, int N, bool b_k_by_n);

}  // namespace digitlab
