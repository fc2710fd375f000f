#include "xnn_int8_engine.h"

#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "digitlab/error.h"
#include "network_layout.h"
#include "step_profile.h"
#include "xnn_conv2d.h"
#include "xnn_engine.h"
#include "xnn_support.h"

namespace digitlab {

// One operator. Its input and output are either f32 or int8 (NHWC), per the flags.
struct XnnInt8Engine::Step {
  std::string description;
  Shape out;  // per image
  bool int8_in = false, int8_out = false;
  std::vector<float> f32;   // output when !int8_out
  std::vector<int8_t> q8;   // output when int8_out
  virtual ~Step() = default;
  virtual void reshape(size_t batch) = 0;
  virtual void run(const void* x, size_t batch) = 0;
  void resize(size_t batch) {
    if (int8_out) q8.resize(batch * out.size());
    else f32.resize(batch * out.size());
  }
  const void* output() const { return int8_out ? static_cast<const void*>(q8.data()) : f32.data(); }
};

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

class F32ConvStep : public XnnInt8Engine::Step {
 public:
  F32ConvStep(const Layer& l, const float* w, const float* b, bool relu, Shape in) : conv_(l, w, b, relu), in_(in) {}
  void reshape(size_t) override {}
  void run(const void* x, size_t batch) override {
    conv_.run(static_cast<const float*>(x), f32.data(), int(batch), in_.h, in_.w);
  }

 private:
  XnnConv2d conv_;
  Shape in_;
};

class Q8ConvStep : public XnnInt8Engine::Step {
 public:
  Q8ConvStep(const Layer& l, const float* w_oihw, const float* bias, Quant in_q, Quant out_q, bool relu, Shape in)
      : in_(in) {
    const int K = l.kernel, gin = l.in_channels / l.groups, gout = l.out_channels / l.groups;
    // Per output channel: scale = max |w| / 127; weights in XNNPACK's OHWI order.
    std::vector<float> scales(size_t(l.out_channels));
    std::vector<int8_t> ohwi(size_t(l.out_channels) * K * K * gin);
    std::vector<int32_t> qbias(size_t(l.out_channels));
    for (int o = 0; o < l.out_channels; ++o) {
      float m = 0.f;
      for (int k = 0; k < gin * K * K; ++k) m = std::max(m, std::fabs(w_oihw[size_t(o) * gin * K * K + k]));
      scales[size_t(o)] = m > 0.f ? m / 127.f : 1.f;
      for (int i = 0; i < gin; ++i)
        for (int kh = 0; kh < K; ++kh)
          for (int kw = 0; kw < K; ++kw)
            ohwi[((size_t(o) * K + kh) * K + kw) * gin + i] = int8_t(std::lround(
                w_oihw[((size_t(o) * gin + i) * K + kh) * K + kw] / scales[size_t(o)]));
      const double b = bias ? bias[o] : 0.0;
      qbias[size_t(o)] = int32_t(std::lround(b / (double(in_q.scale) * scales[size_t(o)])));
    }
    const int8_t lo = relu ? int8_t(std::max(-128, out_q.zero_point)) : int8_t(-128);
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_convolution2d_nhwc_qs8_qc8w(
                  l.padding, l.padding, l.padding, l.padding, K, K, l.stride, l.stride, l.dilation, l.dilation,
                  l.groups, gin, gout, l.in_channels, l.out_channels, int8_t(in_q.zero_point), in_q.scale,
                  scales.data(), ohwi.data(), qbias.data(), int8_t(out_q.zero_point), out_q.scale, lo, 127, 0, nullptr,
                  nullptr, &op),
              "int8 convolution create");
    op_.reset(op);
  }
  void reshape(size_t batch) override {
    size_t size = 0, alignment = 0, oh = 0, ow = 0;
    xnn_check(xnn_reshape_convolution2d_nhwc_qs8_qc8w(op_.get(), batch, in_.h, in_.w, &size, &alignment, &oh, &ow, nullptr),
              "int8 convolution reshape");
    workspace_.resize(size, alignment);
  }
  void run(const void* x, size_t) override {
    xnn_check(xnn_setup_convolution2d_nhwc_qs8_qc8w(op_.get(), workspace_.data(), static_cast<const int8_t*>(x), q8.data()),
              "int8 convolution setup");
    xnn_check(xnn_run_operator(op_.get(), nullptr), "int8 convolution run");
  }

 private:
  XnnOperator op_;
  XnnWorkspace workspace_;
  Shape in_;
};

// Max pooling in either type; int8 keeps its input's quantisation (max commutes with it).
class MaxPoolStep : public XnnInt8Engine::Step {
 public:
  MaxPoolStep(const Layer& l, bool int8, Quant q, bool relu, Shape in) : in_(in) {
    xnn_operator_t op = nullptr;
    if (int8)
      xnn_check(xnn_create_max_pooling2d_nhwc_s8(0, 0, 0, 0, l.kernel, l.kernel, l.stride, l.stride, 1, 1,
                                                 relu ? int8_t(q.zero_point) : int8_t(-128), 127, 0, &op),
                "int8 max pooling create");
    else
      xnn_check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, l.kernel, l.kernel, l.stride, l.stride, 1, 1,
                                                  relu ? 0.f : -INFINITY, INFINITY, 0, &op),
                "max pooling create");
    op_.reset(op);
    int8_in = int8_out = int8;
  }
  void reshape(size_t batch) override {
    size_t oh = 0, ow = 0;
    const size_t c = size_t(in_.c);
    if (int8_out)
      xnn_check(xnn_reshape_max_pooling2d_nhwc_s8(op_.get(), batch, in_.h, in_.w, c, c, c, &oh, &ow, nullptr),
                "int8 max pooling reshape");
    else
      xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(op_.get(), batch, in_.h, in_.w, c, c, c, &oh, &ow, nullptr),
                "max pooling reshape");
  }
  void run(const void* x, size_t) override {
    if (int8_out)
      xnn_check(xnn_setup_max_pooling2d_nhwc_s8(op_.get(), static_cast<const int8_t*>(x), q8.data()), "int8 max pooling setup");
    else
      xnn_check(xnn_setup_max_pooling2d_nhwc_f32(op_.get(), static_cast<const float*>(x), f32.data()), "max pooling setup");
    xnn_check(xnn_run_operator(op_.get(), nullptr), "max pooling run");
  }

 private:
  XnnOperator op_;
  Shape in_;
};

// f32 -> int8 where the int8 part of the network begins.
class QuantizeStep : public XnnInt8Engine::Step {
 public:
  explicit QuantizeStep(Quant q) : q_(q) { int8_out = true; }
  void reshape(size_t) override {}
  void run(const void* x, size_t batch) override {
    // Round-to-nearest by the float instruction (std::lround is a library call: 40 us here for
    // conv1's pooled map under node, 8x this loop).
    const float* in = static_cast<const float*>(x);
    const float inv = 1.f / q_.scale, zp = float(q_.zero_point);
    for (size_t i = 0; i < batch * out.size(); ++i)
      q8[i] = int8_t(int(__builtin_rintf(std::clamp(in[i] * inv + zp, -128.f, 127.f))));
  }

 private:
  Quant q_;
};

// Global average pooling of an int8 map, straight to f32 (what follows is the f32 classifier).
class Q8GlobalAvgPoolStep : public XnnInt8Engine::Step {
 public:
  Q8GlobalAvgPoolStep(Quant q, Shape in) : q_(q), in_(in) { int8_in = true; }
  void reshape(size_t) override {}
  void run(const void* x, size_t batch) override {
    const int8_t* in = static_cast<const int8_t*>(x);
    const int hw = in_.h * in_.w, C = in_.c;
    for (size_t b = 0; b < batch; ++b)
      for (int c = 0; c < C; ++c) {
        int32_t sum = 0;
        for (int p = 0; p < hw; ++p) sum += in[(b * hw + p) * C + c];
        f32[b * C + c] = q_.scale * (float(sum) / float(hw) - float(q_.zero_point));
      }
  }

 private:
  Quant q_;
  Shape in_;
};

// A linear layer on an int8 input (a flattened int8 map): int8 weights per output row.
class Q8LinearStep : public XnnInt8Engine::Step {
 public:
  Q8LinearStep(const Layer& l, const std::vector<float>& w, const float* bias, Quant in_q, Quant out_q, bool relu) {
    std::vector<float> scales(size_t(l.out_features));
    std::vector<int8_t> qw(w.size());
    std::vector<int32_t> qb(size_t(l.out_features));
    for (int o = 0; o < l.out_features; ++o) {
      float m = 0.f;
      for (int i = 0; i < l.in_features; ++i) m = std::max(m, std::fabs(w[size_t(o) * l.in_features + i]));
      scales[size_t(o)] = m > 0.f ? m / 127.f : 1.f;
      for (int i = 0; i < l.in_features; ++i)
        qw[size_t(o) * l.in_features + i] = int8_t(std::lround(w[size_t(o) * l.in_features + i] / scales[size_t(o)]));
      qb[size_t(o)] = int32_t(std::lround((bias ? bias[o] : 0.0) / (double(in_q.scale) * scales[size_t(o)])));
    }
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_fully_connected_nc_qs8_qc8w(l.in_features, l.out_features, l.in_features, l.out_features,
                                                     int8_t(in_q.zero_point), in_q.scale, scales.data(), qw.data(),
                                                     qb.data(), int8_t(out_q.zero_point), out_q.scale,
                                                     relu ? int8_t(out_q.zero_point) : int8_t(-128), 127, 0, nullptr,
                                                     nullptr, &op),
              "int8 fully connected create");
    op_.reset(op);
    int8_in = int8_out = true;
  }
  void reshape(size_t batch) override {
    xnn_check(xnn_reshape_fully_connected_nc_qs8_qc8w(op_.get(), batch, nullptr), "int8 fully connected reshape");
  }
  void run(const void* x, size_t) override {
    xnn_check(xnn_setup_fully_connected_nc_qs8_qc8w(op_.get(), static_cast<const int8_t*>(x), q8.data()),
              "int8 fully connected setup");
    xnn_check(xnn_run_operator(op_.get(), nullptr), "int8 fully connected run");
  }

 private:
  XnnOperator op_;
};

// A linear layer in f32 (the last one: the logits keep full precision); dequantises an int8 input.
class F32LinearStep : public XnnInt8Engine::Step {
 public:
  F32LinearStep(const Layer& l, std::vector<float> w, const float* bias, bool relu, bool int8_input, Quant in_q)
      : w_(std::move(w)), b_(bias ? std::vector<float>(bias, bias + l.out_features) : std::vector<float>(size_t(l.out_features))),
        in_features_(l.in_features), relu_(relu), in_q_(in_q) {
    int8_in = int8_input;
  }
  void reshape(size_t batch) override { x_.resize(batch * size_t(in_features_)); }
  void run(const void* x, size_t batch) override {
    const float* in = static_cast<const float*>(x);
    if (int8_in) {
      const int8_t* q = static_cast<const int8_t*>(x);
      for (size_t i = 0; i < batch * size_t(in_features_); ++i) x_[i] = in_q_.scale * float(int(q[i]) - in_q_.zero_point);
      in = x_.data();
    }
    const int O = int(out.size());
    for (size_t b = 0; b < batch; ++b)
      for (int o = 0; o < O; ++o) {
        float s = b_[size_t(o)];
        const float* wr = &w_[size_t(o) * in_features_];
        const float* xr = in + b * size_t(in_features_);
        for (int i = 0; i < in_features_; ++i) s += wr[i] * xr[i];
        f32[b * O + o] = relu_ ? std::max(0.f, s) : s;
      }
  }

 private:
  std::vector<float> w_, b_, x_;
  int in_features_;
  bool relu_;
  Quant in_q_;
};

}  // namespace

ActivationCalibrator::ActivationCalibrator(const Model& model) : engine_(std::make_unique<XnnEngine>(model)) {
  ranges_.resize(engine_->architecture().layers.size() + 1);
}

ActivationCalibrator::~ActivationCalibrator() = default;

void ActivationCalibrator::add(const float* pixels, int count) {
  if (count < 1 || !pixels) throw Error("calibration needs at least one image");
  const auto steps = engine_->steps();
  const size_t per = engine_->architecture().input.size();
  std::vector<float> logits(size_t(64) * size_t(engine_->num_classes()));
  for (int b = 0; b < count; b += 64) {
    const int n = std::min(64, count - b);
    engine_->forward(pixels + size_t(b) * per, n, logits.data());
    for (size_t s = 0; s < steps.size(); ++s) {
      const float* a = engine_->activation(s);
      ActivationRange& r = ranges_[steps[s].layer];
      for (size_t k = 0; k < size_t(n) * steps[s].output.size(); ++k) {
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

XnnInt8Engine::XnnInt8Engine(const Model& model, const std::vector<ActivationRange>& ranges) {
  const Model folded = fold_batch_norm(model);
  arch_ = folded.arch;
  norm_ = folded.norm;
  if (ranges.size() != arch_.layers.size() + 1) throw Error("calibration ranges are for another network");
  xnn_ensure_initialized();
  auto param = [&](const Layer& l, const char* what) -> const float* {
    auto it = folded.params.find(l.name + "." + what);
    return it == folded.params.end() ? nullptr : it->second.data.data();
  };
  auto range_of = [&](size_t i) {
    if (!ranges[i].seen) throw Error("no calibration range for layer " + std::to_string(i));
    return quant_for(ranges[i]);
  };
  size_t last_linear = 0;
  for (size_t i = 0; i < arch_.layers.size(); ++i)
    if (arch_.layers[i].kind == LayerKind::linear) last_linear = i;

  const std::vector<Shape> shapes = infer_shapes(arch_);
  Shape s = arch_.input, flattened;
  bool int8 = false;  // whether the current activation is int8
  Quant q;            // its quantisation when it is
  size_t last_op = 0;  // layer of the latest operator: its calibrated range is the current activation's
  for (size_t i = 0; i < arch_.layers.size(); ++i) {
    const Layer& l = arch_.layers[i];
    const bool relu = relu_follows(arch_.layers, i);
    std::unique_ptr<Step> step;
    switch (l.kind) {
      case LayerKind::conv2d: {
        // Measured: a convolution with few input channels per group is slower in int8 than in f32.
        const bool want_int8 = int8 || l.in_channels / l.groups >= 8;
        if (want_int8 && !int8) {
          if (i == 0) throw Error("the int8 path keeps the first layer in f32");
          q = range_of(last_op);
          auto quantize = std::make_unique<QuantizeStep>(q);
          quantize->description = "quantize to int8";
          quantize->out = s;
          steps_.push_back(std::move(quantize));
          int8 = true;
        }
        if (int8) {
          const Quant out_q = range_of(i);
          step = std::make_unique<Q8ConvStep>(l, param(l, "weight"), param(l, "bias"), q, out_q, relu, s);
          step->int8_in = step->int8_out = true;
          step->description = l.name + " int8";
          q = out_q;
        } else {
          step = std::make_unique<F32ConvStep>(l, param(l, "weight"), param(l, "bias"), relu, s);
          step->description = l.name + " f32";
        }
        break;
      }
      case LayerKind::max_pool2d:
        if (l.kernel == 1 && l.stride == 1) break;
        step = std::make_unique<MaxPoolStep>(l, int8, q, relu, s);
        step->description = std::string("max pool ") + (int8 ? "int8" : "f32");
        break;
      case LayerKind::global_avg_pool:
        if (!int8 || relu) throw Error("the int8 path needs an int8 map, and no ReLU, around global average pooling");
        step = std::make_unique<Q8GlobalAvgPoolStep>(q, s);
        step->description = "global average pool int8 -> f32";
        int8 = false;
        break;
      case LayerKind::flatten:
        if (s.h * s.w > 1) flattened = s;
        break;
      case LayerKind::linear: {
        const float* w = param(l, "weight");
        std::vector<float> wv = flattened.h * flattened.w > 1 ? columns_chw_to_hwc(w, l.out_features, flattened)
                                                               : std::vector<float>(w, w + size_t(l.out_features) * l.in_features);
        flattened = Shape{};
        if (int8 && i != last_linear) {
          const Quant out_q = range_of(i);
          step = std::make_unique<Q8LinearStep>(l, wv, param(l, "bias"), q, out_q, relu);
          step->description = l.name + " int8";
          q = out_q;
        } else {
          step = std::make_unique<F32LinearStep>(l, std::move(wv), param(l, "bias"), relu, int8, q);
          step->description = l.name + " f32";
          int8 = false;
        }
        break;
      }
      case LayerKind::relu:
      case LayerKind::dropout:
        break;  // fused / the identity at inference
      case LayerKind::batch_norm2d:
        throw Error("batch norm should have been folded");
    }
    s = shapes[i];
    if (step) {
      step->out = s;
      steps_.push_back(std::move(step));
      last_op = i;
    }
  }
  if (steps_.empty() || steps_.back()->int8_out || steps_.back()->out.size() != int64_t(arch_.num_classes))
    throw Error("the int8 path needs the network to end in a linear layer");
}

XnnInt8Engine::~XnnInt8Engine() = default;

void XnnInt8Engine::forward(const float* pixels, int batch, float* logits) {
  if (batch < 1 || batch > XnnEngine::kMaxBatch) throw Error("batch must be between 1 and " + std::to_string(XnnEngine::kMaxBatch));
  if (!pixels || !logits) throw Error("the engine needs pixel and output buffers");
  const Shape in = arch_.input;
  if (batch != batch_) {
    batch_ = 0;
    input_.resize(size_t(batch) * in.size());
    for (auto& step : steps_) {
      step->resize(size_t(batch));
      step->reshape(size_t(batch));
    }
    batch_ = batch;
  }
  normalise_to_nhwc(pixels, input_.data(), batch, in, norm_);
  const void* x = input_.data();
  for (auto& step : steps_) {
    step->run(x, size_t(batch));
    x = step->output();
  }
  std::memcpy(logits, x, sizeof(float) * size_t(batch) * size_t(arch_.num_classes));
}

std::vector<float> XnnInt8Engine::forward(const float* pixels, int batch) {
  std::vector<float> out(size_t(std::max(batch, 0)) * size_t(arch_.num_classes));
  forward(pixels, batch, out.data());
  return out;
}

std::vector<double> XnnInt8Engine::profile(const float* pixels, int batch, int runs) {
  std::vector<float> logits(size_t(batch) * size_t(arch_.num_classes));
  forward(pixels, batch, logits.data());  // buffers and reshapes at this batch size
  return profile_steps(steps_.size(), runs, [&](size_t i) {
    steps_[i]->run(i ? steps_[i - 1]->output() : static_cast<const void*>(input_.data()), size_t(batch));
  });
}

std::vector<std::string> XnnInt8Engine::plan() const {
  std::vector<std::string> p;
  for (const auto& step : steps_) p.push_back(step->description);
  return p;
}

int XnnInt8Engine::int8_steps() const {
  int n = 0;
  for (const auto& step : steps_) n += step->int8_out ? 1 : 0;
  return n;
}

}  // namespace digitlab
