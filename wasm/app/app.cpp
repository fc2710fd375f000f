#include "app.h"

#include <algorithm>
#include <chrono>
#include <vector>
#include <cstdio>

#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/preprocess.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"
#include "tail_trainer.h"
#include "xnn_matmul.h"

namespace digitlab {

const char* path_name(InferencePath path) {
  switch (path) {
    case InferencePath::winograd: return "winograd";
    case InferencePath::int8: return "int8";
    case InferencePath::f32: break;
  }
  return "f32";
}

namespace {

// Runs on every change of the drawing (a single digit takes well under a millisecond in the engine,
// so prediction keeps up with the pointer without stuttering the frame).
void classify(AppState& app) {
  app.prediction = Prediction{};
  if (!app.has_ink || !app.engine) return;
  float logits[10];
  switch (app.path) {
    case InferencePath::int8: app.int8_engine->forward(app.input28, 1, logits); break;
    case InferencePath::winograd: app.winograd_engine->forward(app.input28, 1, logits); break;
    case InferencePath::f32: app.engine->forward(app.input28, 1, logits); break;
  }
  softmax_forward(app.prediction.probabilities, logits, 1, 10);
  app.prediction.label = int(std::max_element(app.prediction.probabilities, app.prediction.probabilities + 10) -
                             app.prediction.probabilities);
  app.prediction.valid = true;
}

void persist(AppState& app) {
  if (app.persist) app.persist();
}

template <typename Engine>
double median_us_of_one_digit(Engine& e, const float* pixels) {
  float logits[10];
  // Warm-up: buffers, and V8 runs new wasm code in its baseline compiler until it is hot, so a few
  // calls would time the baseline code rather than what runs from then on.
  for (int i = 0; i < 40; ++i) e.forward(pixels, 1, logits);
  std::vector<double> t;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    e.forward(pixels, 1, logits);
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + 7, t.end());
  return t[7];
}

// The faster of the two f32 paths as measured (Winograd when it exists and was faster).
InferencePath faster_f32_path(const AppState& app) {
  return app.winograd_engine && app.winograd_us < app.f32_us ? InferencePath::winograd : InferencePath::f32;
}

// Winograd for a model, or null when it has no convolution Winograd takes (then it is the direct
// engine again, nothing to choose).
std::unique_ptr<XnnEngine> make_winograd_engine(const Model& m) {
  auto e = std::make_unique<XnnEngine>(m, XnnEngine::Options{XnnEngine::Convolutions::winograd});
  return e->winograd_steps() > 0 ? std::move(e) : nullptr;
}

// Browsers compile wasm lazily, a function on its first call, and run it in a baseline compiler
// until it is hot: the first slice of a whole-network fine-tuning session took 29 ms in Chromium
// (3.5 ms later on). One training step on one digit, through the trainer a session uses, compiles
// and warms that code now, while the model is being picked, instead of in a session's first frame.
void warm_up_training(XnnEngine& engine, const Model& m, const float* digit) {
  if (m.arch.input.size() != 784) return;
  try {
    TailTrainer trainer(fold_batch_norm(m), 0, OptimizerOptions{}, 1, xnn_matmul());
    std::vector<float> x(784);
    engine.features_before(0, digit, 1, x.data());  // the normalised image, as a session trains on
    const uint8_t label = 0;
    trainer.begin_step();
    trainer.accumulate(x.data(), &label, 1, 1);
    trainer.finish_step();
  } catch (const Error&) {
    // a model the trainer cannot train: the session will say so when it starts
  }
}

// Live prediction runs on whichever of direct f32, Winograd f32 and int8 is fastest for this model
// on this machine (measured here, a few milliseconds); Winograd agrees with direct on all 10,000
// MNIST test digits and int8 on >= 99.9% (tests/winograd_conv_test.cpp, xnn_int8_engine_test.cpp).
// int8 needs the replay digits for calibration.
void choose_engine(AppState& app, const Model& m) {
  app.int8_engine.reset();
  app.winograd_us = app.int8_us = 0;
  const std::vector<float>& calibration = app.calibration;
  const size_t n = calibration.size() / 784;
  const float* digit = n ? calibration.data() : app.input28;
  app.f32_us = median_us_of_one_digit(*app.engine, digit);
  if (app.winograd_engine) app.winograd_us = median_us_of_one_digit(*app.winograd_engine, digit);
  app.path = app.preferred = faster_f32_path(app);
  if (n == 0 || m.arch.input.size() != 784) return;
  try {
    app.int8_engine = std::make_unique<XnnInt8Engine>(m, calibration.data(), int(n));
  } catch (const Error&) {
    return;  // a layer sequence the int8 path does not cover: f32 only
  }
  app.int8_us = median_us_of_one_digit(*app.int8_engine, calibration.data());
  const double best_f32 = app.path == InferencePath::winograd ? app.winograd_us : app.f32_us;
  if (app.int8_us < best_f32) app.path = app.preferred = InferencePath::int8;
}

constexpr int kCalibrationDigits = 256, kCalibrationSlice = 16;

// One piece of a fine-tuned model's faster paths per frame: the Winograd engine first, then a
// slice of the int8 calibration; the int8 path takes over when it is complete, if it won.
void continue_faster_paths(AppState& app) {
  if (!app.pending_model) return;
  if (app.winograd_pending) {
    app.winograd_pending = false;
    try {
      app.winograd_engine = make_winograd_engine(*app.pending_model);
    } catch (const Error&) {  // direct f32 keeps predicting
    }
    app.path = faster_f32_path(app);
  } else if (app.int8_calibrator) {
    const int n = int(app.calibration.size() / 784);
    const int done = app.int8_calibrator->images(), k = std::min(kCalibrationSlice, n - done);
    try {
      if (k > 0) app.int8_calibrator->add(app.calibration.data() + size_t(done) * 784, k);
      if (app.int8_calibrator->images() >= n) {
        app.int8_engine = std::make_unique<XnnInt8Engine>(*app.pending_model, app.int8_calibrator->ranges());
        app.path = app.preferred;
        app.int8_calibrator.reset();
      }
    } catch (const Error&) {  // f32 keeps predicting
      app.int8_calibrator.reset();
    }
  }
  if (!app.winograd_pending && !app.int8_calibrator) app.pending_model.reset();
}

// Puts a model in use; the engine is built first, so a model it cannot run changes nothing.
// measure: build and time the three paths now (a picked model); otherwise (a fine-tuned copy, ready
// at the end of a session) keep the picked model's verdict and build the faster paths over the
// next frames (continue_faster_paths).
void use_model(AppState& app, const Model& m, const std::string& name, bool tuned, bool measure = true) {
  auto engine = std::make_unique<XnnEngine>(m);
  auto winograd = measure ? make_winograd_engine(m) : nullptr;
  app.engine = std::move(engine);
  app.winograd_engine = std::move(winograd);
  app.int8_engine.reset();
  app.int8_calibrator.reset();
  app.pending_model.reset();
  app.winograd_pending = false;
  if (measure) {
    choose_engine(app, m);
    warm_up_training(*app.engine, m, app.calibration.size() >= 784 ? app.calibration.data() : app.input28);
  } else {
    app.path = InferencePath::f32;
    app.pending_model = std::make_unique<Model>(m);
    app.winograd_pending = true;
    if (!app.calibration.empty() && m.arch.input.size() == 784) app.int8_calibrator = std::make_unique<ActivationCalibrator>(m);
  }
  app.model_name = name;
  app.model_parameters = parameter_count(m.arch);
  app.tuned = tuned;
  app.model_error.clear();
  classify(app);
}

std::string entry_label(const AppState& app) {
  return app.selected >= 0 ? app.models.entries()[size_t(app.selected)].label : std::string();
}

void append_notice(AppState& app, const std::string& text) {
  app.notice += (app.notice.empty() ? "" : "; ") + text;
}

}  // namespace

void app_refresh(AppState& app) {
  const auto t0 = std::chrono::steady_clock::now();
  const DrawingCanvas& c = app.canvas;
  app.has_ink = preprocess_drawing(c.raster().data(), c.side(), c.side(), app.input28);
  classify(app);
  app.inference_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

bool app_start(AppState& app, const std::string& models_dir, const std::string& default_id,
               const std::string& replay_images, const std::string& replay_labels) {
  app.models.open(models_dir, app.storage_dir, default_id);
  for (const std::string& p : app.models.problems()) append_notice(app, p);
  try {
    app.replay = load_dataset(replay_images, replay_labels);
    const size_t n = std::min<size_t>(kCalibrationDigits, app.replay.size()) * 784;
    app.calibration.resize(n);
    for (size_t i = 0; i < n; ++i) app.calibration[i] = float(app.replay.images[i]) / 255.f;
  } catch (const Error& e) {
    append_notice(app, std::string("MNIST replay digits unavailable, fine-tuning without them: ") + e.what());
  }
  const std::string notice = app.samples.open(app.storage_dir, app.persist);
  if (!notice.empty()) append_notice(app, notice);
  // The model picked last time, else the default, else whatever can be used.
  std::vector<int> order;
  const int saved = app.models.find(app.models.saved_selection());
  if (saved >= 0) order.push_back(saved);
  for (int i = 0; i < int(app.models.entries().size()); ++i) order.push_back(i);
  for (int i : order)
    if (app_select_model(app, i)) return true;
  if (app.model_error.empty()) app.model_error = "no usable model in " + models_dir;
  return false;
}

bool app_select_model(AppState& app, int i) {
  if (i < 0 || i >= int(app.models.entries().size())) {
    app.model_error = "no model " + std::to_string(i);
    return false;
  }
  const ModelEntry& entry = app.models.entries()[size_t(i)];
  try {
    auto base = std::make_unique<Model>(load_model_file(entry.path));
    use_model(app, *base, entry.label, false);
    app.base = std::move(base);
  } catch (const Error& e) {
    app.model_error = entry.label + ": " + e.what();
    return false;
  }
  if (app.tuning->active()) {
    app.tuning->cancel();
    append_notice(app, "fine-tuning cancelled: another model was picked");
  }
  app.selected = i;
  app.models.save_selection(entry.id);
  persist(app);
  const std::string tuned = app.models.tuned_path(size_t(i));
  if (file_exists(tuned)) {
    try {
      use_model(app, load_model_file(tuned), entry.label + " (fine-tuned)", true);
    } catch (const Error& e) {
      append_notice(app, "the saved fine-tuned model could not be read, using the original: " + std::string(e.what()));
    }
  }
  return true;
}

bool app_load_model(AppState& app, const uint8_t* bytes, size_t size, const std::string& name) {
  try {
    const Model m = decode_model(bytes, size);
    XnnEngine check(m);  // a file the engine cannot run is refused before anything changes
    const int i = app.models.add_loaded(m, name);
    persist(app);
    if (!app_select_model(app, i)) return false;
    app.notice = "loaded " + name;
    return true;
  } catch (const Error& e) {
    app.model_error = name + ": " + e.what();
    return false;
  }
}

std::string app_current_model_path(const AppState& app) {
  if (app.selected < 0) return "";
  return app.tuned ? app.models.tuned_path(size_t(app.selected)) : app.models.entries()[size_t(app.selected)].path;
}

bool app_add_sample(AppState& app, int label) {
  if (!app.has_ink) {
    app.notice = "draw a digit first, then press its number";
    return false;
  }
  try {
    app.samples.add(app.input28, label);
  } catch (const Error& e) {
    app.notice = std::string("sample not added: ") + e.what();
    return false;
  }
  app.canvas.clear();
  app_refresh(app);
  return true;
}

bool app_delete_sample(AppState& app, size_t index) {
  try {
    app.samples.remove(index);
  } catch (const Error& e) {
    app.notice = std::string("not deleted: ") + e.what();
    return false;
  }
  app.selected_sample = -1;
  return true;
}

bool app_relabel_sample(AppState& app, size_t index, int label) {
  try {
    app.samples.relabel(index, label);
  } catch (const Error& e) {
    app.notice = std::string("not relabelled: ") + e.what();
    return false;
  }
  return true;
}

bool app_import_samples(AppState& app, const std::string& images_path, const std::string& labels_path) {
  try {
    const size_t n = app.samples.import_pair(images_path, labels_path);
    app.notice = "imported " + std::to_string(n) + " samples";
    return true;
  } catch (const Error& e) {
    app.notice = std::string("import failed: ") + e.what();
    return false;
  }
}

bool app_start_fine_tune(AppState& app) {
  if (!app.base) {
    app.notice = "no model to fine-tune";
    return false;
  }
  if (app.samples.size() == 0) {
    app.notice = "label a few digits first (draw, then press 0-9)";
    return false;
  }
  try {
    FineTuneConfig config;
    config.trainable = app.trainable;
    config.holdout = app.samples.size() >= 10 ? 0.2f : 0.f;
    // Measured on a dozen drawn samples of a style the shipped model misreads (tests/app_test.cpp):
    // the head alone at Adam's usual 1e-3 moves too little in 20 epochs (loss 6.9 -> 3.5, style
    // still misread); 3e-3 learns it (loss -> 0.2). With conv layers training too, 1e-3 is enough.
    config.optimizer.lr = app.trainable == "head" ? 3e-3f : 1e-3f;
    const auto t0 = std::chrono::steady_clock::now();
    app.tuning->start(*app.base, app.replay, app.samples.data(), config);
    app.tune_start_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    app.notice.clear();
    return true;
  } catch (const Error& e) {
    app.notice = std::string("fine-tuning could not start: ") + e.what();
    return false;
  }
}

void app_cancel_fine_tune(AppState& app) {
  if (!app.tuning->active()) return;
  app.tuning->cancel();
  app.notice = "fine-tuning cancelled; the model is unchanged";
}

void app_tick(AppState& app, double budget_ms) {
  continue_faster_paths(app);
  switch (app.tuning->tick(budget_ms)) {
    case FineTuneDriver::Event::none: return;
    case FineTuneDriver::Event::failed: app.notice = app.tuning->status().message; return;
    case FineTuneDriver::Event::finished: break;
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const Model tuned = app.tuning->result();
    use_model(app, tuned, entry_label(app) + " (fine-tuned)", true, /*measure=*/false);
    save_model_file(tuned, app.models.tuned_path(size_t(app.selected)));
    persist(app);
    app.notice = "fine-tuned model saved in this browser";
  } catch (const Error& e) {
    app.notice = std::string("the fine-tuned model could not be kept: ") + e.what();
  }
  app.tune_finish_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void app_revert(AppState& app) {
  if (!app.base || app.selected < 0) return;
  app.tuning->cancel();
  use_model(app, *app.base, entry_label(app), false);
  std::remove(app.models.tuned_path(size_t(app.selected)).c_str());
  persist(app);
  app.notice = "back to " + entry_label(app) + " as shipped";
}

}  // namespace digitlab
