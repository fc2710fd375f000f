#include "matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace digitlab {
namespace {

// Four floats in one SIMD register: wasm SIMD128 under Emscripten, SSE natively. GCC and clang's
// vector extensions give lane-wise IEEE multiplies and adds in the order written (no fused
// multiply-add unless the target has one and is told to contract), so wasm and native compute the
// same sums.
typedef float v4 __attribute__((vector_size(16)));

inline v4 load(const float* p) {
  v4 v;
  std::memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}
inline void store(float* p, v4 v) { std::memcpy(p, &v, sizeof v); }
inline v4 splat(float x) { return v4{x, x, x, x}; }
inline float sum(v4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// out (MR, 4*NV) = a (MR, K) x b (K, 4*NV) + bias: MR x NV accumulator registers for the whole K
// loop, one splat of a and NV loads of b per row and k (XNNPACK's "splat" GEMM scheme).
template <int MR, int NV>
void block_kn(float* out, int ldo, const float* a, int lda, const float* b, int ldb, const float* bias, int K) {
  v4 acc[MR][NV];
  for (int j = 0; j < NV; ++j) {
    const v4 init = bias ? load(bias + 4 * j) : splat(0.f);
    for (int i = 0; i < MR; ++i) acc[i][j] = init;
  }
  for (int k = 0; k < K; ++k) {
    v4 bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = load(b + int64_t(k) * ldb + 4 * j);
    for (int i = 0; i < MR; ++i) {
      const v4 av = splat(a[int64_t(i) * lda + k]);
      for (int j = 0; j < NV; ++j) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) store(out + int64_t(i) * ldo + 4 * j, acc[i][j]);
}

// out (MR, NR) = a (MR, K) x b (NR, K)^T + bias: dot products along k, contiguous in both operands,
// four k at a time in MR x NR accumulators, summed across lanes at the end.
template <int MR, int NR>
void block_nk(float* out, int ldo, const float* a, int lda, const float* b, int ldb, const float* bias, int K) {
  v4 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = splat(0.f);
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    v4 av[MR], bv[NR];
    for (int i = 0; i < MR; ++i) av[i] = load(a + int64_t(i) * lda + k);
    for (int j = 0; j < NR; ++j) bv[j] = load(b + int64_t(j) * ldb + k);
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += av[i] * bv[j];
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      float s = sum(acc[i][j]);
      for (int kk = k; kk < K; ++kk) s += a[int64_t(i) * lda + kk] * b[int64_t(j) * ldb + kk];
      out[int64_t(i) * ldo + j] = s + (bias ? bias[j] : 0.f);
    }
}

// Each family computes MR rows of out over all N columns: wide column blocks, then narrower ones.
struct KN {
  template <int MR>
  static void columns(float* out, int ldo, const float* a, int lda, const float* b, int ldb, const float* bias, int K, int N) {
    int n = 0;
    for (; n + 8 <= N; n += 8) block_kn<MR, 2>(out + n, ldo, a, lda, b + n, ldb, bias ? bias + n : nullptr, K);
    for (; n + 4 <= N; n += 4) block_kn<MR, 1>(out + n, ldo, a, lda, b + n, ldb, bias ? bias + n : nullptr, K);
    for (; n < N; ++n)  // the last N % 4 columns
      for (int i = 0; i < MR; ++i) {
        float s = bias ? bias[n] : 0.f;
        for (int k = 0; k < K; ++k) s += a[int64_t(i) * lda + k] * b[int64_t(k) * ldb + n];
        out[int64_t(i) * ldo + n] = s;
      }
  }
};

struct NK {
  template <int MR>
  static void columns(float* out, int ldo, const float* a, int lda, const float* b, int ldb, const float* bias, int K, int N) {
    int n = 0;
    for (; n + 4 <= N; n += 4) block_nk<MR, 4>(out + n, ldo, a, lda, b + int64_t(n) * ldb, ldb, bias ? bias + n : nullptr, K);
    for (; n < N; ++n) block_nk<MR, 1>(out + n, ldo, a, lda, b + int64_t(n) * ldb, ldb, bias ? bias + n : nullptr, K);
  }
};

// Drives a kernel family over all rows: blocks of `Block` rows, then the remaining rows one by one.
template <typename Family, int Block>
void gemm(float* out, const float* a, const float* b, int ldb, const float* bias, int M, int K, int N) {
  int m = 0;
  for (; m + Block <= M; m += Block)
    Family::template columns<Block>(out + int64_t(m) * N, N, a + int64_t(m) * K, K, b, ldb, bias, K, N);
  for (; m < M; ++m) Family::template columns<1>(out + int64_t(m) * N, N, a + int64_t(m) * K, K, b, ldb, bias, K, N);
}

// Share of zeros in a from which the zero-skipping row loop is used instead of the blocked kernel.
// Without it, natively, digitlab-cnn's all-layers step went from 35.6 to 46.1 ms (its max-pool
// gradients are 3/4 zeros); with it 32.0 ms. Under node the steps moved by under 2% between 40% and 80%.
constexpr int64_t kSparsePercent = 60;

// out = a x b for b (K, N), one row of a at a time, skipping its zeros: the better loop when most of
// a is zero, as gradients behind a max pool (3 of 4 are zero) and a ReLU are.
void sparse_rows_kn(float* out, const float* a, const float* b, const float* bias, int M, int K, int N) {
  for (int m = 0; m < M; ++m) {
    float* o = out + int64_t(m) * N;
    for (int n = 0; n < N; ++n) o[n] = bias ? bias[n] : 0.f;
    const float* row = a + int64_t(m) * K;
    for (int k = 0; k < K; ++k) {
      const float x = row[k];
      if (x == 0.f) continue;
      const float* bk = b + int64_t(k) * N;
      for (int n = 0; n < N; ++n) o[n] += x * bk[n];
    }
  }
}

// The fixed split of a product into row ranges for the runner's threads: a function of the shape
// only, so the same rows always go together (and every row is computed exactly as a serial run
// computes it, whatever block of rows it falls in: the kernels keep one accumulator chain per
// output element). Tasks of at least ~64k multiply-adds, 4 rows or more each, 64 at most.
constexpr int64_t kMinTaskMacs = int64_t(1) << 16;
constexpr int kMaxTasks = 64;

int row_tasks(int M, int K, int N) {
  const int64_t macs = int64_t(M) * std::max(K, 1) * N;
  const int64_t by_work = std::max<int64_t>(1, macs / kMinTaskMacs);
  return int(std::min<int64_t>({by_work, kMaxTasks, (M + 3) / 4}));
}

// Runs rows(m0, m1) over [0, M): all at once on one thread, else in row_tasks() ranges.
template <typename Rows>
void over_rows(int M, int K, int N, TrainWorkspace& ws, const Rows& rows) {
  const int tasks = ws.threads() > 1 ? row_tasks(M, K, N) : 1;
  if (tasks <= 1) {
    rows(0, M);
    return;
  }
  const int per = ((M + tasks - 1) / tasks + 3) / 4 * 4;
  ws.runner()->run(size_t((M + per - 1) / per), [&](size_t t) {
    const int m0 = int(t) * per;
    rows(m0, std::min(M, m0 + per));
  });
}

}  // namespace

void matmul(float* out, const float* a, const float* b, const float* bias, int M, int K, int N, bool b_k_by_n,
            TrainWorkspace& ws) {
  if (M <= 0 || N <= 0) return;
  if (!b_k_by_n && K >= 16) {
    // B as (N, K), a PyTorch weight: dot products along k, 2 rows x 4 columns at a time (8
    // accumulators and 6 operand registers fit x86's 16 SIMD registers, which V8 maps wasm onto).
    over_rows(M, K, N, ws, [&](int m0, int m1) {
      gemm<NK, 2>(out + int64_t(m0) * N, a + int64_t(m0) * K, b, K, bias, m1 - m0, K, N);
    });
    return;
  }
  if (!b_k_by_n) {  // short rows: transpose B once into (K, N) instead
    float* bt = ws.floats(TrainWorkspace::kMatMulSlot, size_t(K) * size_t(N));
    parallel_ranges(ws, size_t(N), [&](size_t n0, size_t n1) {
      for (size_t n = n0; n < n1; ++n)
        for (int k = 0; k < K; ++k) bt[size_t(k) * N + n] = b[n * K + k];
    });
    b = bt;
  }
  // B as (K, N): 4 rows x 8 columns of accumulators, as XNNPACK's 4x8 wasm kernels, unless a is
  // mostly zeros (the blocked kernel does every multiply; the row loop skips the zeros' work).
  const int64_t total = int64_t(M) * K;
  std::atomic<int64_t> zeros{0};  // a count: the same whatever order the ranges finish in
  parallel_ranges(ws, size_t(total), [&](size_t i0, size_t i1) {
    int64_t z = 0;
    for (size_t i = i0; i < i1; ++i) z += a[i] == 0.f;
    zeros += z;
  });
  const bool sparse = zeros.load() * 100 >= total * kSparsePercent;  // decided once, for every row
  over_rows(M, K, N, ws, [&](int m0, int m1) {
    if (sparse)
      sparse_rows_kn(out + int64_t(m0) * N, a + int64_t(m0) * K, b, bias, m1 - m0, K, N);
    else
      gemm<KN, 4>(out + int64_t(m0) * N, a + int64_t(m0) * K, b, N, bias, m1 - m0, K, N);
  });
}

}  // namespace digitlab
