#include "xnn_int8_engine.h"

#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "digitlab/error.h"
#include "engine_steps.h"
#include "network_layout.h"
#include "operator_plan.h"
#include "xnn_engine.h"

namespace digitlab {
namespace {

// Affine int8 quantisation of one tensor: real = scale * (q - zero_point).
struct Quant {
  float scale = 1.f;
  int zero_point = 0;
};

// The whole measured range, widened to include 0 (so zero padding is exact and ReLU is a clamp).
Quant quant_for(const ActivationRange& r) {
  const float lo = std::min(0.f, r.min), hi = std::max(0.f, r.max);
  Quant q;
  q.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
  q.zero_point = int(std::clamp(std::lround(-128.0 - double(lo) / q.scale), -128L, 127L));
  return q;
}

// Weights of rows output channels (row_size values each) in int8 with one scale per row,
// max |w| / 127, and the bias in int32 at input scale x row scale, as XNNPACK's qc8w operators take them.
struct PerChannelInt8 {
  std::vector<float> scales;
  std::vector<int8_t> weights;
  std::vector<int32_t> bias;
};
PerChannelInt8 quantize_per_channel(const float* w, int rows, int row_size, const float* bias, float input_scale) {
  PerChannelInt8 q;
  q.scales.resize(size_t(rows));
  q.weights.resize(size_t(rows) * size_t(row_size));
  q.bias.resize(size_t(rows));
  for (int o = 0; o < rows; ++o) {
    const float* row = w + size_t(o) * row_size;
    float m = 0.f;
    for (int k = 0; k < row_size; ++k) m = std::max(m, std::fabs(row[k]));
    const float scale = m > 0.f ? m / 127.f : 1.f;
    q.scales[size_t(o)] = scale;
    for (int k = 0; k < row_size; ++k) q.weights[size_t(o) * row_size + k] = int8_t(std::lround(row[k] / scale));
    q.bias[size_t(o)] = int32_t(std::lround((bias ? bias[o] : 0.0) / (double(input_scale) * scale)));
  }
  return q;
}

class Q8ConvStep : public XnnOperatorStep {
 public:
  Q8ConvStep(const PlannedOp& op, Quant in_q, Quant out_q) : XnnOperatorStep(op.out, ElementType::s8), in_(op.in) {
    const Layer& l = op.def;
    const int K = l.kernel, gin = l.in_channels / l.groups, gout = l.out_channels / l.groups;
    const std::vector<float> ohwi = oihw_to_ohwi(op.weight, l);  // scales are per output row either way
    const PerChannelInt8 q = quantize_per_channel(ohwi.data(), l.out_channels, K * K * gin, op.bias, in_q.scale);
    const int8_t lo = op.relu ? int8_t(std::max(-128, out_q.zero_point)) : int8_t(-128);
    xnn_operator_t x = nullptr;
    xnn_check(xnn_create_convolution2d_nhwc_qs8_qc8w(
                  l.padding, l.padding, l.padding, l.padding, K, K, l.stride, l.stride, l.dilation, l.dilation,
                  l.groups, gin, gout, l.in_channels, l.out_channels, int8_t(in_q.zero_point), in_q.scale,
                  q.scales.data(), q.weights.data(), q.bias.data(), int8_t(out_q.zero_point), out_q.scale, lo, 127, 0,
                  nullptr, nullptr, &x),
              "int8 convolution create");
    op_.reset(x);
  }
  void reshape(size_t batch) override {
    size_t size = 0, alignment = 0, oh = 0, ow = 0;
    xnn_check(xnn_reshape_convolution2d_nhwc_qs8_qc8w(op_.get(), batch, in_.h, in_.w, &size, &alignment, &oh, &ow, xnn_threadpool()),
              "int8 convolution reshape");
    workspace_.resize(size, alignment);
  }
  void run(const void* x, void* y) override {
    xnn_check(xnn_setup_convolution2d_nhwc_qs8_qc8w(op_.get(), workspace_.data(), static_cast<const int8_t*>(x),
                                                     static_cast<int8_t*>(y)),
              "int8 convolution setup");
    xnn_check(xnn_run_operator(op_.get(), xnn_threadpool()), "int8 convolution run");
  }

 private:
  XnnWorkspace workspace_;
  Shape in_;
};

// A linear layer on an int8 input (a flattened int8 map): int8 weights per output row.
class Q8LinearStep : public XnnOperatorStep {
 public:
  Q8LinearStep(const PlannedOp& op, Quant in_q, Quant out_q) : XnnOperatorStep(op.out, ElementType::s8) {
    const Layer& l = op.def;
    const PerChannelInt8 q = quantize_per_channel(op.weight, l.out_features, l.in_features, op.bias, in_q.scale);
    xnn_operator_t x = nullptr;
    xnn_check(xnn_create_fully_connected_nc_qs8_qc8w(l.in_features, l.out_features, l.in_features, l.out_features,
                                                     int8_t(in_q.zero_point), in_q.scale, q.scales.data(), q.weights.data(),
                                                     q.bias.data(), int8_t(out_q.zero_point), out_q.scale,
                                                     op.relu ? int8_t(out_q.zero_point) : int8_t(-128), 127, 0, nullptr,
                                                     nullptr, &x),
              "int8 fully connected create");
    op_.reset(x);
  }
  void reshape(size_t batch) override {
    xnn_check(xnn_reshape_fully_connected_nc_qs8_qc8w(op_.get(), batch, xnn_threadpool()), "int8 fully connected reshape");
  }
  void run(const void* x, void* y) override {
    xnn_check(xnn_setup_fully_connected_nc_qs8_qc8w(op_.get(), static_cast<const int8_t*>(x), static_cast<int8_t*>(y)),
              "int8 fully connected setup");
    xnn_check(xnn_run_operator(op_.get(), xnn_threadpool()), "int8 fully connected run");
  }
};

// The small conversions between the f32 and int8 parts, batch x size values each: f32 -> int8 where
// the int8 part of the network begins, int8 -> f32 before the last (f32) linear layer.
class ConvertStep : public EngineStep {
 public:
  ConvertStep(Quant q, Shape s, ElementType to) : EngineStep(s, to), q_(q) {}
  void reshape(size_t batch) override { count_ = batch * size_t(out_shape().size()); }
  void run(const void* x, void* y) override {
    if (out_type() == ElementType::s8) {
      // Round-to-nearest by the float instruction (std::lround is a library call: 40 us here for
      // conv1's pooled map under node, 8x this loop).
      const float* in = static_cast<const float*>(x);
      int8_t* out = static_cast<int8_t*>(y);
      const float inv = 1.f / q_.scale, zp = float(q_.zero_point);
      for (size_t i = 0; i < count_; ++i) out[i] = int8_t(int(__builtin_rintf(std::clamp(in[i] * inv + zp, -128.f, 127.f))));
    } else {
      const int8_t* in = static_cast<const int8_t*>(x);
      float* out = static_cast<float*>(y);
      for (size_t i = 0; i < count_; ++i) out[i] = q_.scale * float(int(in[i]) - q_.zero_point);
    }
  }

 private:
  Quant q_;
  size_t count_ = 0;
};

// Global average pooling of an int8 map, straight to f32 (what follows is the f32 classifier).
class Q8GlobalAvgPoolStep : public EngineStep {
 public:
  Q8GlobalAvgPoolStep(Quant q, Shape in, Shape out) : EngineStep(out, ElementType::f32), q_(q), in_(in) {}
  void reshape(size_t batch) override { batch_ = batch; }
  void run(const void* x, void* y) override {
    const int8_t* in = static_cast<const int8_t*>(x);
    float* out = static_cast<float*>(y);
    const int hw = in_.h * in_.w, C = in_.c;
    for (size_t b = 0; b < batch_; ++b)
      for (int c = 0; c < C; ++c) {
        int32_t sum = 0;
        for (int p = 0; p < hw; ++p) sum += in[(b * hw + p) * C + c];
        out[b * C + c] = q_.scale * (float(sum) / float(hw) - float(q_.zero_point));
      }
  }

 private:
  Quant q_;
  Shape in_;
  size_t batch_ = 0;
};

}  // namespace

ActivationCalibrator::ActivationCalibrator(const Model& model) : engine_(std::make_unique<XnnEngine>(model)) {
  ranges_.resize(engine_->architecture().layers.size() + 1);
}

ActivationCalibrator::~ActivationCalibrator() = default;

void ActivationCalibrator::add(const float* pixels, int count) {
  if (count < 1 || !pixels) throw Error("calibration needs at least one image");
  const auto steps = engine_->steps();
  const size_t per = size_t(engine_->input_size());
  std::vector<float> logits(size_t(64) * size_t(engine_->num_classes()));
  for (int b = 0; b < count; b += 64) {
    const int n = std::min(64, count - b);
    engine_->forward(pixels + size_t(b) * per, n, logits.data());
    for (size_t s = 0; s < steps.size(); ++s) {
      const float* a = engine_->activation(s);
      ActivationRange& r = ranges_[steps[s].layer];
      for (size_t k = 0; k < size_t(n) * size_t(steps[s].output.size()); ++k) {
        r.min = r.seen ? std::min(r.min, a[k]) : a[k];
        r.max = r.seen ? std::max(r.max, a[k]) : a[k];
        r.seen = true;
      }
    }
  }
  images_ += count;
}

std::vector<ActivationRange> calibrate_activation_ranges(const Model& model, const float* pixels, int count) {
  ActivationCalibrator c(model);
  c.add(pixels, count);
  return c.ranges();
}

XnnInt8Engine::XnnInt8Engine(const Model& model, const float* calibration_pixels, int calibration_count)
    : XnnInt8Engine(model, calibrate_activation_ranges(model, calibration_pixels, calibration_count)) {}

XnnInt8Engine::XnnInt8Engine(const Model& model, const std::vector<ActivationRange>& ranges)
    : chain_(std::make_unique<StepChain>()) {
  const OperatorPlan plan(model, OperatorPlan::Options{});
  arch_ = plan.architecture();
  norm_ = plan.normalization();
  if (ranges.size() != arch_.layers.size() + 1) throw Error("calibration ranges are for another network");
  xnn_ensure_initialized();
  auto range_of = [&](size_t layer) {
    if (!ranges[layer].seen) throw Error("no calibration range for layer " + std::to_string(layer));
    return quant_for(ranges[layer]);
  };
  size_t last_linear = 0;
  for (const PlannedOp& op : plan.ops())
    if (op.kind == PlannedOp::Kind::linear) last_linear = op.layer;

  bool int8 = false;   // whether the current activation is int8
  Quant q;             // its quantisation when it is
  size_t last_op = 0;  // layer of the latest operator: its calibrated range is the current activation's
  auto add = [&](std::unique_ptr<EngineStep> step, std::string description) {
    int8_steps_ += step->out_type() == ElementType::s8;
    chain_->add(std::move(step));
    descriptions_.push_back(std::move(description));
  };
  for (const PlannedOp& op : plan.ops()) {
    const Layer& l = op.def;
    switch (op.kind) {
      case PlannedOp::Kind::conv2d: {
        // Measured: a convolution with few input channels per group is slower in int8 than in f32.
        if (!int8 && l.in_channels / l.groups >= 8) {
          if (op.layer == 0) throw Error("the int8 path keeps the first layer in f32");
          q = range_of(last_op);
          add(std::make_unique<ConvertStep>(q, op.in, ElementType::s8), "quantize to int8");
          int8 = true;
        }
        if (int8) {
          const Quant out_q = range_of(op.layer);
          add(std::make_unique<Q8ConvStep>(op, q, out_q), l.name + " int8");
          q = out_q;
        } else {
          add(std::make_unique<ConvStep>(l, op.weight, op.bias, op.relu, op.in, op.out), l.name + " f32");
        }
        break;
      }
      case PlannedOp::Kind::max_pool2d:
        add(std::make_unique<MaxPoolStep>(l, int8 ? ElementType::s8 : ElementType::f32, op.relu, q.zero_point, op.in, op.out),
            std::string("max pool ") + (int8 ? "int8" : "f32"));
        break;
      case PlannedOp::Kind::global_avg_pool:
        if (!int8) throw Error("the int8 path needs an int8 map before global average pooling");
        add(std::make_unique<Q8GlobalAvgPoolStep>(q, op.in, op.out), "global average pool int8 -> f32");
        int8 = false;
        break;
      case PlannedOp::Kind::linear:
        if (int8 && op.layer != last_linear) {
          const Quant out_q = range_of(op.layer);
          add(std::make_unique<Q8LinearStep>(op, q, out_q), l.name + " int8");
          q = out_q;
          break;
        }
        if (int8) add(std::make_unique<ConvertStep>(q, op.in, ElementType::f32), "dequantize to f32");
        add(std::make_unique<FullyConnectedStep>(l, op.weight, op.bias, op.relu, op.out), l.name + " f32");
        int8 = false;
        break;
      case PlannedOp::Kind::relu:
        if (int8) throw Error("the int8 path has no ReLU of its own for layer " + std::to_string(op.layer));
        add(std::make_unique<ClampStep>(op.out), "relu f32");
        break;
      case PlannedOp::Kind::winograd_conv2d: throw Error("the int8 path plans direct convolutions only");
    }
    last_op = op.layer;
  }
  if (plan.ops().empty() || int8 || plan.ops().back().kind != PlannedOp::Kind::linear ||
      plan.ops().back().out.size() != int64_t(arch_.num_classes))
    throw Error("the int8 path needs the network to end in a linear layer");
}

XnnInt8Engine::~XnnInt8Engine() = default;

const float* XnnInt8Engine::input(const float* pixels, int batch) {
  if (batch < 1 || batch > XnnEngine::kMaxBatch) throw Error("batch must be between 1 and " + std::to_string(XnnEngine::kMaxBatch));
  if (!pixels) throw Error("the engine needs pixel and output buffers");
  const size_t n = size_t(batch) * size_t(arch_.input.size());
  if (input_.size() < n) input_.resize(n);
  normalise_to_nhwc(pixels, input_.data(), batch, arch_.input, norm_);
  return input_.data();
}

void XnnInt8Engine::forward(const float* pixels, int batch, float* logits) {
  if (!logits) throw Error("the engine needs pixel and output buffers");
  const void* x = chain_->run(input(pixels, batch), size_t(batch), chain_->size());
  std::memcpy(logits, x, sizeof(float) * size_t(batch) * size_t(arch_.num_classes));
}

std::vector<float> XnnInt8Engine::forward(const float* pixels, int batch) {
  std::vector<float> out(size_t(std::max(batch, 0)) * size_t(arch_.num_classes));
  forward(pixels, batch, out.data());
  return out;
}

std::vector<double> XnnInt8Engine::profile(const float* pixels, int batch, int runs) {
  return chain_->profile(input(pixels, batch), size_t(batch), runs);
}

}  // namespace digitlab
