#include "tail_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "digitlab/error.h"

namespace digitlab {
namespace {

size_t count_parameters(const Architecture& arch, size_t first) {
  size_t n = 0;
  for (size_t i = first; i < arch.layers.size(); ++i) {
    const Layer& l = arch.layers[i];
    if (l.kind == LayerKind::conv2d)
      n += size_t(l.out_channels) * size_t(l.in_channels / l.groups) * size_t(l.kernel) * size_t(l.kernel) +
           (l.bias ? size_t(l.out_channels) : 0);
    if (l.kind == LayerKind::linear)
      n += size_t(l.in_features) * size_t(l.out_features) + (l.bias ? size_t(l.out_features) : 0);
  }
  return n;
}

}  // namespace

TailTrainer::TailTrainer(const Model& model, size_t first_layer, const OptimizerOptions& options, uint64_t seed)
    : first_(first_layer),
      optimizer_(options, count_parameters(model.arch, std::min(first_layer, model.arch.layers.size()))), rng_(seed) {
  validate_parameters(model.arch, model.params);
  const Architecture& arch = model.arch;
  if (first_ >= arch.layers.size()) throw Error(arch.name + ": no layers from " + std::to_string(first_) + " on to train");
  const std::vector<Shape> shapes = infer_shapes(arch);
  input_ = first_ == 0 ? arch.input : shapes[first_ - 1];
  Shape s = input_;
  for (size_t i = first_; i < arch.layers.size(); ++i) {
    const Layer& l = arch.layers[i];
    if (l.kind == LayerKind::batch_norm2d)
      throw Error("layer " + std::to_string(i) + " (" + describe(l) + "): fold batch norm before training the tail");
    LayerState st;
    st.layer = l;
    st.in = s;
    st.out = shapes[i];
    const auto append = [&](const std::string& name) {
      const Tensor& t = model.params.at(name);
      const size_t at = params_.size();
      params_.insert(params_.end(), t.data.begin(), t.data.end());
      return at;
    };
    if (l.kind == LayerKind::conv2d || l.kind == LayerKind::linear) {
      st.weight = append(l.name + ".weight");
      st.has_bias = l.bias;
      if (l.bias) st.bias = append(l.name + ".bias");
    }
    if (l.kind == LayerKind::conv2d) {
      st.conv = ConvGeometry{s.c, s.h, s.w, l.out_channels, l.kernel, l.stride, l.padding, l.dilation, l.groups};
    }
    layers_.push_back(std::move(st));
    s = shapes[i];
  }
  if (s.size() != 10) throw Error(arch.name + " ends with " + std::to_string(s.size()) + " outputs, not 10 classes");
  grads_.assign(params_.size(), 0.f);
  acts_.resize(layers_.size());
  masks_.resize(layers_.size());
  dacts_.resize(layers_.size());
}

void TailTrainer::ensure_batch(int B) {
  if (B < 1 || B > 65536) throw Error("batch size must be between 1 and 65536, got " + std::to_string(B));
  if (B <= batch_capacity_) return;
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerState& st = layers_[i];
    acts_[i].resize(size_t(B) * size_t(st.out.size()));
    dacts_[i].resize(size_t(B) * size_t(st.out.size()));
    if (st.layer.kind == LayerKind::dropout) masks_[i].resize(size_t(B) * size_t(st.out.size()));
    if (st.layer.kind == LayerKind::max_pool2d) st.argmax.resize(size_t(B) * size_t(st.out.size()));
    if (st.layer.kind == LayerKind::conv2d) st.col.resize(size_t(B) * size_t(st.conv.col_size()));
  }
  probs_.resize(size_t(B) * 10);
  dinput_.resize(size_t(B) * size_t(input_.size()));
  batch_capacity_ = B;
}

void TailTrainer::forward(const float* inputs, int B, bool dropout) {
  ensure_batch(B);
  const float* x = inputs;
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerState& st = layers_[i];
    float* y = acts_[i].data();
    const int64_t n = int64_t(B) * st.out.size();
    const Layer& l = st.layer;
    switch (l.kind) {
      case LayerKind::conv2d:
        conv2d_train_forward(y, st.col.data(), x, params_.data() + st.weight,
                             st.has_bias ? params_.data() + st.bias : nullptr, st.conv, B, workspace_);
        break;
      case LayerKind::linear:
        linear_train_forward(y, x, params_.data() + st.weight, st.has_bias ? params_.data() + st.bias : nullptr, B,
                             int(st.in.size()), int(st.out.size()), workspace_);
        break;
      case LayerKind::relu: relu_train_forward(y, x, n, workspace_); break;
      case LayerKind::max_pool2d:
        max_pool2d_train_forward(y, st.argmax.data(), x, B, st.in.c, st.in.h, st.in.w, l.kernel, l.stride, workspace_);
        break;
      case LayerKind::global_avg_pool: global_avg_pool_forward(y, x, B, st.in.c, st.in.h, st.in.w); break;
      case LayerKind::dropout:
        if (dropout && l.p > 0.f) dropout_forward(y, masks_[i].data(), x, n, l.p, &rng_);
        else std::memcpy(y, x, sizeof(float) * size_t(n));
        break;
      case LayerKind::flatten: std::memcpy(y, x, sizeof(float) * size_t(n)); break;
      case LayerKind::batch_norm2d: break;  // refused by the constructor
    }
    x = y;
  }
}

float TailTrainer::forward_backward(const float* inputs, const uint8_t* labels, int B, bool dropout) {
  forward(inputs, B, dropout);
  for (int b = 0; b < B; ++b)
    if (labels[b] > 9) throw Error("label " + std::to_string(labels[b]) + " is not a digit");
  const float loss = softmax_cross_entropy_forward(probs_.data(), acts_.back().data(), labels, B, 10);
  std::fill(grads_.begin(), grads_.end(), 0.f);
  softmax_cross_entropy_backward(dacts_.back().data(), probs_.data(), labels, B, 10);
  for (size_t i = layers_.size(); i-- > 0;) {
    LayerState& st = layers_[i];
    const float* dout = dacts_[i].data();
    const float* in = i == 0 ? inputs : acts_[i - 1].data();
    const Layer& l = st.layer;
    // A training step needs no gradient for the tail's input (the frozen features): skipping it
    // saves a third of the head's arithmetic. Tests ask for it through forward_backward().
    if (i == 0 && skip_input_gradient_ && l.kind != LayerKind::conv2d && l.kind != LayerKind::linear) break;
    float* din = i == 0 ? (skip_input_gradient_ ? nullptr : dinput_.data()) : dacts_[i - 1].data();
    const int64_t n_in = int64_t(B) * st.in.size();
    switch (l.kind) {
      case LayerKind::conv2d:
        conv2d_backward(din, grads_.data() + st.weight, st.has_bias ? grads_.data() + st.bias : nullptr, dout,
                        st.col.data(), params_.data() + st.weight, st.conv, B, workspace_);
        break;
      case LayerKind::linear:
        linear_backward(din, grads_.data() + st.weight, st.has_bias ? grads_.data() + st.bias : nullptr, dout, in,
                        params_.data() + st.weight, B, int(st.in.size()), int(st.out.size()), workspace_);
        break;
      case LayerKind::relu: relu_backward(din, dout, acts_[i].data(), n_in, workspace_); break;
      case LayerKind::max_pool2d:
        max_pool2d_backward(din, dout, st.argmax.data(), B, st.in.c, st.in.h, st.in.w, st.out.h, st.out.w, workspace_);
        break;
      case LayerKind::global_avg_pool: global_avg_pool_backward(din, dout, B, st.in.c, st.in.h, st.in.w); break;
      case LayerKind::dropout:
        if (dropout && l.p > 0.f) dropout_backward(din, dout, masks_[i].data(), n_in);
        else std::memcpy(din, dout, sizeof(float) * size_t(n_in));
        break;
      case LayerKind::flatten: std::memcpy(din, dout, sizeof(float) * size_t(n_in)); break;
      case LayerKind::batch_norm2d: break;
    }
  }
  return loss;
}

TrainStepResult TailTrainer::train_step(const float* inputs, const uint8_t* labels, int B) {
  begin_step();
  accumulate(inputs, labels, B, B);
  return finish_step();
}

void TailTrainer::begin_step() {
  acc_parts_ = 0;  // acc_grads_ is zeroed only if a second part comes (a whole batch just swaps)
  acc_loss_ = 0;
  acc_correct_ = 0;
  acc_ok_ = true;
}

bool TailTrainer::accumulate(const float* inputs, const uint8_t* labels, int b, int total) {
  if (b > total)  // (b < 1 is refused by the forward pass, like any empty batch)
    throw Error("a part of " + std::to_string(b) + " samples is larger than its batch of " + std::to_string(total));
  if (!acc_ok_) return false;
  // A non-finite input can vanish behind a ReLU and leave a finite loss; never train on one.
  for (int64_t i = 0; i < int64_t(b) * input_.size(); ++i) {
    if (!std::isfinite(inputs[i])) {
      acc_loss_ = NAN;
      acc_ok_ = false;
      return false;
    }
  }
  skip_input_gradient_ = true;
  float loss = 0.f;
  try {
    loss = forward_backward(inputs, labels, b, /*dropout=*/true);
  } catch (...) {
    skip_input_gradient_ = false;
    throw;
  }
  skip_input_gradient_ = false;
  const float share = float(b) / float(total);  // batch mean = sum of part means weighted by size
  acc_loss_ += share * loss;
  if (!std::isfinite(loss)) {
    acc_ok_ = false;
    return false;
  }
  const float* logits = acts_.back().data();
  for (int k = 0; k < b; ++k)
    acc_correct_ += argmax(logits + k * 10, 10) == labels[k];
  if (b == total) {
    acc_grads_.resize(params_.size());  // (once) so that grads_ keeps its size after the swap
    acc_grads_.swap(grads_);  // the whole batch at once: exactly train_step's gradients
  } else {
    if (acc_parts_ == 0) acc_grads_.assign(params_.size(), 0.f);
    for (size_t i = 0; i < grads_.size(); ++i) acc_grads_[i] += share * grads_[i];
  }
  ++acc_parts_;
  return true;
}

TrainStepResult TailTrainer::finish_step() {
  TrainStepResult r;
  r.loss = acc_loss_;
  r.correct = acc_correct_;
  if (!acc_ok_) {
    r.ok = false;
    return r;
  }
  grads_.swap(acc_grads_);
  backup_ = params_;
  optimizer_.step(params_.data(), grads_.data(), workspace_);
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

void TailTrainer::predict(const float* inputs, int B, float* logits) {
  forward(inputs, B, /*dropout=*/false);
  std::memcpy(logits, acts_.back().data(), sizeof(float) * size_t(B) * 10);
}

void TailTrainer::write_to(Model& model) const {
  for (const LayerState& st : layers_) {
    if (st.layer.kind != LayerKind::linear && st.layer.kind != LayerKind::conv2d) continue;
    Tensor& w = model.params.at(st.layer.name + ".weight");
    std::copy_n(params_.begin() + long(st.weight), w.data.size(), w.data.begin());
    if (st.has_bias) {
      Tensor& b = model.params.at(st.layer.name + ".bias");
      std::copy_n(params_.begin() + long(st.bias), b.data.size(), b.data.begin());
    }
  }
}

}  // namespace digitlab
