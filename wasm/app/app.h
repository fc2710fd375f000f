// The application's state and logic: drawing, live prediction, the person's samples, the model
// picker and fine-tuning. No ImGui, GLFW or browser code here (ui.cpp draws it, main_web.cpp is the
// browser glue), following Dear ImGui's split of app and backend, so tests/app_test.cpp drives the
// whole app natively and under node without a window.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "canvas.h"
#include "digitlab/idx.h"
#include "fine_tune_driver.h"
#include "model_library.h"
#include "sample_store.h"
#include "xnn_engine.h"
#include "xnn_int8_engine.h"

namespace digitlab {

struct Prediction {
  bool valid = false;  // false until a model is loaded and there is ink
  int label = -1;
  float probabilities[10] = {};
};

// The engines live prediction can run on (see AppState::path).
enum class InferencePath { f32, winograd, int8 };
const char* path_name(InferencePath path);  // "f32", "winograd", "int8"

struct AppState {
  DrawingCanvas canvas{280};
  float pen_width = 18.f;  // canvas pixels; ~MNIST's stroke-to-digit ratio for a digit drawn ~200 px tall
  bool has_ink = false;
  float input28[28 * 28] = {};  // what the network sees
  Prediction prediction;
  double inference_ms = 0;      // preprocessing + forward pass of the last update

  // Models: the picker's list, the selected entry as shipped/loaded (base, for revert and as the
  // starting point of fine-tuning) and the one in use (base or its fine-tuned copy).
  ModelLibrary models;
  int selected = -1;
  std::unique_ptr<Model> base;
  std::unique_ptr<XnnEngine> engine;  // null until a model is loaded (direct convolutions)
  // Two faster paths for the same model, used for live prediction when they measure faster than the
  // direct engine on this machine: Winograd convolutions (same f32 results to rounding) and int8
  // (calibrated on 256 replay digits; null if the model cannot run in int8).
  std::unique_ptr<XnnEngine> winograd_engine;
  std::unique_ptr<XnnInt8Engine> int8_engine;
  InferencePath path = InferencePath::f32;       // the one predicting now
  InferencePath preferred = InferencePath::f32;  // the measured verdict, kept for fine-tuned copies
  double f32_us = 0, winograd_us = 0, int8_us = 0;  // one digit, median of a few runs when the model was picked
  // A fine-tuned model's faster paths are built after its session, a piece per frame, so the frame
  // that puts it in use stays short: the Winograd engine (filters transformed and packed, 7-20 ms)
  // on the next frame, then the int8 calibration a few digits per frame. Direct f32 predicts meanwhile.
  std::unique_ptr<Model> pending_model;  // the model those paths are for; null when none is pending
  bool winograd_pending = false;
  std::unique_ptr<ActivationCalibrator> int8_calibrator;
  std::string model_name, model_error;
  int64_t model_parameters = 0;
  bool tuned = false;

  std::string storage_dir;                // the person's files (IndexedDB-backed in the page)
  std::function<void()> persist;          // called after every write to storage_dir
  SampleStore samples;
  int selected_sample = -1;               // in the gallery: relabel or delete it
  Dataset replay;                         // MNIST digits mixed into fine-tuning
  std::vector<float> calibration;         // the first 256 replay digits as pixels: the int8 path's calibration
  // Where sessions run: here, in slices, unless the page installs its worker driver.
  std::unique_ptr<FineTuneDriver> tuning = std::make_unique<SlicedFineTuneDriver>();
  std::string trainable = "head";         // head | last-block | all: what fine-tuning trains
  // Page-thread cost of the last session's start (checks, the request to the worker or the first
  // slices' setup) and of putting its model in use at the end, in ms: frames that do either are longer.
  double tune_start_ms = 0, tune_finish_ms = 0;
  // Before/after of the last finished session, shown until the next one.
  std::string notice;                     // last message for the person (saved, failed, ...)
};

// Lists the models in models_dir, loads the replay digits, the person's samples, the model picked
// last time (default_id otherwise) and its fine-tuned copy. False (model_error set) when no model
// can be used at all; problems with saved files are reported in notice and never fatal.
bool app_start(AppState& app, const std::string& models_dir, const std::string& default_id,
               const std::string& replay_images, const std::string& replay_labels);
// Uses entry i of the picker (its fine-tuned copy when there is one); a running fine-tune is
// cancelled. False with model_error set if the file cannot be used; the current model stays.
bool app_select_model(AppState& app, int i);
// A weight file from the person (file picker, drag-and-drop): validated, kept in storage and
// selected. On any error returns false with model_error set, and the current model stays in use.
bool app_load_model(AppState& app, const uint8_t* bytes, size_t size, const std::string& name);
std::string app_current_model_path(const AppState& app);

void app_refresh(AppState& app);  // after the drawing changed: preprocessing and prediction

// Samples. Each returns false with the reason in notice when it cannot be done.
bool app_add_sample(AppState& app, int label);  // the current drawing; clears the canvas
bool app_delete_sample(AppState& app, size_t index);
bool app_relabel_sample(AppState& app, size_t index, int label);
bool app_import_samples(AppState& app, const std::string& images_path, const std::string& labels_path);

// Fine-tuning, always from the selected model as shipped (tuning a tuned model again would drift
// further from MNIST each time).
bool app_start_fine_tune(AppState& app);
void app_cancel_fine_tune(AppState& app);
// A frame's share of work; when a session finishes, its model is put in use and saved.
void app_tick(AppState& app, double budget_ms);
void app_revert(AppState& app);  // back to the selected model as shipped; its tuned copy is deleted

}  // namespace digitlab
