// Layout conversions between PyTorch's tensors and the engines' XNNPACK ones, in one place: PyTorch
// stores activations NCHW, convolution weights OIHW and flattens (c, h, w); XNNPACK wants NHWC
// activations and OHWI weights, so a flattened map reaches a linear layer in (h, w, c) order.
#pragma once
#include <cstddef>
#include <vector>

#include "digitlab/architecture.h"
#include "digitlab/model.h"

namespace digitlab {

// A conv2d layer's weight (out, in/groups, k, k) -> (out, k, k, in/groups): per output channel the
// window with input channels innermost, as XNNPACK reads it. Output channels stay in their rows, so
// anything computed per output channel (int8 scales) is the same before and after.
inline std::vector<float> oihw_to_ohwi(const float* weight, const Layer& conv) {
  const int gin = conv.in_channels / conv.groups, K = conv.kernel;
  std::vector<float> ohwi(size_t(conv.out_channels) * K * K * gin);
  for (int o = 0; o < conv.out_channels; ++o)
    for (int i = 0; i < gin; ++i)
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw)
          ohwi[((size_t(o) * K + kh) * K + kw) * gin + i] = weight[((size_t(o) * gin + i) * K + kh) * K + kw];
  return ohwi;
}

// A linear layer's weight columns reordered from (c, h, w) to (h, w, c), so that the flattened NHWC
// activations of map multiply the right weights.
inline std::vector<float> columns_chw_to_hwc(const float* weight, int out_features, Shape map) {
  const int hw = map.h * map.w, in = int(map.size());
  std::vector<float> permuted(size_t(out_features) * in);
  for (int o = 0; o < out_features; ++o)
    for (int c = 0; c < map.c; ++c)
      for (int p = 0; p < hw; ++p)
        permuted[size_t(o) * in + size_t(p) * map.c + c] = weight[size_t(o) * in + size_t(c) * hw + p];
  return permuted;
}

// (x - mean) / std while going from the caller's NCHW to the engines' NHWC (the same order when
// c == 1).
inline void normalise_to_nhwc(const float* pixels, float* out, int batch, Shape in, const Normalization& norm) {
  const int hw = in.h * in.w;
  for (int b = 0; b < batch; ++b)
    for (int c = 0; c < in.c; ++c)
      for (int p = 0; p < hw; ++p) out[(size_t(b) * hw + p) * in.c + c] = (pixels[(size_t(b) * in.c + c) * hw + p] - norm.mean) / norm.std;
}

// Activations (batch, h, w, c) -> (batch, c, h, w): what the engines hand back to callers.
inline void nhwc_to_nchw(const float* in, float* out, int batch, Shape map) {
  const int hw = map.h * map.w;
  for (int b = 0; b < batch; ++b)
    for (int c = 0; c < map.c; ++c)
      for (int p = 0; p < hw; ++p) out[(size_t(b) * map.c + c) * hw + p] = in[(size_t(b) * hw + p) * map.c + c];
}

}  // namespace digitlab
