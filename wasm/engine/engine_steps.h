// The machinery both XNNPACK engines (f32 and int8) run their operators on: a step is one operator
// with XNNPACK's lifecycle (created with its weights packed, reshaped when the batch size changes,
// run = setup + run on every call), and a StepChain runs steps in order, each on the previous one's
// output, owning those outputs. Also the operators both engines use. Internal to wasm/engine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "digitlab/architecture.h"
#include "xnn_conv2d.h"
#include "xnn_support.h"

namespace digitlab {

enum class ElementType { f32, s8 };
inline size_t element_bytes(ElementType t) { return t == ElementType::f32 ? sizeof(float) : sizeof(int8_t); }

class EngineStep {
 public:
  EngineStep(Shape out, ElementType out_type) : out_(out), out_type_(out_type) {}
  virtual ~EngineStep() = default;
  virtual void reshape(size_t batch) = 0;                 // the next runs take batch images
  virtual void run(const void* in, void* out) = 0;        // at the last reshaped batch size
  Shape out_shape() const { return out_; }                // per image (stored NHWC)
  ElementType out_type() const { return out_type_; }
  size_t out_bytes_per_image() const { return size_t(out_.size()) * element_bytes(out_type_); }

 private:
  Shape out_;
  ElementType out_type_;
};

class StepChain {
 public:
  void add(std::unique_ptr<EngineStep> step);
  size_t size() const { return steps_.size(); }
  size_t bytes_per_image() const;  // of all outputs together

  // Runs steps [0, count) on input (batch images); returns the output of the last one run (the
  // input when count is 0). Buffers grow to the largest batch seen, and steps are reshaped only
  // when the batch size changes, so repeated calls at one size allocate nothing.
  const void* run(const void* input, size_t batch, size_t count);
  // The median microseconds of each step over runs passes at batch (after one pass to size things).
  std::vector<double> profile(const void* input, size_t batch, int runs);
  const void* output(size_t step) const;  // of the last run; null before any

 private:
  void prepare(size_t batch);
  std::vector<std::unique_ptr<EngineStep>> steps_;
  std::vector<std::vector<uint8_t>> outputs_;
  size_t capacity_ = 0, batch_ = 0;
};

// The operators both engines share.
class ConvStep : public EngineStep {  // f32 convolution
 public:
  ConvStep(const Layer& conv, const float* weight_oihw, const float* bias, bool relu, Shape in, Shape out);
  void reshape(size_t batch) override { conv_.reshape(int(batch), in_.h, in_.w); }
  void run(const void* x, void* y) override { conv_.run(static_cast<const float*>(x), static_cast<float*>(y)); }

 private:
  XnnConv2d conv_;
  Shape in_;
};

// A step that is one XNNPACK operator of its own (created by the subclass's constructor).
class XnnOperatorStep : public EngineStep {
 public:
  using EngineStep::EngineStep;

 protected:
  XnnOperator op_;
};

class MaxPoolStep : public XnnOperatorStep {  // f32, or s8 keeping its input's quantisation (max commutes with it)
 public:
  // relu: clamp at 0 (f32) or at zero_point (s8).
  MaxPoolStep(const Layer& pool, ElementType type, bool relu, int zero_point, Shape in, Shape out);
  void reshape(size_t batch) override;
  void run(const void* x, void* y) override;

 private:
  Shape in_;
};

// Global average pooling (f32): this XNNPACK's successor of the operator is the mean reduction, here
// over the pixel axis of (batch, h*w, c).
class MeanStep : public XnnOperatorStep {
 public:
  MeanStep(Shape in, Shape out);
  void reshape(size_t batch) override;
  void run(const void* x, void* y) override;

 private:
  Shape in_;
};

class FullyConnectedStep : public XnnOperatorStep {  // f32
 public:
  FullyConnectedStep(const Layer& linear, const float* weight, const float* bias, bool relu, Shape out);
  void reshape(size_t batch) override;
  void run(const void* x, void* y) override;
};

class ClampStep : public XnnOperatorStep {  // f32 ReLU on its own
 public:
  explicit ClampStep(Shape out);
  void reshape(size_t batch) override;
  void run(const void* x, void* y) override;
};

}  // namespace digitlab
