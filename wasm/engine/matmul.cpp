#include "matmul.h"

#include <cstdint>
#include <vector>

namespace digitlab {

void matmul_loops(float* out, const float* a, const float* b, const float* bias, int M, int K, int N, bool b_k_by_n) {
  // Inner loops run over n, contiguous in both out and B (K, N): a multiply-add the compiler turns
  // into SIMD without reassociating sums. B given as (N, K) is transposed once into that layout.
  thread_local std::vector<float> bt;
  if (!b_k_by_n) {
    bt.resize(size_t(K) * size_t(N));
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k) bt[size_t(k) * N + n] = b[size_t(n) * K + k];
    b = bt.data();
  }
  for (int m = 0; m < M; ++m) {
    float* o = out + int64_t(m) * N;
    for (int n = 0; n < N; ++n) o[n] = bias ? bias[n] : 0.f;
    const float* row = a + int64_t(m) * K;
    for (int k = 0; k < K; ++k) {
      const float x = row[k];
      if (x == 0.f) continue;  // ReLU zeros are common in activations and gradients
      const float* bk = b + int64_t(k) * N;
      for (int n = 0; n < N; ++n) o[n] += x * bk[n];
    }
  }
}

}  // namespace digitlab
