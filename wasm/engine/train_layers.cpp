#include "train_layers.h"

#include <cmath>
#include <cstring>

namespace digitlab {

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int C, int OC) {
  for (int b = 0; b < B; ++b) {
    const float* x = inp + int64_t(b) * C;
    float* y = out + int64_t(b) * OC;
    for (int o = 0; o < OC; ++o) {
      const float* w = weight + int64_t(o) * C;
      float acc = bias ? bias[o] : 0.f;
      for (int c = 0; c < C; ++c) acc += w[c] * x[c];
      y[o] = acc;
    }
  }
}

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

void relu_forward(float* out, const float* inp, int64_t N) {
  for (int64_t i = 0; i < N; ++i) out[i] = inp[i] > 0.f ? inp[i] : 0.f;
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
