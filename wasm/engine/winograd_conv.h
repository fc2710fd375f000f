// A 3x3 stride-1 convolution computed with Winograd's minimal filtering F(m x m, 3x3), m = 2 or 4
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): an m x m block of
// outputs costs (m+2)^2 multiplies per input/output channel pair instead of 9 m^2, so F(2x2) does
// 2.25x fewer multiply-adds than a direct convolution and F(4x4) 4x fewer, at the price of larger
// transforms and (F(4x4)) a few more rounding errors. This is the engine's "fewer operations" path
// for when XNNPACK's f32 GEMM already runs at the SIMD limit (issue 8).
//
// Three stages per call, activations NHWC like the rest of the engine:
//   1. input transform: every (m+2)^2 input patch (stride m) -> (m+2)^2 values per channel, B^T d B;
//   2. (m+2)^2 independent matrix products (tiles x in_channels) * (in_channels x out_channels), one
//      XNNPACK batch matrix multiply whose right-hand sides, the transformed filters G g G^T, are
//      packed once at construction;
//   3. output transform: each tile's products -> its m x m outputs, A^T M A, plus bias and ReLU.
// A following 2x2/2 max pool (floor) can be fused into stage 3: pooling windows never straddle two
// tiles (m is even), so the pool costs one max per output and the row and column a floor pool drops
// are computed only where a tile covers them anyway (on a 7x7 map F(2x2) computes 9 tiles, not 16).
#pragma once
#include <vector>

#include "digitlab/architecture.h"
#include "xnn_support.h"

namespace digitlab {

class WinogradConv3x3 {
 public:
  // Whether the layer is one this class computes: 3x3 kernel, stride 1, dilation 1, one group,
  // padding 0 or 1.
  static bool supports(const Layer& conv);

  // The output tile (2 or 4) for this layer on an h x w input: F(4x4) unless its tiles, padded to the
  // map, need more products than F(2x2)'s. On a tie F(4x4) wins: fewer, larger tiles make the matrix
  // products taller-and-fewer, which XNNPACK's 4-row kernels run better (measured under node: a 7x7
  // map, 9 F(2x2) tiles 63 us, 4 F(4x4) tiles 53 us).
  static int preferred_tile(const Layer& conv, int h, int w, bool fuse_max_pool);

  // weight in PyTorch OIHW layout, bias may be null. fuse_relu clamps the outputs at 0; fuse_max_pool
  // applies a 2x2 stride-2 max pool (floor) to them; output_tile is m (2 or 4). Throws Error for an
  // unsupported layer or tile.
  WinogradConv3x3(const Layer& conv, const float* weight_oihw, const float* bias, bool fuse_relu, bool fuse_max_pool,
                  int output_tile = 2);
  int output_tile() const { return m_tile_; }

  // Output shape per image for an input of h x w (pooled when the pool is fused).
  Shape output_shape(int h, int w) const;

  // XNNPACK's lifecycle, as XnnConv2d: reshape for inputs (batch, h, w, in_channels) sizes the
  // buffers and the matrix product; run then maps in -> out (batch, output_shape(h, w)) at that size
  // (Error before the first reshape).
  void reshape(int batch, int h, int w);
  void run(const float* in_nhwc, float* out_nhwc);

 private:
  template <int M> void transform_input(const float* in, int batch, int h, int w);
  template <int M> void transform_output(float* out, int batch);

  int cin_ = 0, cout_ = 0, pad_ = 0, m_tile_ = 2, n_tile_ = 4;  // output tile m, input tile m + 2
  bool relu_ = false, pool_ = false;
  std::vector<float> bias_;             // cout values (zeros without a bias)
  std::vector<float> zeros_;            // cin zeros: the padding rows the input transform reads
  std::vector<float> scratch_;          // one tile half-transformed (columns done, rows to do)
  XnnOperator matmul_;                  // n^2 x (tiles, cin) * (cin, cout), filters packed at create
  XnnWorkspace workspace_;
  std::vector<float> v_, products_;     // transformed input (n^2, tiles, cin) and products (n^2, tiles, cout)
  int batch_ = 0, h_ = 0, w_ = 0;       // the size the buffers are set up for
  int tiles_y_ = 0, tiles_x_ = 0;       // tiles per image
  int out_h_ = 0, out_w_ = 0;           // convolution output per image (before a fused pool)
};

}  // namespace digitlab
