#include "optimizer.h"

#include <cmath>

#include "digitlab/error.h"

namespace digitlab {

Optimizer::Optimizer(const OptimizerOptions& o, size_t n) : o_(o) {
  if (o.kind != "adam" && o.kind != "sgd") throw Error("optimizer must be adam or sgd, not '" + o.kind + "'");
  if (!(o.lr > 0.f && o.lr < 10.f)) throw Error("learning rate must be in (0, 10)");
  if (!(o.weight_decay >= 0.f && o.momentum >= 0.f && o.momentum < 1.f)) throw Error("bad weight decay or momentum");
  m_.assign(n, 0.f);
  if (o.kind == "adam") v_.assign(n, 0.f);
}

void Optimizer::reset() {
  std::fill(m_.begin(), m_.end(), 0.f);
  std::fill(v_.begin(), v_.end(), 0.f);
  t_ = 0;
}

void Optimizer::step(float* p, float* g, TrainWorkspace& ws) {
  const size_t n = m_.size();
  if (o_.clip_grad_norm > 0.f) {
    double sq = 0;
    for (size_t i = 0; i < n; ++i) sq += double(g[i]) * g[i];
    const double norm = std::sqrt(sq);
    if (norm > o_.clip_grad_norm) {
      const float scale = float(o_.clip_grad_norm / (norm + 1e-6));
      parallel_ranges(ws, n, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i) g[i] *= scale;
      });
    }
  }
  ++t_;
  const float wd = o_.weight_decay, lr = o_.lr;
  if (o_.kind == "sgd") {
    const float mu = o_.momentum;
    parallel_ranges(ws, n, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) {
        const float grad = g[i] + wd * p[i];
        m_[i] = t_ == 1 ? grad : mu * m_[i] + grad;  // torch initialises the buffer with the first gradient
        p[i] -= lr * (mu > 0.f ? m_[i] : grad);
      }
    });
    return;
  }
  const float b1 = o_.beta1, b2 = o_.beta2;
  const float bc1 = 1.f - std::pow(b1, float(t_)), bc2 = 1.f - std::pow(b2, float(t_));
  const float step_size = lr / bc1, inv_sqrt_bc2 = 1.f / std::sqrt(bc2);
  parallel_ranges(ws, n, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      const float grad = g[i] + wd * p[i];
      m_[i] = b1 * m_[i] + (1.f - b1) * grad;
      v_[i] = b2 * v_[i] + (1.f - b2) * grad * grad;
      p[i] -= step_size * m_[i] / (std::sqrt(v_[i]) * inv_sqrt_bc2 + o_.eps);
    }
  });
}

}  // namespace digitlab
