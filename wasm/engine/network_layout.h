// What both XNNPACK engines (f32 and int8) need to know when they map a network's layers onto
// operators: whether a ReLU can be fused into the operator before it, and how PyTorch's flatten
// order meets XNNPACK's NHWC activations.
#pragma once
#include <vector>

#include "digitlab/architecture.h"
#include "digitlab/model.h"

namespace digitlab {

// Whether a ReLU follows layer i, with only layers that are the identity at inference in between.
inline bool relu_follows(const std::vector<Layer>& layers, size_t i) {
  for (size_t j = i + 1; j < layers.size(); ++j) {
    if (layers[j].kind == LayerKind::relu) return true;
    if (layers[j].kind != LayerKind::dropout && layers[j].kind != LayerKind::flatten) return false;
  }
  return false;
}

// PyTorch flattens (c, h, w); the engines' activations are (h, w, c). Reorders a linear layer's weight
// columns once so that the flattened NHWC activations multiply the right weights.
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

}  // namespace digitlab
