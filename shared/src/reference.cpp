#include "digitlab/reference.h"

#include <algorithm>
#include <cmath>

#include "digitlab/error.h"

namespace digitlab {

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int C, int H, int W,
                    int OC, int K, int stride, int pad, int dilation, int groups) {
  const int OH = (H + 2 * pad - dilation * (K - 1) - 1) / stride + 1;
  const int OW = (W + 2 * pad - dilation * (K - 1) - 1) / stride + 1;
  const int cin_per_group = C / groups, cout_per_group = OC / groups;
  for (int b = 0; b < B; ++b)
    for (int oc = 0; oc < OC; ++oc) {
      const int g = oc / cout_per_group;
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          float acc = bias ? bias[oc] : 0.f;
          for (int ic = 0; ic < cin_per_group; ++ic) {
            const float* x = inp + ((size_t(b) * C + g * cin_per_group + ic) * H) * W;
            const float* w = weight + ((size_t(oc) * cin_per_group + ic) * K) * K;
            for (int kh = 0; kh < K; ++kh) {
              const int ih = oh * stride - pad + kh * dilation;
              if (ih < 0 || ih >= H) continue;
              for (int kw = 0; kw < K; ++kw) {
                const int iw = ow * stride - pad + kw * dilation;
                if (iw < 0 || iw >= W) continue;
                acc += x[ih * W + iw] * w[kh * K + kw];
              }
            }
          }
          out[((size_t(b) * OC + oc) * OH + oh) * OW + ow] = acc;
        }
    }
}

void batch_norm2d_forward(float* out, const float* inp, const float* gamma, const float* beta, const float* mean,
                          const float* var, float eps, int B, int C, int HW) {
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c) {
      const float scale = gamma[c] / std::sqrt(var[c] + eps);
      const float shift = beta[c] - mean[c] * scale;
      const size_t base = (size_t(b) * C + c) * HW;
      for (int i = 0; i < HW; ++i) out[base + i] = inp[base + i] * scale + shift;
    }
}

void relu_forward(float* out, const float* inp, int N) {
  for (int i = 0; i < N; ++i) out[i] = inp[i] > 0.f ? inp[i] : 0.f;
}

void max_pool2d_forward(float* out, const float* inp, int B, int C, int H, int W, int K, int stride) {
  const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
  for (int bc = 0; bc < B * C; ++bc) {
    const float* x = inp + size_t(bc) * H * W;
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        float m = -INFINITY;
        for (int kh = 0; kh < K; ++kh)
          for (int kw = 0; kw < K; ++kw) m = std::max(m, x[(oh * stride + kh) * W + ow * stride + kw]);
        out[(size_t(bc) * OH + oh) * OW + ow] = m;
      }
  }
}

void global_avg_pool_forward(float* out, const float* inp, int B, int C, int H, int W) {
  for (int bc = 0; bc < B * C; ++bc) {
    double sum = 0;
    for (int i = 0; i < H * W; ++i) sum += inp[size_t(bc) * H * W + i];
    out[bc] = float(sum / (H * W));
  }
}

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int IN, int OUT) {
  for (int b = 0; b < B; ++b)
    for (int o = 0; o < OUT; ++o) {
      float acc = bias ? bias[o] : 0.f;
      const float* w = weight + size_t(o) * IN;
      const float* x = inp + size_t(b) * IN;
      for (int i = 0; i < IN; ++i) acc += x[i] * w[i];
      out[size_t(b) * OUT + o] = acc;
    }
}

void softmax_forward(float* probs, const float* logits, int B, int V) {
  for (int b = 0; b < B; ++b) {
    const float* x = logits + size_t(b) * V;
    float* p = probs + size_t(b) * V;
    const float m = *std::max_element(x, x + V);
    float sum = 0.f;
    for (int v = 0; v < V; ++v) sum += (p[v] = std::exp(x[v] - m));
    for (int v = 0; v < V; ++v) p[v] /= sum;
  }
}

int argmax(const float* v, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

std::vector<float> reference_forward(const Model& model, const float* pixels, int B) {
  const Architecture& arch = model.arch;
  const std::vector<Shape> shapes = infer_shapes(arch);
  if (B < 1) throw Error("batch size must be at least 1");
  auto param = [&](const std::string& name) -> const float* {
    auto it = model.params.find(name);
    if (it == model.params.end()) throw Error("model lacks tensor '" + name + "'");
    return it->second.data.data();
  };

  Shape s = arch.input;
  std::vector<float> x(size_t(B) * s.size()), y;
  for (size_t i = 0; i < x.size(); ++i) x[i] = (pixels[i] - model.norm.mean) / model.norm.std;
  for (size_t li = 0; li < arch.layers.size(); ++li) {
    const Layer& l = arch.layers[li];
    const Shape o = shapes[li];
    y.assign(size_t(B) * o.size(), 0.f);
    switch (l.kind) {
      case LayerKind::conv2d:
        conv2d_forward(y.data(), x.data(), param(l.name + ".weight"), l.bias ? param(l.name + ".bias") : nullptr, B,
                       s.c, s.h, s.w, l.out_channels, l.kernel, l.stride, l.padding, l.dilation, l.groups);
        break;
      case LayerKind::batch_norm2d:
        batch_norm2d_forward(y.data(), x.data(), param(l.name + ".weight"), param(l.name + ".bias"),
                             param(l.name + ".running_mean"), param(l.name + ".running_var"), l.eps, B, s.c, s.h * s.w);
        break;
      case LayerKind::relu: relu_forward(y.data(), x.data(), int(x.size())); break;
      case LayerKind::max_pool2d: max_pool2d_forward(y.data(), x.data(), B, s.c, s.h, s.w, l.kernel, l.stride); break;
      case LayerKind::global_avg_pool: global_avg_pool_forward(y.data(), x.data(), B, s.c, s.h, s.w); break;
      case LayerKind::flatten:
      case LayerKind::dropout: y = x; break;  // NCHW is already the flattened (C, H, W) order
      case LayerKind::linear:
        linear_forward(y.data(), x.data(), param(l.name + ".weight"), l.bias ? param(l.name + ".bias") : nullptr, B,
                       l.in_features, l.out_features);
        break;
    }
    x.swap(y);
    s = o;
  }
  return x;
}

}  // namespace digitlab
