#include "head_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "digitlab/error.h"
#include "train_layers.h"

namespace digitlab {
namespace {

bool is_head_kind(LayerKind k) {
  return k == LayerKind::linear || k == LayerKind::relu || k == LayerKind::dropout || k == LayerKind::flatten;
}

size_t head_start(const Architecture& arch) {
  size_t first = arch.layers.size();
  while (first > 0 && is_head_kind(arch.layers[first - 1].kind)) --first;
  return first;
}

size_t count_parameters(const Architecture& arch, size_t first) {
  size_t n = 0;
  for (size_t i = first; i < arch.layers.size(); ++i) {
    const Layer& l = arch.layers[i];
    if (l.kind == LayerKind::linear) n += size_t(l.in_features) * size_t(l.out_features) + (l.bias ? size_t(l.out_features) : 0);
  }
  return n;
}

}  // namespace

HeadTrainer::HeadTrainer(const Model& model, const OptimizerOptions& options, uint64_t seed)
    : first_(head_start(model.arch)),
      optimizer_(options, count_parameters(model.arch, head_start(model.arch))),
      rng_(seed) {
  validate_parameters(model.arch, model.params);
  const Architecture& arch = model.arch;
  if (first_ == arch.layers.size()) throw Error(arch.name + " has no classifier head (linear layers at its end) to train");
  const std::vector<Shape> shapes = infer_shapes(arch);
  features_ = int(first_ == 0 ? arch.input.size() : shapes[first_ - 1].size());
  int width = features_;
  for (size_t i = first_; i < arch.layers.size(); ++i) {
    const Layer& l = arch.layers[i];
    Step s;
    s.layer = l;
    s.in = width;
    s.out = l.kind == LayerKind::linear ? l.out_features : width;
    if (l.kind == LayerKind::linear) {
      const Tensor& w = model.params.at(l.name + ".weight");
      s.weight = params_.size();
      params_.insert(params_.end(), w.data.begin(), w.data.end());
      s.has_bias = l.bias;
      if (l.bias) {
        const Tensor& b = model.params.at(l.name + ".bias");
        s.bias = params_.size();
        params_.insert(params_.end(), b.data.begin(), b.data.end());
      }
    }
    width = s.out;
    steps_.push_back(s);
  }
  if (width != 10) throw Error(arch.name + "'s head ends with " + std::to_string(width) + " outputs, not 10 classes");
  grads_.assign(params_.size(), 0.f);
  acts_.resize(steps_.size());
  masks_.resize(steps_.size());
  dacts_.resize(steps_.size());
}

void HeadTrainer::ensure_batch(int B) {
  if (B < 1 || B > 65536) throw Error("batch size must be between 1 and 65536, got " + std::to_string(B));
  if (B <= batch_capacity_) return;
  for (size_t i = 0; i < steps_.size(); ++i) {
    acts_[i].resize(size_t(B) * size_t(steps_[i].out));
    dacts_[i].resize(size_t(B) * size_t(steps_[i].out));
    if (steps_[i].layer.kind == LayerKind::dropout) masks_[i].resize(size_t(B) * size_t(steps_[i].out));
  }
  probs_.resize(size_t(B) * 10);
  dinput_.resize(size_t(B) * size_t(features_));
  batch_capacity_ = B;
}

void HeadTrainer::forward(const float* features, int B, bool dropout) {
  ensure_batch(B);
  const float* x = features;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    float* y = acts_[i].data();
    const int64_t n = int64_t(B) * s.out;
    switch (s.layer.kind) {
      case LayerKind::linear:
        linear_forward(y, x, params_.data() + s.weight, s.has_bias ? params_.data() + s.bias : nullptr, B, s.in, s.out);
        break;
      case LayerKind::relu: relu_forward(y, x, n); break;
      case LayerKind::dropout:
        if (dropout && s.layer.p > 0.f) dropout_forward(y, masks_[i].data(), x, n, s.layer.p, &rng_);
        else std::memcpy(y, x, sizeof(float) * size_t(n));
        break;
      default: std::memcpy(y, x, sizeof(float) * size_t(n)); break;  // flatten: already flat
    }
    x = y;
  }
}

float HeadTrainer::forward_backward(const float* features, const uint8_t* labels, int B, bool dropout) {
  forward(features, B, dropout);
  for (int b = 0; b < B; ++b) {
    if (labels[b] > 9) throw Error("label " + std::to_string(labels[b]) + " is not a digit");
  }
  const float loss = softmax_cross_entropy_forward(probs_.data(), acts_.back().data(), labels, B, 10);
  std::fill(grads_.begin(), grads_.end(), 0.f);
  softmax_cross_entropy_backward(dacts_.back().data(), probs_.data(), labels, B, 10);
  for (size_t i = steps_.size(); i-- > 0;) {
    const Step& s = steps_[i];
    const float* dout = dacts_[i].data();
    const float* in = i == 0 ? features : acts_[i - 1].data();
    float* din = i == 0 ? dinput_.data() : dacts_[i - 1].data();
    const int64_t n = int64_t(B) * s.in;
    switch (s.layer.kind) {
      case LayerKind::linear:
        linear_backward(din, grads_.data() + s.weight, s.has_bias ? grads_.data() + s.bias : nullptr, dout, in,
                        params_.data() + s.weight, B, s.in, s.out);
        break;
      case LayerKind::relu: relu_backward(din, dout, acts_[i].data(), n); break;
      case LayerKind::dropout:
        if (dropout && s.layer.p > 0.f) dropout_backward(din, dout, masks_[i].data(), n);
        else std::memcpy(din, dout, sizeof(float) * size_t(n));
        break;
      default: std::memcpy(din, dout, sizeof(float) * size_t(n)); break;
    }
  }
  return loss;
}

HeadStep HeadTrainer::train_step(const float* features, const uint8_t* labels, int B) {
  HeadStep r;
  r.loss = forward_backward(features, labels, B, /*dropout=*/true);
  if (!std::isfinite(r.loss)) {
    r.ok = false;
    return r;
  }
  backup_ = params_;
  optimizer_.step(params_.data(), grads_.data());
  for (float p : params_) {
    if (!std::isfinite(p)) {
      params_ = backup_;
      optimizer_.reset();
      r.ok = false;
      return r;
    }
  }
  return r;
}

void HeadTrainer::predict(const float* features, int B, float* logits) {
  forward(features, B, /*dropout=*/false);
  std::memcpy(logits, acts_.back().data(), sizeof(float) * size_t(B) * 10);
}

void HeadTrainer::write_to(Model& model) const {
  for (const Step& s : steps_) {
    if (s.layer.kind != LayerKind::linear) continue;
    Tensor& w = model.params.at(s.layer.name + ".weight");
    std::copy_n(params_.begin() + long(s.weight), w.data.size(), w.data.begin());
    if (s.has_bias) {
      Tensor& b = model.params.at(s.layer.name + ".bias");
      std::copy_n(params_.begin() + long(s.bias), b.data.size(), b.data.begin());
    }
  }
}

}  // namespace digitlab
