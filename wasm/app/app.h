// The application: plain state plus one function that draws a frame with Dear ImGui. It knows nothing
// of GLFW, WebGL or the browser (see main_web.cpp), following Dear ImGui's split of app and backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "canvas.h"
#include "digitlab/idx.h"
#include "fine_tuner.h"
#include "xnn_engine.h"

namespace digitlab {

struct Prediction {
  bool valid = false;  // false until a model is loaded and there is ink
  int label = -1;
  float probabilities[10] = {};
};

struct AppState {
  DrawingCanvas canvas{280};
  float pen_width = 18.f;  // canvas pixels; ~MNIST's stroke-to-digit ratio for a digit drawn ~200 px tall
  bool drawing = false;
  bool has_ink = false;
  float input28[28 * 28] = {};  // what the network sees

  std::unique_ptr<XnnEngine> engine;  // null until a model is loaded
  std::string model_name, model_error;
  int64_t model_parameters = 0;
  Prediction prediction;

  // The person's labelled samples and fine-tuning (samples.cpp). Files live in storage_dir; persist()
  // is called after every write (the page syncs IndexedDB there), so a closed tab loses nothing.
  std::string storage_dir;
  void (*persist)() = nullptr;
  Dataset samples;
  Dataset replay;               // MNIST digits mixed into fine-tuning
  std::unique_ptr<Model> base;  // the shipped model, for "revert"
  std::unique_ptr<Model> current;
  bool tuned = false;
  bool train_last_block = false;
  std::unique_ptr<FineTuner> tuner;
  FineTuneStatus tune_status;
  std::string notice;  // last message for the person (saved, failed, ...)
  // Set by buttons; the platform layer (main_web.cpp) performs them: downloads and file pickers.
  bool export_requested = false, import_requested = false, download_model_requested = false;

  float pad_x = 0, pad_y = 0, pad_side = 0;  // where the drawing pad was laid out, in framebuffer pixels
};

// Validates and loads a safetensors model (the current one stays on error; returns false and sets
// model_error with the reason).
bool app_load_model(AppState& app, const uint8_t* bytes, size_t size, const std::string& name);
void app_frame(AppState& app);
void app_refresh(AppState& app);  // re-reads the drawing: preprocessing and prediction

// samples.cpp
// Loads the base model and replay digits (paths in the page's virtual file system), then the
// person's saved samples and fine-tuned model from storage_dir. Returns false with model_error set.
bool app_start(AppState& app, const std::string& model_path, const std::string& replay_images,
               const std::string& replay_labels);
bool app_add_sample(AppState& app, int label);  // the current drawing; false without ink
void app_delete_sample(AppState& app, size_t index);
bool app_start_fine_tune(AppState& app);        // false (with notice) without samples
void app_fine_tune_tick(AppState& app, double budget_ms);  // a slice of work per frame
void app_revert(AppState& app);
// Adds the samples of an IDX pair (e.g. exported earlier, or written by the native tools); on a bad
// file returns false with the reason in notice, and the current samples stay as they were.
bool app_import_samples(AppState& app, const std::string& images_path, const std::string& labels_path);
void samples_panel(AppState& app);              // the ImGui part
std::string app_tuned_model_path(const AppState& app);

}  // namespace digitlab
