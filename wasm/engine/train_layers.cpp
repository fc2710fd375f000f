#include "train_layers.h"

#include "digitlab/random.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <vector>

namespace digitlab {

namespace {

void add_into(float* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace

void linear_train_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int C, int OC,
                          TrainWorkspace& ws) {
  matmul(out, inp, weight, bias, B, C, OC, false, ws);
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int B, int C, int OC, TrainWorkspace& ws) {
  if (dinp) matmul(dinp, dout, weight, nullptr, B, OC, C, true, ws);  // dout (B, OC) x weight (OC, C)
  float* dout_t = ws.floats(0, size_t(OC) * size_t(B));
  for (int b = 0; b < B; ++b)
    for (int o = 0; o < OC; ++o) dout_t[int64_t(o) * B + b] = dout[int64_t(b) * OC + o];
  float* dw = ws.floats(1, size_t(OC) * size_t(C));
  matmul(dw, dout_t, inp, nullptr, OC, B, C, true, ws);  // dout^T (OC, B) x inp (B, C)
  add_into(dweight, dw, size_t(OC) * size_t(C));
  if (dbias)
    for (int b = 0; b < B; ++b) add_into(dbias, dout + int64_t(b) * OC, size_t(OC));
}

void relu_train_forward(float* out, const float* inp, int64_t N, TrainWorkspace& ws) {
  parallel_ranges(ws, size_t(N), [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) out[i] = inp[i] > 0.f ? inp[i] : 0.f;
  });
}

void relu_backward(float* dinp, const float* dout, const float* out, int64_t N, TrainWorkspace& ws) {
  parallel_ranges(ws, size_t(N), [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) dinp[i] = out[i] > 0.f ? dout[i] : 0.f;
  });
}

void dropout_forward(float* out, float* mask, const float* inp, int64_t N, float p, uint64_t* rng_state) {
  const float keep_scale = 1.f / (1.f - p);
  for (int64_t i = 0; i < N; ++i) {
    const uint64_t z = splitmix64_next(*rng_state);
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

// Group gr's columns of every image, side by side: (B*P, CKg).
void gather_group(float* a, const float* col, const ConvGeometry& g, int gr, int B, TrainWorkspace& ws) {
  const int64_t block = int64_t(g.OH()) * g.OW() * (g.C / g.groups) * g.K * g.K;
  parallel_ranges(ws, size_t(B), [&](size_t b0, size_t b1) {
    for (int64_t b = int64_t(b0); b < int64_t(b1); ++b)
      std::memcpy(a + b * block, col + b * g.col_size() + int64_t(gr) * block, sizeof(float) * size_t(block));
  });
}

}  // namespace

void conv2d_train_forward(float* out, float* col, const float* inp, const float* weight, const float* bias,
                          const ConvGeometry& g, int B, TrainWorkspace& ws) {
  const int OCg = g.OC / g.groups, CKg = g.C / g.groups * g.K * g.K, P = g.OH() * g.OW();
  const int64_t rows = int64_t(B) * P;
  parallel_ranges(ws, size_t(B), [&](size_t b0, size_t b1) {
    for (int64_t b = int64_t(b0); b < int64_t(b1); ++b)
      for (int gr = 0; gr < g.groups; ++gr)
        im2col(col + b * g.col_size() + int64_t(gr) * P * CKg, inp + b * g.C * g.H * g.W, g, gr);
  });
  float* a = ws.floats(0, size_t(rows) * size_t(CKg));
  float* y = ws.floats(1, size_t(rows) * size_t(OCg));
  for (int gr = 0; gr < g.groups; ++gr) {
    const float* cols = col;  // (B*P, CKg) as it is when there is one group
    if (g.groups > 1) {
      gather_group(a, col, g, gr, B, ws);
      cols = a;
    }
    matmul(y, cols, weight + int64_t(gr) * OCg * CKg, bias ? bias + gr * OCg : nullptr, int(rows), CKg, OCg, false, ws);
    parallel_ranges(ws, size_t(B), [&](size_t b0, size_t b1) {
      for (int64_t b = int64_t(b0); b < int64_t(b1); ++b)  // (B*P, OCg) -> NCHW
        for (int o = 0; o < OCg; ++o) {
          float* dst = out + (b * g.OC + gr * OCg + o) * P;
          for (int p = 0; p < P; ++p) dst[p] = y[(b * P + p) * OCg + o];
        }
    });
  }
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* col,
                     const float* weight, const ConvGeometry& g, int B, TrainWorkspace& ws) {
  const int OCg = g.OC / g.groups, CKg = g.C / g.groups * g.K * g.K, P = g.OH() * g.OW();
  const int64_t rows = int64_t(B) * P;
  float* dy = ws.floats(0, size_t(rows) * size_t(OCg));  // (OCg, B*P), then (B*P, OCg)
  float* a = ws.floats(1, size_t(rows) * size_t(CKg));   // this group's columns, (B*P, CKg)
  float* tmp = ws.floats(2, std::max(size_t(OCg) * size_t(CKg), size_t(rows) * size_t(CKg)));
  if (dinp) std::memset(dinp, 0, sizeof(float) * size_t(B) * size_t(g.C) * size_t(g.H) * size_t(g.W));
  for (int gr = 0; gr < g.groups; ++gr) {
    const float* cols = col;
    if (g.groups > 1) {
      gather_group(a, col, g, gr, B, ws);
      cols = a;
    }
    parallel_ranges(ws, size_t(OCg), [&](size_t o0, size_t o1) {
      for (int o = int(o0); o < int(o1); ++o) {
        float sum = 0.f;  // each channel's bias gradient summed in the serial order
        for (int b = 0; b < B; ++b) {
          const float* src = dout + (int64_t(b) * g.OC + gr * OCg + o) * P;
          std::memcpy(dy + int64_t(o) * rows + int64_t(b) * P, src, sizeof(float) * size_t(P));
          for (int p = 0; p < P; ++p) sum += src[p];
        }
        if (dbias) dbias[gr * OCg + o] += sum;
      }
    });
    // dweight (OCg, CKg) += dy (OCg, B*P) x cols (B*P, CKg)
    matmul(tmp, dy, cols, nullptr, OCg, int(rows), CKg, true, ws);
    add_into(dweight + int64_t(gr) * OCg * CKg, tmp, size_t(OCg) * size_t(CKg));
    if (!dinp) continue;
    // dcols (B*P, CKg) = dy^T (B*P, OCg) x weight (OCg, CKg), then back onto the input
    float* dy_t = ws.floats(3, size_t(rows) * size_t(OCg));
    parallel_ranges(ws, size_t(rows), [&](size_t r0, size_t r1) {
      for (int64_t r = int64_t(r0); r < int64_t(r1); ++r)
        for (int o = 0; o < OCg; ++o) dy_t[r * OCg + o] = dy[int64_t(o) * rows + r];
    });
    matmul(tmp, dy_t, weight + int64_t(gr) * OCg * CKg, nullptr, int(rows), OCg, CKg, true, ws);
    parallel_ranges(ws, size_t(B), [&](size_t b0, size_t b1) {
      for (int64_t b = int64_t(b0); b < int64_t(b1); ++b)
        col2im_add(dinp + b * g.C * g.H * g.W, tmp + b * P * CKg, g, gr);
    });
  }
}

void max_pool2d_train_forward(float* out, int32_t* argmax, const float* inp, int B, int C, int H, int W, int K,
                              int stride, TrainWorkspace& ws) {
  const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
  parallel_ranges(ws, size_t(B) * size_t(C), [&](size_t bc0, size_t bc1) {
    for (int64_t bc = int64_t(bc0); bc < int64_t(bc1); ++bc) {
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
  });
}

void max_pool2d_backward(float* dinp, const float* dout, const int32_t* argmax, int B, int C, int H, int W, int OH,
                         int OW, TrainWorkspace& ws) {
  parallel_ranges(ws, size_t(B) * size_t(C), [&](size_t bc0, size_t bc1) {
    for (int64_t bc = int64_t(bc0); bc < int64_t(bc1); ++bc) {
      float* dx = dinp + bc * H * W;
      std::memset(dx, 0, sizeof(float) * size_t(H) * size_t(W));
      for (int i = 0; i < OH * OW; ++i) dx[argmax[bc * OH * OW + i]] += dout[bc * OH * OW + i];
    }
  });
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
