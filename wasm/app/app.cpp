#include "app.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"
#include "xnn_engine.h"

namespace digitlab {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Runs on every change of the drawing (a single digit takes well under a millisecond in the engine,
// so prediction keeps up with the pointer without stuttering the frame).
void classify(AppState& app) {
  Prediction& p = app.prediction;
  p.valid = false;
  p.label = -1;
  p.probabilities.assign(size_t(std::max(app.predictor.num_classes(), 0)), 0.f);
  if (!app.has_ink || !app.predictor.loaded()) return;
  app.predictor.predict(app.input, p.probabilities.data());
  p.label = argmax(p.probabilities.data(), int(p.probabilities.size()));
  p.valid = true;
}

void persist(AppState& app) {
  if (app.persist) app.persist();
}

void append_notice(AppState& app, const std::string& text) {
  app.notice += (app.notice.empty() ? "" : "; ") + text;
}

void check_drawable(const Model& m) {
  if (!(m.arch.input == Shape{1, kMnistSide, kMnistSide}))
    throw Error("the page draws " + std::to_string(kMnistSide) + "x" + std::to_string(kMnistSide) + " digits; '" +
                m.arch.name + "' takes " + std::to_string(m.arch.input.c) + "x" + std::to_string(m.arch.input.h) + "x" +
                std::to_string(m.arch.input.w) + " inputs");
}

// Puts a model in use; the predictor is loaded first, so a model it cannot run changes nothing.
// A picked model is measured on every inference path now; a fine-tuned copy (ready at the end of a
// session) keeps the picked model's verdict and gets its faster paths over the next frames (app_tick).
void use_model(AppState& app, const Model& m, const std::string& name, bool tuned, Predictor::Choice choice) {
  app.readings = {};  // they were another model's (a session's result sets its own after this)
  check_drawable(m);
  app.predictor.load(m, choice);
  app.model_name = name;
  app.model_parameters = parameter_count(m.arch);
  app.tuned = tuned;
  app.model_error.clear();
  classify(app);
}

std::string entry_label(const AppState& app) {
  return app.selected >= 0 ? app.models.entries()[size_t(app.selected)].label : std::string();
}

}  // namespace

void app_refresh(AppState& app) {
  const auto t0 = Clock::now();
  const DrawingCanvas& c = app.canvas;
  app.has_ink = preprocess_drawing(c.raster().data(), c.side(), c.side(), app.input);
  classify(app);
  app.perf.inference_ms = ms_since(t0);
}

void app_begin_stroke(AppState& app, Point p) {
  app.canvas.begin_stroke(p, app.pen_width);
  app_refresh(app);
}

void app_extend_stroke(AppState& app, const std::vector<Point>& points) {
  if (points.empty() || app.canvas.empty()) return;
  for (const Point& p : points) app.canvas.extend_stroke(p);
  app_refresh(app);
}

void app_clear_drawing(AppState& app) {
  app.canvas.clear();
  app_refresh(app);
}

void app_undo_stroke(AppState& app) {
  app.canvas.undo();
  app_refresh(app);
}

void app_set_pen_width(AppState& app, float width) { app.pen_width = std::clamp(width, AppState::kMinPen, AppState::kMaxPen); }

bool app_start(AppState& app, const ShippedFiles& files) {
  app.models.open(files.models_dir, app.storage_dir, files.default_id);
  for (const std::string& p : app.models.problems()) append_notice(app, p);
  try {
    app.replay = load_dataset(files.replay_images, files.replay_labels);
    const size_t n = std::min<size_t>(Predictor::kCalibrationImages, app.replay.size());
    app.predictor.set_calibration(dataset_pixels(app.replay, 0, n));
  } catch (const Error& e) {
    append_notice(app, std::string("MNIST replay digits unavailable, fine-tuning without them: ") + e.what());
  }
  if (!files.probe_images.empty()) {
    try {
      app.probe = load_dataset(files.probe_images, files.probe_labels);
    } catch (const Error& e) {
      append_notice(app, std::string("MNIST test digits unavailable, no forgetting measure: ") + e.what());
    }
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
  if (app.model_error.empty()) app.model_error = "no usable model in " + files.models_dir;
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
    use_model(app, *base, entry.label, false, Predictor::Choice::measure);
    app.base = std::move(base);
  } catch (const Error& e) {
    app.model_error = entry.label + ": " + e.what();
    return false;
  }
  if (app.tuning->active()) {
    app.tuning->cancel();
    append_notice(app, "fine-tuning cancelled: another model was picked");
  }
  app.tuning->warm_up(*app.base, app.replay);  // sessions train from the model as shipped
  app.selected = i;
  app.models.save_selection(entry.id);
  persist(app);
  const std::string tuned = app.models.tuned_path(size_t(i));
  if (file_exists(tuned)) {
    try {
      use_model(app, load_model_file(tuned), entry.label + " (fine-tuned)", true, Predictor::Choice::measure);
    } catch (const Error& e) {
      append_notice(app, "the saved fine-tuned model could not be read, using the original: " + std::string(e.what()));
    }
  }
  return true;
}

bool app_load_model(AppState& app, const uint8_t* bytes, size_t size, const std::string& name) {
  try {
    const Model m = decode_model(bytes, size);
    check_drawable(m);  // a file the page cannot run is refused before anything changes
    XnnEngine check(m);
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
    app.samples.add(app.input, label);
  } catch (const Error& e) {
    app.notice = std::string("sample not added: ") + e.what();
    return false;
  }
  app_clear_drawing(app);
  return true;
}

bool app_delete_sample(AppState& app, size_t index) {
  try {
    app.samples.remove(index);
  } catch (const Error& e) {
    app.notice = std::string("not deleted: ") + e.what();
    return false;
  }
  std::vector<uint8_t>& read = app.readings.digits;
  if (index < read.size()) read.erase(read.begin() + long(index));  // the later samples move up one
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

bool app_export_samples(AppState& app, const std::string& images_path, const std::string& labels_path) {
  if (app.samples.size() == 0) {
    app.notice = "no samples to export yet";
    return false;
  }
  try {
    app.samples.export_pair(images_path, labels_path);
    return true;
  } catch (const Error& e) {
    app.notice = std::string("export failed: ") + e.what();
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
    const auto t0 = Clock::now();
    app.tuning->start({*app.base, app.replay, app.probe, app.samples.data()},
                      page_fine_tune_config(app.trainable, app.samples.size()));
    app.session_epoch = app.samples.index_epoch();
    app.session_samples = app.samples.size();
    app.perf.fine_tune_start_ms = ms_since(t0);
    app.perf.max_frame_ms_tuning = 0;
    app.perf.frame_ms_tuning.clear();
    app.perf.own_ms_tuning.clear();
    app.perf.slowest_frames_tuning.clear();
    app.perf.finishing_session = false;
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

void app_stop_fine_tune(AppState& app) {
  if (app.tuning->active()) app.tuning->stop();
}

void app_tick(AppState& app, double budget_ms) {
  const auto t_advance = Clock::now();
  app.predictor.advance();
  const auto t_tick = Clock::now();
  app.perf.phases.predictor_ms = std::chrono::duration<double, std::milli>(t_tick - t_advance).count();
  struct TimeTuning {  // however app_tick returns
    PagePerf& p;
    Clock::time_point t0;
    ~TimeTuning() { p.phases.tuning_ms = ms_since(t0); }
  } time_tuning{app.perf, t_tick};
  switch (app.tuning->tick(budget_ms)) {
    case FineTuneDriver::Event::none: return;
    case FineTuneDriver::Event::failed: app.notice = app.tuning->status().message; return;
    case FineTuneDriver::Event::finished: break;
  }
  const auto t0 = Clock::now();
  try {
    const Model tuned = app.tuning->result();
    use_model(app, tuned, entry_label(app) + " (fine-tuned)", true, Predictor::Choice::keep_verdict);
    // The session's readings of the samples hold while each index names the image it scored.
    const FineTuneStatus& s = app.tuning->status();
    if (s.sample_predictions.size() == app.session_samples && app.samples.index_epoch() == app.session_epoch &&
        app.session_samples <= app.samples.size())
      app.readings = {s.sample_predictions, std::isfinite(s.samples_before) ? s.samples_before : -1};
    save_model_file(tuned, app.models.tuned_path(size_t(app.selected)));
    persist(app);
    app.perf.finishing_session = true;
    app.notice = "fine-tuned model saved in this browser";
  } catch (const Error& e) {
    app.notice = std::string("the fine-tuned model could not be kept: ") + e.what();
  }
  app.perf.fine_tune_finish_ms = ms_since(t0);
}

void app_revert(AppState& app) {
  if (!app.base || app.selected < 0) return;
  app.tuning->cancel();
  use_model(app, *app.base, entry_label(app), false, Predictor::Choice::measure);
  std::remove(app.models.tuned_path(size_t(app.selected)).c_str());
  persist(app);
  app.notice = "back to " + entry_label(app) + " as shipped";
}

void app_frame_done(AppState& app, double frame_ms, const FramePhases& phases) {
  PagePerf& p = app.perf;
  p.frame_ms = frame_ms;
  ++p.frames_drawn;
  // The frame a session ends in (its model goes into use) counts too: tuning was on at its start;
  // and so do the frames after, while the predictor builds the model's faster path.
  const bool tuning = app.tuning->active();
  if (tuning || p.tuning_last_frame || p.finishing_session) {
    p.max_frame_ms_tuning = std::max(p.max_frame_ms_tuning, frame_ms);
    if (p.frame_ms_tuning.size() < 100000) {
      p.frame_ms_tuning.push_back(float(frame_ms));
      p.own_ms_tuning.push_back(float(frame_ms - phases.gl_ms));
    }
    auto& slow = p.slowest_frames_tuning;
    if (slow.size() < PagePerf::kSlowFramesKept || frame_ms > slow.back().ms) {
      const SlowFrame f{frame_ms, phases, app.tuning->status().step};
      slow.insert(std::upper_bound(slow.begin(), slow.end(), f, [](const SlowFrame& a, const SlowFrame& b) { return a.ms > b.ms; }), f);
      if (slow.size() > PagePerf::kSlowFramesKept) slow.pop_back();
    }
  }
  p.tuning_last_frame = tuning;
  if (!app.predictor.pending()) p.finishing_session = false;  // this frame built the last piece
  p.phases = {};
}

double PagePerf::percentile(const std::vector<float>& ms, double q) {
  if (ms.empty()) return 0;
  std::vector<float> v = ms;
  const size_t k = std::min(v.size() - 1, size_t(q * double(v.size())));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

}  // namespace digitlab
