#include "xnn_engine.h"

#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "digitlab/error.h"
#include "digitlab/reference.h"
#include "network_layout.h"
#include "step_profile.h"
#include "winograd_conv.h"
#include "xnn_conv2d.h"
#include "xnn_support.h"

namespace digitlab {

// Lifecycle of one operator: created (weights packed) by the subclass constructor, reshape() when the
// batch size changes, run() = setup (binds this call's buffers) + run on every forward.
struct XnnEngine::Step {
  std::string description;
  Shape in, out;              // per image
  size_t layer = 0;           // index into the (folded) architecture's layers
  size_t last_layer = 0;      // the last layer it computes (a fused pool's index, else layer)
  bool nonnegative = false;   // output already clamped at 0, so a following ReLU is a no-op
  std::vector<float> output;  // (capacity, out.h, out.w, out.c)
  virtual ~Step() = default;
  virtual void reshape(size_t batch) = 0;
  virtual void run(const float* x, float* y) = 0;
};

namespace {

const float kNoMax = INFINITY;
float clamp_min(bool relu) { return relu ? 0.f : -INFINITY; }

class ConvStep : public XnnEngine::Step {
 public:
  ConvStep(const Layer& l, const float* weight, const float* bias, bool relu) : conv_(l, weight, bias, relu) {}
  void reshape(size_t batch) override { batch_ = int(batch); }  // XnnConv2d reshapes on a new size itself
  void run(const float* x, float* y) override { conv_.run(x, y, batch_, in.h, in.w); }

 private:
  XnnConv2d conv_;
  int batch_ = 0;
};

class WinogradConvStep : public XnnEngine::Step {
 public:
  WinogradConvStep(const Layer& l, const float* weight, const float* bias, bool relu, bool pool, int tile)
      : conv_(l, weight, bias, relu, pool, tile) {}
  void reshape(size_t batch) override { batch_ = int(batch); }  // WinogradConv3x3 resizes on a new size itself
  void run(const float* x, float* y) override { conv_.run(x, y, batch_, in.h, in.w); }

 private:
  WinogradConv3x3 conv_;
  int batch_ = 0;
};

// The 2x2 stride-2 max pool that a Winograd convolution at layer i can take over: the next layer
// that is not the identity or a ReLU (max pooling and ReLU commute). Returns its index, or 0.
size_t fusable_max_pool(const std::vector<Layer>& layers, size_t i) {
  for (size_t j = i + 1; j < layers.size(); ++j) {
    const Layer& l = layers[j];
    if (l.kind == LayerKind::relu || l.kind == LayerKind::dropout) continue;
    return l.kind == LayerKind::max_pool2d && l.kernel == 2 && l.stride == 2 ? j : 0;
  }
  return 0;
}

class MaxPoolStep : public XnnEngine::Step {
 public:
  MaxPoolStep(const Layer& l, bool relu) {
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, l.kernel, l.kernel, l.stride, l.stride, 1, 1,
                                                clamp_min(relu), kNoMax, 0, &op),
              "max pooling create");
    op_.reset(op);
  }
  void reshape(size_t batch) override {
    size_t oh = 0, ow = 0;
    xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(op_.get(), batch, in.h, in.w, in.c, in.c, in.c, &oh, &ow, nullptr),
              "max pooling reshape");
  }
  void run(const float* x, float* y) override {
    xnn_check(xnn_setup_max_pooling2d_nhwc_f32(op_.get(), x, y), "max pooling setup");
    xnn_check(xnn_run_operator(op_.get(), nullptr), "max pooling run");
  }

 private:
  XnnOperator op_;
};

// This XNNPACK has no global-average-pooling operator any more; its successor is the mean reduction,
// here over the pixel axis of (batch, h*w, c). f32 accumulates straight into the output: reshape
// reports a workspace, but it is for quantised types only, and passing one for f32 makes run call a
// null conversion kernel (XNNPACK's own subgraph passes none for f32 either).
class GlobalAvgPoolStep : public XnnEngine::Step {
 public:
  GlobalAvgPoolStep() {
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_reduce_nd(xnn_reduce_mean, xnn_datatype_fp32, nullptr, nullptr, 0, &op), "mean create");
    op_.reset(op);
  }
  void reshape(size_t batch) override {
    const int64_t axis = 1;
    const size_t shape[3] = {batch, size_t(in.h) * in.w, size_t(in.c)};
    size_t unused_size = 0, unused_alignment = 0;
    xnn_check(xnn_reshape_reduce_nd(op_.get(), 1, &axis, 3, shape, &unused_size, &unused_alignment, nullptr),
              "mean reshape");
  }
  void run(const float* x, float* y) override {
    xnn_check(xnn_setup_reduce_nd(op_.get(), /*workspace=*/nullptr, x, y), "mean setup");
    xnn_check(xnn_run_operator(op_.get(), nullptr), "mean run");
  }

 private:
  XnnOperator op_;
};

class FullyConnectedStep : public XnnEngine::Step {
 public:
  FullyConnectedStep(const Layer& l, const float* weight, const float* bias, bool relu) {
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_fully_connected_nc_f32(l.in_features, l.out_features, l.in_features, l.out_features, weight,
                                                bias, clamp_min(relu), kNoMax, 0, nullptr, nullptr, &op),
              "fully connected create");
    op_.reset(op);
  }
  void reshape(size_t batch) override {
    xnn_check(xnn_reshape_fully_connected_nc_f32(op_.get(), batch, nullptr), "fully connected reshape");
  }
  void run(const float* x, float* y) override {
    xnn_check(xnn_setup_fully_connected_nc_f32(op_.get(), x, y), "fully connected setup");
    xnn_check(xnn_run_operator(op_.get(), nullptr), "fully connected run");
  }

 private:
  XnnOperator op_;
};

// A ReLU with no operator before it to fuse into (first layer, or after global average pooling).
class ClampStep : public XnnEngine::Step {
 public:
  ClampStep() {
    xnn_unary_params params;
    params.clamp.min = 0.f;
    params.clamp.max = kNoMax;
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_unary_elementwise_nc(xnn_unary_clamp, xnn_datatype_fp32, xnn_datatype_fp32, &params, nullptr,
                                              nullptr, 0, &op),
              "clamp create");
    op_.reset(op);
  }
  void reshape(size_t batch) override {
    const size_t n = size_t(out.size());
    xnn_check(xnn_reshape_unary_elementwise_nc(op_.get(), batch, n, n, n, nullptr), "clamp reshape");
  }
  void run(const float* x, float* y) override {
    xnn_check(xnn_setup_unary_elementwise_nc(op_.get(), x, y), "clamp setup");
    xnn_check(xnn_run_operator(op_.get(), nullptr), "clamp run");
  }

 private:
  XnnOperator op_;
};

}  // namespace

XnnEngine::XnnEngine(const Model& model) : XnnEngine(model, Options()) {}

XnnEngine::XnnEngine(const Model& model, Options options) : options_(options) {
  infer_shapes(model.arch);
  validate_parameters(model.arch, model.params);
  if (!(std::isfinite(model.norm.mean) && std::isfinite(model.norm.std) && model.norm.std > 0.f))
    throw Error("model normalisation needs a finite mean and a positive std");
  const Model folded = fold_batch_norm(model);
  arch_ = folded.arch;
  norm_ = folded.norm;
  const std::vector<Shape> shapes = infer_shapes(arch_);
  xnn_ensure_initialized();

  auto param = [&](const Layer& l, const char* what) -> const float* {
    auto it = folded.params.find(l.name + "." + what);
    return it == folded.params.end() ? nullptr : it->second.data.data();
  };
  auto unsupported = [&](size_t i, const std::string& why) {
    return Error("layer " + std::to_string(i) + " (" + describe(arch_.layers[i]) + ") of '" + arch_.name +
                 "': the XNNPACK engine cannot run " + why);
  };
  Shape s = arch_.input;
  Shape flattened;  // the spatial map a flatten turned into features, until a linear layer takes them
  for (size_t i = 0; i < arch_.layers.size(); ++i) {
    const Layer& l = arch_.layers[i];
    const bool relu = relu_follows(arch_.layers, i);
    const bool nonnegative_in = !steps_.empty() && steps_.back()->nonnegative;
    std::unique_ptr<Step> step;
    size_t last = i;  // the last layer this step computes
    std::string fused_pool;
    bool clamps_at_zero = false;  // a Winograd step applies a ReLU found after its fused pool
    switch (l.kind) {
      case LayerKind::conv2d:
        if (flattened.size() > 0) throw unsupported(i, "a convolution on flattened features");
        // Winograd where its transforms cost less than the multiply-adds they save: not on a
        // one-channel input (9 multiply-adds per output and channel against 16 transform terms).
        if (options_.convolutions == Convolutions::winograd && WinogradConv3x3::supports(l) && l.in_channels >= 8) {
          const size_t pool = fusable_max_pool(arch_.layers, i);
          const bool fused_relu = relu || (pool && relu_follows(arch_.layers, pool));
          if (pool) {
            last = pool;
            fused_pool = " + " + describe(arch_.layers[pool]);
          }
          const int tile = WinogradConv3x3::preferred_tile(l, s.h, s.w, last != i);
          step = std::make_unique<WinogradConvStep>(l, param(l, "weight"), param(l, "bias"), fused_relu, last != i, tile);
          clamps_at_zero = fused_relu;
          ++winograd_steps_;
          if (fused_relu && !relu) fused_pool += " + relu";
          fused_pool += " (Winograd F(" + std::to_string(tile) + "x" + std::to_string(tile) + ",3x3))";
          break;
        }
        step = std::make_unique<ConvStep>(l, param(l, "weight"), param(l, "bias"), relu);
        break;
      case LayerKind::max_pool2d:
        if (l.kernel == 1 && l.stride == 1) break;  // the identity
        if (l.kernel == 1 || l.stride > l.kernel)
          throw unsupported(i, "max pooling with a 1x1 window or a stride larger than the window");
        step = std::make_unique<MaxPoolStep>(l, relu);
        break;
      case LayerKind::global_avg_pool:
        if (s.h * s.w > 1) step = std::make_unique<GlobalAvgPoolStep>();
        break;
      case LayerKind::linear:
        if (flattened.h * flattened.w > 1) {
          const std::vector<float> w = columns_chw_to_hwc(param(l, "weight"), l.out_features, flattened);
          step = std::make_unique<FullyConnectedStep>(l, w.data(), param(l, "bias"), relu);
        } else {
          step = std::make_unique<FullyConnectedStep>(l, param(l, "weight"), param(l, "bias"), relu);
        }
        flattened = Shape{};
        break;
      case LayerKind::relu:
        if (!nonnegative_in) step = std::make_unique<ClampStep>();
        break;
      case LayerKind::flatten:
        if (s.h * s.w > 1) flattened = s;
        break;
      case LayerKind::dropout: break;
      case LayerKind::batch_norm2d: throw unsupported(i, "an unfolded batch norm");
    }
    if (step) {
      const bool fused = relu && l.kind != LayerKind::relu && l.kind != LayerKind::global_avg_pool;
      step->description = describe(l) + (fused ? " + relu" : "") + fused_pool;
      step->in = s;
      step->out = shapes[last];
      step->layer = i;
      step->last_layer = last;
      step->nonnegative = fused || clamps_at_zero || l.kind == LayerKind::relu ||
                          (nonnegative_in && (l.kind == LayerKind::max_pool2d || l.kind == LayerKind::global_avg_pool));
      steps_.push_back(std::move(step));
    }
    // Layers a fused step computed (a ReLU and the pool) run nothing of their own; a ReLU after the
    // pool sees a nonnegative input and is skipped as usual.
    s = shapes[last];
    i = last;
  }
  output_map_ = flattened;


  size_t per_image = size_t(arch_.input.size());
  for (const auto& step : steps_) per_image += size_t(step->out.size());
  max_batch_ = int(std::min<size_t>(kMaxBatch, kActivationBudgetBytes / (per_image * sizeof(float))));
  if (max_batch_ < 1)
    throw Error("architecture '" + arch_.name + "' needs more activation memory per image than the engine allows");
}

XnnEngine::~XnnEngine() = default;

void XnnEngine::check_batch(int batch) const {
  if (batch < 1 || batch > max_batch_)
    throw Error("batch size " + std::to_string(batch) + " is out of range: the engine for '" + arch_.name +
                "' runs 1 to " + std::to_string(max_batch_) + " images per call");
}

void XnnEngine::prepare(const float* pixels, int batch) {
  check_batch(batch);
  if (!pixels) throw Error("the engine needs pixel and output buffers");
  const Shape in = arch_.input;
  if (batch > capacity_) {
    input_.resize(size_t(batch) * in.size());
    for (auto& step : steps_) step->output.resize(size_t(batch) * step->out.size());
    capacity_ = batch;
  }
  if (batch != batch_) {
    batch_ = 0;  // stays 0 if a reshape throws, so the next call reshapes again
    for (auto& step : steps_) step->reshape(size_t(batch));
    batch_ = batch;
  }
  normalise_to_nhwc(pixels, input_.data(), batch, in, norm_);
}

const float* XnnEngine::run_steps(size_t count) {
  const float* x = input_.data();
  for (size_t i = 0; i < count; ++i) {
    steps_[i]->run(x, steps_[i]->output.data());
    x = steps_[i]->output.data();
  }
  return x;
}

int XnnEngine::feature_size(size_t layer) const {
  if (layer > arch_.layers.size()) throw Error("no layer boundary " + std::to_string(layer) + " in '" + arch_.name + "'");
  return int(layer == 0 ? arch_.input.size() : infer_shapes(arch_)[layer - 1].size());
}

void XnnEngine::features_before(size_t layer, const float* pixels, int batch, float* features) {
  const int size = feature_size(layer);
  if (!features || !pixels) throw Error("features_before needs pixel and feature buffers");
  if (layer == 0) {  // the whole network trains: its input is the normalised image, already (c, h, w)
    check_batch(batch);
    for (size_t i = 0; i < size_t(batch) * size_t(size); ++i) features[i] = (pixels[i] - norm_.mean) / norm_.std;
    return;
  }
  // A ReLU at the boundary may have been fused into the step before it; applying it again in the
  // tail changes nothing (relu is idempotent), so the cut is exact either way.
  size_t count = 0;
  while (count < steps_.size() && steps_[count]->layer < layer) ++count;
  prepare(pixels, batch);
  const float* x = run_steps(count);
  if (count == 0) throw Error("features_before: layer " + std::to_string(layer) + " runs no operator before it");
  if (steps_[count - 1]->last_layer >= layer)
    throw Error("features_before: layer " + std::to_string(layer) + " is inside a fused step (" +
                steps_[count - 1]->description + "); cut an engine with direct convolutions there");
  const Shape m = steps_[count - 1]->out;
  if (int(m.size()) != size) throw Error("features_before: layers between the last operator and the cut change the shape");
  nhwc_to_nchw(x, features, batch, m.c, m.h, m.w);
}

void XnnEngine::forward(const float* pixels, int batch, float* logits) {
  if (!logits) throw Error("forward needs pixel and logit buffers");
  prepare(pixels, batch);
  const float* x = run_steps(steps_.size());
  // A network that ends in a flatten of a spatial map (no linear layer after it) answers in PyTorch's order.
  const Shape m = output_map_;
  if (m.size() > 0)
    nhwc_to_nchw(x, logits, batch, m.c, m.h, m.w);
  else
    std::copy(x, x + size_t(batch) * arch_.num_classes, logits);
}

std::vector<float> XnnEngine::forward(const float* pixels, int batch) {
  check_batch(batch);
  std::vector<float> logits(size_t(batch) * arch_.num_classes);
  forward(pixels, batch, logits.data());
  return logits;
}

std::vector<float> XnnEngine::probabilities(const float* pixels, int batch) {
  const std::vector<float> logits = forward(pixels, batch);
  std::vector<float> p(logits.size());
  softmax_forward(p.data(), logits.data(), batch, arch_.num_classes);
  return p;
}

std::vector<double> XnnEngine::profile(const float* pixels, int batch, int runs) {
  std::vector<float> logits(size_t(batch) * size_t(arch_.num_classes));
  forward(pixels, batch, logits.data());  // buffers and reshapes at this batch size
  return profile_steps(steps_.size(), runs, [&](size_t i) {
    steps_[i]->run(i ? steps_[i - 1]->output.data() : input_.data(), steps_[i]->output.data());
  });
}

std::vector<XnnEngine::StepInfo> XnnEngine::steps() const {
  std::vector<StepInfo> info;
  for (const auto& step : steps_) info.push_back({step->description, step->out, step->layer, step->last_layer});
  return info;
}

const float* XnnEngine::activation(size_t step) const {
  if (step >= steps_.size()) throw Error("the engine has no step " + std::to_string(step));
  return batch_ ? steps_[step]->output.data() : nullptr;
}

}  // namespace digitlab
