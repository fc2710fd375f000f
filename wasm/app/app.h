// The application's state and logic: drawing, live prediction, the person's samples, the model
// picker and fine-tuning. No ImGui, GLFW or browser code here (ui.cpp draws it, main_web.cpp is the
// browser glue), following Dear ImGui's split of app and backend, so tests/app_test.cpp drives the
// whole app natively and under node without a window. Which inference path predicts is the
// Predictor's business (wasm/engine/predictor.h), what trains is digitlab/fine_tuning.h's.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "canvas.h"
#include "digitlab/fine_tuning.h"
#include "digitlab/idx.h"
#include "digitlab/preprocess.h"
#include "fine_tune/driver.h"
#include "model_library.h"
#include "predictor.h"
#include "sample_store.h"

namespace digitlab {

struct Prediction {
  bool valid = false;  // false until a model is loaded and there is ink
  int label = -1;
  std::vector<float> probabilities;  // one per class of the model in use; zeros while not valid
};

// Where a frame's time went (milliseconds): the predictor's background paths, the session's tick
// (and putting a finished model in use), building the UI, ImGui's draw lists, and the WebGL calls
// that send them (which wait when the browser's GPU process falls behind).
struct FramePhases {
  double predictor_ms = 0, tuning_ms = 0, ui_ms = 0, render_ms = 0, gl_ms = 0;
  int vertices = 0;  // what the WebGL calls sent
};
struct SlowFrame {
  double ms = 0;
  FramePhases phases;
  int64_t session_step = 0;  // how far the session was, to place the frame in it
};

// What the page measures of itself (state().perf): its own work per frame and around sessions.
struct PagePerf {
  double inference_ms = 0;        // preprocessing + forward pass of the last drawing update
  double frame_ms = 0;            // the page's work in the last frame (ImGui, the app, rendering)
  double max_frame_ms_tuning = 0; // the longest such frame while the current/last session ran
  // Page-thread cost of the last session's start (checks, the request to the worker or the first
  // slices' setup) and of putting its model in use at the end: frames that do either are longer.
  double fine_tune_start_ms = 0, fine_tune_finish_ms = 0;
  bool tuning_last_frame = false;
  // A session's model is in use and the predictor is still building its faster path (a piece a
  // frame): those frames are the session's too.
  bool finishing_session = false;
  std::vector<float> frame_ms_tuning;  // every frame's work while the current/last session ran
  // The same frames less their WebGL calls: the app's own work. On this project's software-rendered
  // test machine the WebGL calls wait for the browser's GPU process, which shares two cores with the
  // training worker; with a real GPU they take about their typical millisecond.
  std::vector<float> own_ms_tuning;
  // The slowest of those frames, longest first, with where their time went: what to fix when p99
  // is high (the rest of a frame's wall time is the browser's, e.g. preemption by other threads).
  static constexpr size_t kSlowFramesKept = 8;
  std::vector<SlowFrame> slowest_frames_tuning;
  FramePhases phases;                  // of the frame under way (app_tick fills the first two)
  int64_t frames_drawn = 0;            // the page draws only when something changes (main_web.cpp)
  // How often the progress of a session in the worker is drawn, and why: main_web.cpp picks it from
  // the WebGL renderer, since a software one (no GPU) spends the CPU the training threads need.
  double progress_hz = 10;
  int64_t progress_frames = 0;  // frames drawn only to show such progress (nothing else changed)
  std::string progress_why;
  std::string webgl_renderer;
  double frame_ms_p50_tuning() const { return percentile(frame_ms_tuning, 0.5); }
  double frame_ms_p99_tuning() const { return percentile(frame_ms_tuning, 0.99); }
  static double percentile(const std::vector<float>& ms, double q);  // 0 when empty
};

// What the model in use reads in the person's samples, as the session that made it measured at its
// end (the worker's pool scores every sample through the whole network): the gallery marks those it
// misreads. digits[i] is the digit read in sample i of the store; samples added since have none.
struct SampleReadings {
  std::vector<uint8_t> digits;  // empty: not measured for the model in use
  double shipped = -1;          // the share the model as shipped read right then, in [0, 1]
  bool misread(size_t i, int label) const { return i < digits.size() && digits[i] != label; }
};

struct AppState {
  DrawingCanvas canvas{280};
  float pen_width = 18.f;  // canvas pixels; ~MNIST's stroke-to-digit ratio for a digit drawn ~200 px tall
  static constexpr float kMinPen = 6.f, kMaxPen = 40.f;
  bool has_ink = false;
  float input[kMnistSide * kMnistSide] = {};  // what the network sees
  Prediction prediction;

  // Models: the picker's list, the selected entry as shipped/loaded (base, for revert and as the
  // starting point of fine-tuning) and the one in use (base or its fine-tuned copy), predicting
  // through the predictor.
  ModelLibrary models;
  int selected = -1;
  std::unique_ptr<Model> base;
  Predictor predictor;
  std::string model_name, model_error;
  int64_t model_parameters = 0;
  bool tuned = false;

  std::string storage_dir;                // the person's files (IndexedDB-backed in the page)
  std::function<void()> persist;          // called after every write to storage_dir
  SampleStore samples;
  int selected_sample = -1;               // in the gallery: relabel or delete it
  SampleReadings readings;                // of the model in use, when its session measured them
  uint64_t session_epoch = 0;             // samples.index_epoch() when the last session started
  size_t session_samples = 0;             // and the samples it had
  Dataset replay;                         // MNIST digits mixed into fine-tuning (and the int8 calibration)
  Dataset probe;                          // MNIST test digits that never train: the forgetting measure
  // Where sessions run: here, in slices, unless the page installs its worker driver.
  std::unique_ptr<FineTuneDriver> tuning = std::make_unique<SlicedFineTuneDriver>();
  TrainableLayers trainable = TrainableLayers::head;  // what the next session trains
  PagePerf perf;
  std::string notice;                     // the last message for the person (saved, failed, ...)
};

// What the page ships beside the app (web/static's models/ folder).
struct ShippedFiles {
  std::string models_dir;                    // every .safetensors file in it is a model to pick
  std::string default_id;                    // the model used when none was picked before
  std::string replay_images, replay_labels;  // MNIST training digits mixed into fine-tuning
  std::string probe_images, probe_labels;    // MNIST test digits that measure forgetting ("" if none)
};
// Lists the shipped models, loads the digit sets, the person's samples, the model picked last time
// (the default otherwise) and its fine-tuned copy. False (model_error set) when no model can be used
// at all; problems with saved or shipped files are reported in notice and never fatal.
bool app_start(AppState& app, const ShippedFiles& files);
// Uses entry i of the picker (its fine-tuned copy when there is one); a running fine-tune is
// cancelled. False with model_error set if the file cannot be used; the current model stays.
bool app_select_model(AppState& app, int i);
// A weight file from the person (file picker, drag-and-drop): validated, kept in storage and
// selected. On any error returns false with model_error set, and the current model stays in use.
bool app_load_model(AppState& app, const uint8_t* bytes, size_t size, const std::string& name);
std::string app_current_model_path(const AppState& app);

// Drawing (canvas pixels): each change re-reads the drawing and predicts.
void app_begin_stroke(AppState& app, Point p);
void app_extend_stroke(AppState& app, const std::vector<Point>& points);  // through every point, in order
void app_clear_drawing(AppState& app);
void app_undo_stroke(AppState& app);
void app_set_pen_width(AppState& app, float width);  // clamped to [kMinPen, kMaxPen]
void app_refresh(AppState& app);  // after the drawing changed: preprocessing and prediction

// Samples. Each returns false with the reason in notice when it cannot be done.
bool app_add_sample(AppState& app, int label);  // the current drawing; clears the canvas
bool app_delete_sample(AppState& app, size_t index);
bool app_relabel_sample(AppState& app, size_t index, int label);
bool app_import_samples(AppState& app, const std::string& images_path, const std::string& labels_path);
bool app_export_samples(AppState& app, const std::string& images_path, const std::string& labels_path);

// Fine-tuning, always from the selected model as shipped (tuning a tuned model again would drift
// further from MNIST each time).
bool app_start_fine_tune(AppState& app);
void app_cancel_fine_tune(AppState& app);  // drops the session: the model stays as it was
void app_stop_fine_tune(AppState& app);    // ends training now and keeps the best weights so far
// A frame's share of work: the next piece of the predictor's pending paths, and budget_ms of a
// session on the page thread (or what the worker sent); when a session finishes, its model is put in
// use and saved.
void app_tick(AppState& app, double budget_ms);
void app_revert(AppState& app);  // back to the selected model as shipped; its tuned copy is deleted
// The page's work in a frame that just ended (PagePerf::frame_ms and the longest while tuning);
// phases: where its time went (main_web.cpp measures the UI and rendering, app_tick the rest).
void app_frame_done(AppState& app, double frame_ms, const FramePhases& phases);

// What the page shows, as the JSON object window.app.state() returns (fields in web/README.md).
std::string app_state_json(const AppState& app);

}  // namespace digitlab
