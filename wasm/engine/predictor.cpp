#include "predictor.h"

#include <algorithm>
#include <chrono>

#include "digitlab/error.h"
#include "digitlab/reference.h"
#include "xnn_engine.h"
#include "xnn_int8_engine.h"

namespace digitlab {
namespace {

template <typename Engine>
double median_us_of_one_digit(Engine& e, const float* pixels, int num_classes) {
  std::vector<float> logits(static_cast<size_t>(num_classes));
  // Warm-up: buffers, and V8 runs new wasm code in its baseline compiler until it is hot, so a few
  // calls would time the baseline code rather than what runs from then on.
  for (int i = 0; i < 40; ++i) e.forward(pixels, 1, logits.data());
  std::vector<double> t;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    e.forward(pixels, 1, logits.data());
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + 7, t.end());
  return t[7];
}

// Winograd for a model, or null when it has no convolution Winograd takes (it would be the direct
// engine again: nothing to choose).
std::unique_ptr<XnnEngine> make_winograd_engine(const Model& m) {
  auto e = std::make_unique<XnnEngine>(m, XnnEngine::Options{XnnEngine::Convolutions::winograd});
  return e->winograd_steps() > 0 ? std::move(e) : nullptr;
}

}  // namespace

const char* inference_path_name(InferencePath path) {
  switch (path) {
    case InferencePath::winograd: return "winograd";
    case InferencePath::int8: return "int8";
    case InferencePath::f32: break;
  }
  return "f32";
}

Predictor::Predictor(std::vector<float> calibration) : calibration_(std::move(calibration)) {}
Predictor::~Predictor() = default;

bool Predictor::has(InferencePath path) const {
  switch (path) {
    case InferencePath::winograd: return winograd_ != nullptr;
    case InferencePath::int8: return int8_ != nullptr;
    case InferencePath::f32: break;
  }
  return f32_ != nullptr;
}

int Predictor::calibration_count() const {
  const size_t per = size_t(input_.size());
  return per ? int(std::min<size_t>(kCalibrationImages, calibration_.size() / per)) : 0;
}

InferencePath Predictor::faster_f32_path() const {
  return winograd_ && timings_.winograd_us < timings_.f32_us ? InferencePath::winograd : InferencePath::f32;
}

void Predictor::load(const Model& model, Choice choice) {
  auto f32 = std::make_unique<XnnEngine>(model);  // first: a model it cannot run changes nothing
  f32_ = std::move(f32);
  winograd_.reset();
  int8_.reset();
  calibrator_.reset();
  int8_model_.reset();
  winograd_building_.reset();
  input_ = f32_->input_shape();
  num_classes_ = f32_->num_classes();
  logits_.resize(size_t(num_classes_));
  path_ = InferencePath::f32;
  if (choice == Choice::measure) {
    try {
      winograd_ = make_winograd_engine(model);
    } catch (const Error&) {  // direct f32 only
    }
    measure();
    try {
      if (calibration_count() > 0) int8_ = std::make_unique<XnnInt8Engine>(model, calibration_.data(), calibration_count());
    } catch (const Error&) {
      return;  // a layer sequence the int8 path does not cover: f32 only
    }
    if (int8_) {
      timings_.int8_us = median_us_of_one_digit(*int8_, calibration_.data(), num_classes_);
      const double best_f32 = path_ == InferencePath::winograd ? timings_.winograd_us : timings_.f32_us;
      if (timings_.int8_us < best_f32) path_ = preferred_ = InferencePath::int8;
    }
    return;
  }
  // keep_verdict: only the path the verdict chose is built (none for f32), over later advance() calls.
  try {
    if (preferred_ == InferencePath::winograd) {
      auto e = std::make_unique<XnnEngine>(model, XnnEngine::Options{XnnEngine::Convolutions::winograd}, XnnEngine::BuildLater{});
      if (e->winograd_steps() > 0) winograd_building_ = std::move(e);
    } else if (preferred_ == InferencePath::int8 && calibration_count() > 0) {
      calibrator_ = std::make_unique<ActivationCalibrator>(model);
      int8_model_ = std::make_unique<Model>(model);
    }
  } catch (const Error&) {  // f32 keeps predicting
    winograd_building_.reset();
    calibrator_.reset();
  }
}

void Predictor::measure() {
  timings_ = Timings{};
  const std::vector<float> blank(size_t(input_.size()), 0.f);
  const float* digit = calibration_count() > 0 ? calibration_.data() : blank.data();
  timings_.f32_us = median_us_of_one_digit(*f32_, digit, num_classes_);
  if (winograd_) timings_.winograd_us = median_us_of_one_digit(*winograd_, digit, num_classes_);
  path_ = preferred_ = faster_f32_path();
}

bool Predictor::advance() {
  if (!pending()) return false;
  if (winograd_building_) {  // an operator per call
    try {
      winograd_building_->build_next();
      if (winograd_building_->complete()) {
        winograd_ = std::move(winograd_building_);
        path_ = faster_f32_path();
      }
    } catch (const Error&) {  // direct f32 keeps predicting
      winograd_building_.reset();
    }
  } else if (calibrator_) {
    // A slice of calibration per call, then the int8 engine from its ranges as a piece of its own.
    const int n = calibration_count(), done = calibrator_->images(), k = std::min(kCalibrationSlice, n - done);
    try {
      if (k > 0) {
        calibrator_->add(calibration_.data() + size_t(done) * size_t(input_.size()), k);
      } else {
        int8_ = std::make_unique<XnnInt8Engine>(*int8_model_, calibrator_->ranges());
        if (has(preferred_)) path_ = preferred_;
        calibrator_.reset();
      }
    } catch (const Error&) {  // f32 keeps predicting
      calibrator_.reset();
    }
  }
  if (!calibrator_) int8_model_.reset();
  return true;
}

void Predictor::predict(const float* pixels, float* probabilities) {
  if (!f32_) throw Error("no model is loaded to predict with");
  switch (path_) {
    case InferencePath::int8: int8_->forward(pixels, 1, logits_.data()); break;
    case InferencePath::winograd: winograd_->forward(pixels, 1, logits_.data()); break;
    case InferencePath::f32: f32_->forward(pixels, 1, logits_.data()); break;
  }
  softmax_forward(probabilities, logits_.data(), 1, num_classes_);
}

}  // namespace digitlab
