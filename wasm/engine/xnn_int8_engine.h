// The faster inference path: the convolutions that profit run in 8-bit integers through XNNPACK's
// qs8 operators with per-channel weight scales (qc8w), the rest in f32. Fewer operations, not faster
// ones: the f32 engine already runs near wasm SIMD's f32 limit, while an int8 multiply-add does a
// quarter of the work per lane-bit (measured under node: 32->64, 64->96 and 96->128 3x3
// convolutions 2.2x faster in qs8; a 1-channel convolution 5x slower, so it stays f32).
//
// It runs the same operator plan as the f32 engine (operator_plan.h). Activations are quantised per
// tensor with ranges measured on calibration digits (the shipped MNIST replay digits in the page) by
// the f32 engine; the last linear layer stays f32 so the logits keep their precision. Agreement with
// f32 and the accuracy change are measured in tests/xnn_int8_engine_test.cpp on all 10,000 MNIST
// test digits.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "digitlab/model.h"

namespace digitlab {

// Smallest and largest value of each layer's output (index = layer of the folded architecture), as
// the f32 engine computes it over the calibration images (ReLUs applied where the engine fuses them).
struct ActivationRange {
  float min = 0.f, max = 0.f;
  bool seen = false;
};
std::vector<ActivationRange> calibrate_activation_ranges(const Model& model, const float* pixels, int count);

class XnnEngine;
class StepChain;

// The same, a few images at a time (so that a page can calibrate across frames).
class ActivationCalibrator {
 public:
  explicit ActivationCalibrator(const Model& model);
  ~ActivationCalibrator();
  void add(const float* pixels, int count);  // count images (c, h, w) in [0, 1]
  const std::vector<ActivationRange>& ranges() const { return ranges_; }
  int images() const { return images_; }

 private:
  std::unique_ptr<XnnEngine> engine_;
  std::vector<ActivationRange> ranges_;
  int images_ = 0;
};

class XnnInt8Engine {
 public:
  // calibration: count images (c, h, w) in [0, 1]. Throws Error for a layer sequence it cannot run
  // or an empty calibration set.
  XnnInt8Engine(const Model& model, const float* calibration_pixels, int calibration_count);
  // With ranges measured already (calibrate_activation_ranges / ActivationCalibrator on this model).
  XnnInt8Engine(const Model& model, const std::vector<ActivationRange>& ranges);
  ~XnnInt8Engine();
  XnnInt8Engine(const XnnInt8Engine&) = delete;
  XnnInt8Engine& operator=(const XnnInt8Engine&) = delete;

  // pixels (batch, c, h, w) in [0, 1] -> logits (batch, num_classes), as XnnEngine::forward.
  void forward(const float* pixels, int batch, float* logits);
  std::vector<float> forward(const float* pixels, int batch);

  // One line per operator as run, e.g. "conv2 int8", for the benchmark and the page.
  std::vector<std::string> plan() const { return descriptions_; }
  // Median microseconds of each step over runs forward passes of batch images (for the benchmark).
  std::vector<double> profile(const float* pixels, int batch, int runs);
  int int8_steps() const { return int8_steps_; }  // operators with an int8 output

 private:
  const float* input(const float* pixels, int batch);

  Architecture arch_;
  Normalization norm_;
  std::unique_ptr<StepChain> chain_;
  std::vector<std::string> descriptions_;
  int int8_steps_ = 0;
  std::vector<float> input_;
};

}  // namespace digitlab
