#include "winograd_conv.h"

#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "digitlab/error.h"
#include "xnn_conv2d.h"

namespace digitlab {

namespace {

// The one-dimensional transforms of F(M, 3) (Lavin & Gray's matrices), each applied to a column and
// then to a row of a tile: filter g (3) -> u = G g (N), input d (N) -> B^T d (N), products (N) ->
// A^T m (M). Written out so the compiler sees the constants, zeros and ones.
template <int M> struct Winograd;

template <> struct Winograd<2> {
  static constexpr int N = 4;
  static void filter(const float* g, float* u) {
    u[0] = g[0];
    u[1] = 0.5f * (g[0] + g[1] + g[2]);
    u[2] = 0.5f * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  }
  static void input(const float* d, float* r) {
    r[0] = d[0] - d[2];
    r[1] = d[1] + d[2];
    r[2] = d[2] - d[1];
    r[3] = d[1] - d[3];
  }
  static void output(const float* m, float* y) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
};

template <> struct Winograd<4> {
  static constexpr int N = 6;
  static void filter(const float* g, float* u) {
    u[0] = g[0] / 4.f;
    u[1] = -(g[0] + g[1] + g[2]) / 6.f;
    u[2] = -(g[0] - g[1] + g[2]) / 6.f;
    u[3] = g[0] / 24.f + g[1] / 12.f + g[2] / 6.f;
    u[4] = g[0] / 24.f - g[1] / 12.f + g[2] / 6.f;
    u[5] = g[2];
  }
  static void input(const float* d, float* r) {
    r[0] = 4.f * d[0] - 5.f * d[2] + d[4];
    r[1] = d[3] + d[4] - 4.f * (d[1] + d[2]);
    r[2] = 4.f * (d[1] - d[2]) + d[4] - d[3];
    r[3] = 2.f * (d[3] - d[1]) + d[4] - d[2];
    r[4] = 2.f * (d[1] - d[3]) + d[4] - d[2];
    r[5] = 4.f * d[1] - 5.f * d[3] + d[5];
  }
  static void output(const float* m, float* y) {
    const float a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    y[0] = m[0] + a + c;
    y[1] = b + 2.f * d;
    y[2] = a + 4.f * c;
    y[3] = b + 8.f * d + m[5];
  }
};

// Applies a one-dimensional transform T (length In -> Out) to the columns, then the rows, of an
// In x In tile, for `count` channels at once: x[i] points at element i of the tile (row-major;
// channels contiguous from there), y[o] at output element o of the Out x Out result. One pass over the columns into `scratch`
// (Out x In x count), then one over the rows, so each loop over channels touches only In inputs and
// Out outputs, few enough for the compiler to keep them in SIMD registers.
template <int In, int Out, typename T>
void transform_2d_channels(const float* const* x, float* const* y, int count, float* __restrict scratch, T&& t) {
  for (int c = 0; c < In; ++c)
    for (int k = 0; k < count; ++k) {
      float a[In], b[Out];
      for (int r = 0; r < In; ++r) a[r] = x[r * In + c][k];
      t(a, b);
      for (int r = 0; r < Out; ++r) scratch[(r * In + c) * count + k] = b[r];
    }
  for (int r = 0; r < Out; ++r)
    for (int k = 0; k < count; ++k) {
      float a[In], b[Out];
      for (int c = 0; c < In; ++c) a[c] = scratch[(r * In + c) * count + k];
      t(a, b);
      for (int c = 0; c < Out; ++c) y[r * Out + c][k] = b[c];
    }
}

}  // namespace

bool WinogradConv3x3::supports(const Layer& l) {
  return l.kind == LayerKind::conv2d && l.kernel == 3 && l.stride == 1 && l.dilation == 1 && l.groups == 1 &&
         (l.padding == 0 || l.padding == 1);
}

int WinogradConv3x3::preferred_tile(const Layer& l, int h, int w, bool pool) {
  const int oh = h + 2 * l.padding - 2, ow = w + 2 * l.padding - 2;
  const int need_h = pool ? oh / 2 * 2 : oh, need_w = pool ? ow / 2 * 2 : ow;  // outputs that are used
  auto products = [&](int m) { return double((need_h + m - 1) / m) * ((need_w + m - 1) / m) * (m + 2) * (m + 2); };
  return products(4) <= products(2) ? 4 : 2;
}

WinogradConv3x3::WinogradConv3x3(const Layer& l, const float* weight, const float* bias, bool fuse_relu,
                                 bool fuse_max_pool, int output_tile)
    : cin_(l.in_channels), cout_(l.out_channels), pad_(l.padding), m_tile_(output_tile), n_tile_(output_tile + 2),
      relu_(fuse_relu), pool_(fuse_max_pool) {
  if (!supports(l)) throw Error("Winograd convolution needs a 3x3 stride-1 undilated dense convolution, got " + describe(l));
  if (output_tile != 2 && output_tile != 4) throw Error("Winograd output tiles are 2x2 or 4x4, not " + std::to_string(output_tile));
  if (!weight) throw Error("Winograd convolution " + l.name + " has no weights");
  xnn_ensure_initialized();
  bias_.assign(size_t(cout_), 0.f);
  if (bias) std::copy(bias, bias + cout_, bias_.begin());
  zeros_.assign(size_t(cin_), 0.f);
  // Right-hand sides of the n^2 products: U[e] is (cin, cout), as the batch matrix multiply reads B.
  const int elements = n_tile_ * n_tile_;
  std::vector<float> u(size_t(elements) * cin_ * cout_);
  // One filter at a time (count 1): element e of filter (o, i) goes straight to U[e][i][o].
  float scratch[6 * 3];
  const float* g[9];
  float* out[36];
  for (int o = 0; o < cout_; ++o)
    for (int i = 0; i < cin_; ++i) {
      for (int k = 0; k < 9; ++k) g[k] = weight + (size_t(o) * cin_ + i) * 9 + k;
      for (int e = 0; e < elements; ++e) out[e] = &u[(size_t(e) * cin_ + i) * cout_ + o];
      if (m_tile_ == 2)
        transform_2d_channels<3, 4>(g, out, 1, scratch, Winograd<2>::filter);
      else
        transform_2d_channels<3, 6>(g, out, 1, scratch, Winograd<4>::filter);
    }
  xnn_operator_t op = nullptr;
  xnn_check(xnn_create_batch_matrix_multiply_nc_f32_const_weights(size_t(elements), size_t(cin_), size_t(cout_), u.data(),
                                                                  /*flags=*/0, &op),
            "Winograd batch matrix multiply create");
  matmul_.reset(op);
}

Shape WinogradConv3x3::output_shape(int h, int w) const {
  const int oh = h + 2 * pad_ - 2, ow = w + 2 * pad_ - 2;
  return pool_ ? Shape{cout_, oh / 2, ow / 2} : Shape{cout_, oh, ow};
}

void WinogradConv3x3::reshape(int batch, int h, int w) {
  if (batch < 1) throw Error("Winograd convolution needs a batch of at least 1");
  batch_ = 0;  // stays 0 if the size is refused, so run() refuses too
  out_h_ = h + 2 * pad_ - 2, out_w_ = w + 2 * pad_ - 2;
  if (out_h_ < 1 || out_w_ < 1) throw Error("Winograd convolution: input " + std::to_string(h) + "x" + std::to_string(w) + " is smaller than its kernel");
  // Pooled: only the outputs the floor pool reads (an even number of rows and columns) need tiles.
  const int need_h = pool_ ? out_h_ / 2 * 2 : out_h_, need_w = pool_ ? out_w_ / 2 * 2 : out_w_;
  if (need_h < 1 || need_w < 1) throw Error("Winograd convolution: the output is too small for a 2x2 max pool");
  tiles_y_ = (need_h + m_tile_ - 1) / m_tile_;
  tiles_x_ = (need_w + m_tile_ - 1) / m_tile_;
  const size_t tiles = size_t(batch) * tiles_y_ * tiles_x_, elements = size_t(n_tile_) * n_tile_;
  v_.resize(elements * tiles * cin_);
  scratch_.resize(elements * size_t(std::max(cin_, 64)));
  products_.resize(elements * tiles * cout_);
  const size_t batch_dims[1] = {elements};
  size_t workspace_size = 0, workspace_alignment = 0;
  xnn_check(xnn_reshape_batch_matrix_multiply_nc_f32(matmul_.get(), 1, batch_dims, batch_dims, tiles, size_t(cin_),
                                                     size_t(cout_), &workspace_size, &workspace_alignment, xnn_threadpool()),
            "Winograd batch matrix multiply reshape");
  workspace_.resize(workspace_size, workspace_alignment);
  batch_ = batch, h_ = h, w_ = w;
}

// B^T d B per input patch and channel. Channels are innermost in both the input and V, so the loop
// over them vectorises; patch positions outside the map read a row of zeros (the padding).
template <int M>
void WinogradConv3x3::transform_input(const float* in, int batch, int h, int w) {
  constexpr int N = Winograd<M>::N, E = N * N;
  const size_t tiles = size_t(batch) * tiles_y_ * tiles_x_, e_stride = tiles * cin_;
  const int C = cin_;
  size_t t = 0;
  for (int b = 0; b < batch; ++b)
    for (int ty = 0; ty < tiles_y_; ++ty)
      for (int tx = 0; tx < tiles_x_; ++tx, ++t) {
        const float* p[E];
        for (int r = 0; r < N; ++r)
          for (int c = 0; c < N; ++c) {
            const int y = M * ty - pad_ + r, x = M * tx - pad_ + c;
            p[r * N + c] = (y >= 0 && y < h && x >= 0 && x < w) ? in + ((size_t(b) * h + y) * w + x) * C : zeros_.data();
          }
        float* v[E];
        for (int e = 0; e < E; ++e) v[e] = v_.data() + e * e_stride + t * C;
        transform_2d_channels<N, N>(p, v, C, scratch_.data(), Winograd<M>::input);
      }
}

// A^T M A per tile and output channel, then bias, ReLU and the fused pool:
// max(relu(a + bias), ...) = relu(max(a, ...) + bias), so the pool takes the maximum first.
template <int M>
void WinogradConv3x3::transform_output(float* out, int batch) {
  constexpr int N = Winograd<M>::N, E = N * N, Chunk = 64;
  const size_t tiles = size_t(batch) * tiles_y_ * tiles_x_, e_stride = tiles * cout_;
  const int C = cout_;
  const float lo = relu_ ? 0.f : -INFINITY;
  const float* __restrict bias = bias_.data();
  const int ph = out_h_ / 2, pw = out_w_ / 2;  // pooled map
  float y[M * M][Chunk];                       // one tile's outputs for a chunk of channels
  size_t t = 0;
  for (int b = 0; b < batch; ++b)
    for (int ty = 0; ty < tiles_y_; ++ty)
      for (int tx = 0; tx < tiles_x_; ++tx, ++t) {
        const float* __restrict m = products_.data() + t * C;
        for (int c0 = 0; c0 < C; c0 += Chunk) {
          const int n = std::min(Chunk, C - c0);
          const float* q[E];
          float* r[M * M];
          for (int e = 0; e < E; ++e) q[e] = m + e * e_stride + c0;
          for (int i = 0; i < M * M; ++i) r[i] = y[i];
          transform_2d_channels<N, M>(q, r, n, scratch_.data(), Winograd<M>::output);
          if (pool_) {
            for (int i = 0; i < M / 2; ++i)
              for (int j = 0; j < M / 2; ++j) {
                const int py = ty * (M / 2) + i, px = tx * (M / 2) + j;
                if (py >= ph || px >= pw) continue;
                const float *a = y[(2 * i) * M + 2 * j], *b2 = y[(2 * i) * M + 2 * j + 1];
                const float *c = y[(2 * i + 1) * M + 2 * j], *d = y[(2 * i + 1) * M + 2 * j + 1];
                float* __restrict o = out + ((size_t(b) * ph + py) * pw + px) * C + c0;
                for (int k = 0; k < n; ++k)
                  o[k] = std::max(std::max(std::max(a[k], b2[k]), std::max(c[k], d[k])) + bias[c0 + k], lo);
              }
          } else {
            for (int i = 0; i < M; ++i)
              for (int j = 0; j < M; ++j) {
                const int oy = ty * M + i, ox = tx * M + j;
                if (oy >= out_h_ || ox >= out_w_) continue;
                const float* a = y[i * M + j];
                float* __restrict o = out + ((size_t(b) * out_h_ + oy) * out_w_ + ox) * C + c0;
                for (int k = 0; k < n; ++k) o[k] = std::max(a[k] + bias[c0 + k], lo);
              }
          }
        }
      }
}

void WinogradConv3x3::run(const float* in, float* out) {
  if (!in || !out) throw Error("Winograd convolution needs input and output buffers");
  if (batch_ == 0) throw Error("Winograd convolution run before reshape");
  const int batch = batch_;
  if (m_tile_ == 2)
    transform_input<2>(in, batch, h_, w_);
  else
    transform_input<4>(in, batch, h_, w_);
  xnn_check(xnn_setup_batch_matrix_multiply_nc_f32(matmul_.get(), workspace_.data(), v_.data(), /*input_b=*/nullptr,
                                                   products_.data()),
            "Winograd batch matrix multiply setup");
  xnn_check(xnn_run_operator(matmul_.get(), xnn_threadpool()), "Winograd batch matrix multiply run");
  if (m_tile_ == 2)
    transform_output<2>(out, batch);
  else
    transform_output<4>(out, batch);
}

}  // namespace digitlab
