#include "engine_steps.h"

#include <xnnpack.h>

#include <cmath>

#include "digitlab/error.h"
#include "step_profile.h"

namespace digitlab {

void StepChain::add(std::unique_ptr<EngineStep> step) {
  steps_.push_back(std::move(step));
  outputs_.emplace_back();
  capacity_ = batch_ = 0;  // buffers and shapes are set up again on the next run
}

size_t StepChain::bytes_per_image() const {
  size_t n = 0;
  for (const auto& s : steps_) n += s->out_bytes_per_image();
  return n;
}

void StepChain::prepare(size_t batch) {
  if (batch > capacity_) {
    for (size_t i = 0; i < steps_.size(); ++i) outputs_[i].resize(batch * steps_[i]->out_bytes_per_image());
    capacity_ = batch;
  }
  if (batch != batch_) {
    batch_ = 0;  // stays 0 if a reshape throws, so the next call reshapes again
    for (auto& s : steps_) s->reshape(batch);
    batch_ = batch;
  }
}

const void* StepChain::run(const void* input, size_t batch, size_t count) {
  prepare(batch);
  const void* x = input;
  for (size_t i = 0; i < count && i < steps_.size(); ++i) {
    steps_[i]->run(x, outputs_[i].data());
    x = outputs_[i].data();
  }
  return x;
}

std::vector<double> StepChain::profile(const void* input, size_t batch, int runs) {
  run(input, batch, steps_.size());
  return profile_steps(steps_.size(), runs, [&](size_t i) {
    steps_[i]->run(i ? outputs_[i - 1].data() : input, outputs_[i].data());
  });
}

const void* StepChain::output(size_t step) const {
  if (step >= steps_.size()) throw Error("the engine has no step " + std::to_string(step));
  return batch_ ? outputs_[step].data() : nullptr;
}

ConvStep::ConvStep(const Layer& conv, const float* weight, const float* bias, bool relu, Shape in, Shape out)
    : EngineStep(out, ElementType::f32), conv_(conv, weight, bias, relu), in_(in) {}

MaxPoolStep::MaxPoolStep(const Layer& l, ElementType type, bool relu, int zero_point, Shape in, Shape out)
    : XnnOperatorStep(out, type), in_(in) {
  xnn_operator_t op = nullptr;
  if (type == ElementType::s8)
    xnn_check(xnn_create_max_pooling2d_nhwc_s8(0, 0, 0, 0, l.kernel, l.kernel, l.stride, l.stride, 1, 1,
                                               relu ? int8_t(zero_point) : int8_t(-128), 127, 0, &op),
              "int8 max pooling create");
  else
    xnn_check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, l.kernel, l.kernel, l.stride, l.stride, 1, 1,
                                                relu ? 0.f : -INFINITY, INFINITY, 0, &op),
              "max pooling create");
  op_.reset(op);
}

void MaxPoolStep::reshape(size_t batch) {
  size_t oh = 0, ow = 0;
  const size_t c = size_t(in_.c);
  if (out_type() == ElementType::s8)
    xnn_check(xnn_reshape_max_pooling2d_nhwc_s8(op_.get(), batch, in_.h, in_.w, c, c, c, &oh, &ow, xnn_threadpool()),
              "int8 max pooling reshape");
  else
    xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(op_.get(), batch, in_.h, in_.w, c, c, c, &oh, &ow, xnn_threadpool()),
              "max pooling reshape");
}

void MaxPoolStep::run(const void* x, void* y) {
  if (out_type() == ElementType::s8)
    xnn_check(xnn_setup_max_pooling2d_nhwc_s8(op_.get(), static_cast<const int8_t*>(x), static_cast<int8_t*>(y)),
              "int8 max pooling setup");
  else
    xnn_check(xnn_setup_max_pooling2d_nhwc_f32(op_.get(), static_cast<const float*>(x), static_cast<float*>(y)),
              "max pooling setup");
  xnn_check(xnn_run_operator(op_.get(), xnn_threadpool()), "max pooling run");
}

MeanStep::MeanStep(Shape in, Shape out) : XnnOperatorStep(out, ElementType::f32), in_(in) {
  xnn_operator_t op = nullptr;
  xnn_check(xnn_create_reduce_nd(xnn_reduce_mean, xnn_datatype_fp32, nullptr, nullptr, 0, &op), "mean create");
  op_.reset(op);
}

// reshape reports a workspace, but it is for quantised types only: f32 accumulates straight into the
// output, and passing a workspace for f32 makes run call a null conversion kernel (XNNPACK's own
// subgraph passes none for f32 either).
void MeanStep::reshape(size_t batch) {
  const int64_t axis = 1;
  const size_t shape[3] = {batch, size_t(in_.h) * in_.w, size_t(in_.c)};
  size_t unused_size = 0, unused_alignment = 0;
  xnn_check(xnn_reshape_reduce_nd(op_.get(), 1, &axis, 3, shape, &unused_size, &unused_alignment, xnn_threadpool()), "mean reshape");
}

void MeanStep::run(const void* x, void* y) {
  xnn_check(xnn_setup_reduce_nd(op_.get(), /*workspace=*/nullptr, x, y), "mean setup");
  xnn_check(xnn_run_operator(op_.get(), xnn_threadpool()), "mean run");
}

FullyConnectedStep::FullyConnectedStep(const Layer& l, const float* weight, const float* bias, bool relu, Shape out)
    : XnnOperatorStep(out, ElementType::f32) {
  xnn_operator_t op = nullptr;
  xnn_check(xnn_create_fully_connected_nc_f32(l.in_features, l.out_features, l.in_features, l.out_features, weight, bias,
                                              relu ? 0.f : -INFINITY, INFINITY, 0, nullptr, nullptr, &op),
            "fully connected create");
  op_.reset(op);
}

void FullyConnectedStep::reshape(size_t batch) {
  xnn_check(xnn_reshape_fully_connected_nc_f32(op_.get(), batch, xnn_threadpool()), "fully connected reshape");
}

void FullyConnectedStep::run(const void* x, void* y) {
  xnn_check(xnn_setup_fully_connected_nc_f32(op_.get(), static_cast<const float*>(x), static_cast<float*>(y)),
            "fully connected setup");
  xnn_check(xnn_run_operator(op_.get(), xnn_threadpool()), "fully connected run");
}

ClampStep::ClampStep(Shape out) : XnnOperatorStep(out, ElementType::f32) {
  xnn_unary_params params;
  params.clamp.min = 0.f;
  params.clamp.max = INFINITY;
  xnn_operator_t op = nullptr;
  xnn_check(xnn_create_unary_elementwise_nc(xnn_unary_clamp, xnn_datatype_fp32, xnn_datatype_fp32, &params, nullptr,
                                            nullptr, 0, &op),
            "clamp create");
  op_.reset(op);
}

void ClampStep::reshape(size_t batch) {
  const size_t n = size_t(out_shape().size());
  xnn_check(xnn_reshape_unary_elementwise_nc(op_.get(), batch, n, n, n, xnn_threadpool()), "clamp reshape");
}

void ClampStep::run(const void* x, void* y) {
  xnn_check(xnn_setup_unary_elementwise_nc(op_.get(), x, y), "clamp setup");
  xnn_check(xnn_run_operator(op_.get(), xnn_threadpool()), "clamp run");
}

}  // namespace digitlab
