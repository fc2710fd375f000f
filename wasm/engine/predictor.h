// Live prediction of one digit at a time on whichever inference path is fastest for this model on
// this machine: direct f32 (xnn_engine.h), Winograd f32 (same results to float rounding: all 10,000
// MNIST test digits agree, tests/winograd_conv_test.cpp) or int8 (calibrated on MNIST digits; >= 99.9%
// agreement, tests/xnn_int8_engine_test.cpp). Which wins depends on the model and the machine (in
// Chromium Winograd, natively int8), so it is measured, a few milliseconds, when a model is loaded.
// The page predicts through it on every stroke; it knows nothing of the page.
#pragma once
#include <memory>
#include <vector>

#include "digitlab/model.h"

namespace digitlab {

class XnnEngine;
class XnnInt8Engine;
class ActivationCalibrator;

enum class InferencePath { f32, winograd, int8 };
const char* inference_path_name(InferencePath path);  // "f32", "winograd", "int8"

class Predictor {
 public:
  // calibration: images (the model's input shape, values in [0, 1]) for the int8 path's activation
  // ranges and for timing; without any the int8 path is off and timing uses a blank image.
  explicit Predictor(std::vector<float> calibration = {});
  void set_calibration(std::vector<float> calibration) { calibration_ = std::move(calibration); }  // from the next load()
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  // How load() chooses the path:
  //   measure: builds the three paths now and times each (a few ms), then predicts on the fastest.
  //   keep_verdict: for a model like the one measured last (its fine-tuned copy): predicts on direct
  //     f32 at once and builds only the path the last measurement chose over later advance() calls,
  //     a piece each (the Winograd engine an operator at a time; or the int8 calibration a slice at
  //     a time, then the int8 engine), then predicts on it. No frame pays for all of it at once: on the page a piece
  //     takes ~3-6 ms (docs/benchmarks.md).
  enum class Choice { measure, keep_verdict };
  // Throws Error, changing nothing, for a model the f32 engine cannot run. A model the faster paths
  // cannot run is predicted in f32.
  void load(const Model& model, Choice choice);
  bool loaded() const { return f32_ != nullptr; }
  // One piece of the work keep_verdict left (a few milliseconds); false when nothing is left.
  bool advance();
  bool pending() const { return winograd_building_ || calibrator_; }

  // One image of the model's input shape in [0, 1] -> num_classes() probabilities. Throws Error
  // before a model is loaded.
  void predict(const float* pixels, float* probabilities);

  InferencePath path() const { return path_; }            // predicting now
  InferencePath preferred() const { return preferred_; }  // the last measurement's verdict
  // Microseconds for one digit on each path, medians from the last measurement; 0: not available.
  struct Timings {
    double f32_us = 0, winograd_us = 0, int8_us = 0;
  };
  const Timings& timings() const { return timings_; }
  bool has(InferencePath path) const;  // the path's engine exists (built) for the model in use
  Shape input_shape() const { return input_; }
  int num_classes() const { return num_classes_; }

  // Digits of calibration the int8 path uses, and how many of them one advance() calibrates.
  // A slice of 16 took 12-18 ms of a frame in the page (Chromium, 2-core VM); 4 take ~3-4 ms.
  static constexpr int kCalibrationImages = 256, kCalibrationSlice = 4;

 private:
  int calibration_count() const;
  void measure();
  InferencePath faster_f32_path() const;

  std::vector<float> calibration_;
  std::unique_ptr<XnnEngine> f32_, winograd_;
  std::unique_ptr<XnnInt8Engine> int8_;
  // keep_verdict's work left: the Winograd engine being built, or the int8 calibration in progress
  // and the model it is for.
  std::unique_ptr<XnnEngine> winograd_building_;
  std::unique_ptr<Model> int8_model_;  // what the calibration is for
  std::unique_ptr<ActivationCalibrator> calibrator_;
  InferencePath path_ = InferencePath::f32, preferred_ = InferencePath::f32;
  Timings timings_;
  Shape input_;
  int num_classes_ = 0;
  std::vector<float> logits_;
};

}  // namespace digitlab
