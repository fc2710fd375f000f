#include "train_layers.h"

#include <cmath>
#include <cstring>

namespace digitlab {

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int B, int C, int OC) {
  for (int b = 0; b < B; ++b) {
    const float* x = inp + int64_t(b) * C;
    const float* dy = dout + int64_t(b) * OC;
    float* dx = dinp ? dinp + int64_t(b) * C : nullptr;
    if (dx) std::memset(dx, 0, sizeof(float) * size_t(C));
    for (int o = 0; o < OC; ++o) {
      const float g = dy[o];
      if (dbias) dbias[o] += g;
      float* dw = dweight + int64_t(o) * C;
      const float* w = weight + int64_t(o) * C;
      for (int c = 0; c < C; ++c) dw[c] += g * x[c];  // contiguous in c: vectorises
      if (dx) {
        for (int c = 0; c < C; ++c) dx[c] += g * w[c];
      }
    }
  }
}

void relu_backward(float* dinp, const float* dout, const float* out, int64_t N) {
  for (int64_t i = 0; i < N; ++i) dinp[i] = out[i] > 0.f ? dout[i] : 0.f;
}

void dropout_forward(float* out, float* mask, const float* inp, int64_t N, float p, uint64_t* rng_state) {
  const float keep_scale = 1.f / (1.f - p);
  for (int64_t i = 0; i < N; ++i) {
    uint64_t z = (*rng_state += 0x9E3779B97F4A7C15ull);  // splitmix64: same stream on every platform
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u = float(z >> 40) * (1.f / 16777216.f);
    mask[i] = u >= p ? keep_scale : 0.f;
    out[i] = inp[i] * mask[i];
  }
}

void dropout_backward(float* dinp, const float* dout, const float* mask, int64_t N) {
  for (int64_t i = 0; i < N; ++i) dinp[i] = dout[i] * mask[i];
}

namespace {

// col for one image and group: (P = OH*OW, CKg = C/groups*K*K), zero where the window leaves the image.
void im2col(float* col, const float* inp, const ConvGeometry& g, int group) {
  const int Cg = g.C / g.groups, OH = g.OH(), OW = g.OW(), K = g.K, CKg = Cg * K * K;
  for (int oh = 0; oh < OH; ++oh)
    for (int ow = 0; ow < OW; ++ow) {
      float* row = col + int64_t(oh * OW + ow) * CKg;
      for (int c = 0; c < Cg; ++c) {
        const float* x = inp + int64_t(group * Cg + c) * g.H * g.W;
        for (int kh = 0; kh < K; ++kh) {
          const int ih = oh * g.stride - g.pad + kh * g.dilation;
          for (int kw = 0; kw < K; ++kw) {
            const int iw = ow * g.stride - g.pad + kw * g.dilation;
            row[(c * K + kh) * K + kw] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? x[ih * g.W + iw] : 0.f;
          }
        }
      }
    }
}

// The adjoint of im2col: adds dcol back onto the input positions it was read from.
void col2im_add(float* dinp, const float* dcol, const ConvGeometry& g, int group) {
  const int Cg = g.C / g.groups, OH = g.OH(), OW = g.OW(), K = g.K, CKg = Cg * K * K;
  for (int oh = 0; oh < OH; ++oh)
    for (int ow = 0; ow < OW; ++ow) {
      const float* row = dcol + int64_t(oh * OW + ow) * CKg;
      for (int c = 0; c < Cg; ++c) {
        float* dx = dinp + int64_t(group * Cg + c) * g.H * g.W;
        for (int kh = 0; kh < K; ++kh) {
          const int ih = oh * g.stride - g.pad + kh * g.dilation;
          if (ih < 0 || ih >= g.H) continue;
          for (int kw = 0; kw < K; ++kw) {
            const int iw = ow * g.stride - g.pad + kw * g.dilation;
            if (iw >= 0 && iw < g.W) dx[ih * g.W + iw] += row[(c * K + kh) * K + kw];
          }
        }
      }
    }
}

}  // namespace

void transpose_conv_weight(float* weight_t, const float* weight, const ConvGeometry& g) {
  const int OCg = g.OC / g.groups, CKg = g.C / g.groups * g.K * g.K;
  for (int gr = 0; gr < g.groups; ++gr)
    for (int o = 0; o < OCg; ++o)
      for (int k = 0; k < CKg; ++k)
        weight_t[(int64_t(gr) * CKg + k) * OCg + o] = weight[int64_t(gr * OCg + o) * CKg + k];
}

void conv2d_train_forward(float* out, float* col, float* scratch, const float* inp, const float* weight_t,
                          const float* bias, const ConvGeometry& g, int B) {
  const int OCg = g.OC / g.groups, CKg = g.C / g.groups * g.K * g.K, P = g.OH() * g.OW();
  for (int b = 0; b < B; ++b) {
    const float* x = inp + int64_t(b) * g.C * g.H * g.W;
    float* y = out + int64_t(b) * g.OC * P;
    for (int gr = 0; gr < g.groups; ++gr) {
      float* cg = col + int64_t(b) * g.col_size() + int64_t(gr) * P * CKg;
      im2col(cg, x, g, gr);
      const float* wt = weight_t + int64_t(gr) * CKg * OCg;
      // scratch (P, OCg) = col (P, CKg) x weight_t (CKg, OCg)
      for (int p = 0; p < P; ++p) {
        float* acc = scratch + int64_t(p) * OCg;
        for (int o = 0; o < OCg; ++o) acc[o] = bias ? bias[gr * OCg + o] : 0.f;
        const float* row = cg + int64_t(p) * CKg;
        for (int k = 0; k < CKg; ++k) {
          const float a = row[k];
          const float* w = wt + int64_t(k) * OCg;
          for (int o = 0; o < OCg; ++o) acc[o] += a * w[o];
        }
      }
      for (int o = 0; o < OCg; ++o)  // (P, OCg) -> NCHW
        for (int p = 0; p < P; ++p) y[int64_t(gr * OCg + o) * P + p] = scratch[int64_t(p) * OCg + o];
    }
  }
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, float* scratch, const float* dout, const float* col,
                     const float* weight, const ConvGeometry& g, int B) {
  const int OCg = g.OC / g.groups, CKg = g.C / g.groups * g.K * g.K, P = g.OH() * g.OW();
  float* dy_t = scratch;                    // (P, OCg)
  float* dcol = scratch + int64_t(P) * OCg;  // (P, CKg)
  for (int b = 0; b < B; ++b) {
    const float* dy = dout + int64_t(b) * g.OC * P;
    float* dx = dinp ? dinp + int64_t(b) * g.C * g.H * g.W : nullptr;
    if (dx) std::memset(dx, 0, sizeof(float) * size_t(g.C) * size_t(g.H) * size_t(g.W));
    for (int gr = 0; gr < g.groups; ++gr) {
      const float* cg = col + int64_t(b) * g.col_size() + int64_t(gr) * P * CKg;
      for (int o = 0; o < OCg; ++o) {
        const float* src = dy + int64_t(gr * OCg + o) * P;
        float sum = 0.f;
        for (int p = 0; p < P; ++p) {
          dy_t[int64_t(p) * OCg + o] = src[p];
          sum += src[p];
        }
        if (dbias) dbias[gr * OCg + o] += sum;
      }
      // dweight (OCg, CKg) += dy_t^T (OCg, P) x col (P, CKg): rows of col are contiguous in k
      for (int p = 0; p < P; ++p) {
        const float* row = cg + int64_t(p) * CKg;
        for (int o = 0; o < OCg; ++o) {
          const float a = dy_t[int64_t(p) * OCg + o];
          if (a == 0.f) continue;  // ReLU zeros are common
          float* dw = dweight + int64_t(gr * OCg + o) * CKg;
          for (int k = 0; k < CKg; ++k) dw[k] += a * row[k];
        }
      }
      if (!dx) continue;
      // dcol (P, CKg) = dy_t (P, OCg) x weight (OCg, CKg)
      for (int p = 0; p < P; ++p) {
        float* dc = dcol + int64_t(p) * CKg;
        std::memset(dc, 0, sizeof(float) * size_t(CKg));
        for (int o = 0; o < OCg; ++o) {
          const float a = dy_t[int64_t(p) * OCg + o];
          if (a == 0.f) continue;
          const float* w = weight + int64_t(gr * OCg + o) * CKg;
          for (int k = 0; k < CKg; ++k) dc[k] += a * w[k];
        }
      }
      col2im_add(dx, dcol, g, gr);
    }
  }
}

void max_pool2d_train_forward(float* out, int32_t* argmax, const float* inp, int B, int C, int H, int W, int K,
                              int stride) {
  const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
  for (int64_t bc = 0; bc < int64_t(B) * C; ++bc) {
    const float* x = inp + bc * H * W;
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        int best = (oh * stride) * W + ow * stride;
        for (int kh = 0; kh < K; ++kh)
          for (int kw = 0; kw < K; ++kw) {
            const int i = (oh * stride + kh) * W + ow * stride + kw;
            if (x[i] > x[best]) best = i;  // first maximum wins, as in PyTorch
          }
        out[bc * OH * OW + oh * OW + ow] = x[best];
        argmax[bc * OH * OW + oh * OW + ow] = best;
      }
  }
}

void max_pool2d_backward(float* dinp, const float* dout, const int32_t* argmax, int B, int C, int H, int W, int OH,
                         int OW) {
  std::memset(dinp, 0, sizeof(float) * size_t(B) * size_t(C) * size_t(H) * size_t(W));
  for (int64_t bc = 0; bc < int64_t(B) * C; ++bc)
    for (int i = 0; i < OH * OW; ++i) dinp[bc * H * W + argmax[bc * OH * OW + i]] += dout[bc * OH * OW + i];
}

void global_avg_pool_backward(float* dinp, const float* dout, int B, int C, int H, int W) {
  const float scale = 1.f / float(H * W);
  for (int64_t bc = 0; bc < int64_t(B) * C; ++bc)
    for (int i = 0; i < H * W; ++i) dinp[bc * H * W + i] = dout[bc] * scale;
}

float softmax_cross_entropy_forward(float* probs, const float* logits, const uint8_t* targets, int B, int V) {
  double loss = 0;
  for (int b = 0; b < B; ++b) {
    const float* z = logits + int64_t(b) * V;
    float* p = probs + int64_t(b) * V;
    float maxv = z[0];
    for (int v = 1; v < V; ++v) maxv = z[v] > maxv ? z[v] : maxv;
    double sum = 0;
    for (int v = 0; v < V; ++v) sum += std::exp(double(z[v] - maxv));
    for (int v = 0; v < V; ++v) p[v] = float(std::exp(double(z[v] - maxv)) / sum);
    // log-softmax computed directly, so a confident wrong answer gives a large finite loss, not inf
    loss += -(double(z[targets[b]] - maxv) - std::log(sum));
  }
  return float(loss / B);
}

void softmax_cross_entropy_backward(float* dlogits, const float* probs, const uint8_t* targets, int B, int V) {
  const float inv_b = 1.f / float(B);
  for (int b = 0; b < B; ++b) {
    for (int v = 0; v < V; ++v) {
      const float indicator = v == targets[b] ? 1.f : 0.f;
      dlogits[int64_t(b) * V + v] = (probs[int64_t(b) * V + v] - indicator) * inv_b;
    }
  }
}

}  // namespace digitlab
