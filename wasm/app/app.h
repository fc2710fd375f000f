// The application: plain state plus one function that draws a frame with Dear ImGui. It knows nothing
// of GLFW, WebGL or the browser (see main_web.cpp), following Dear ImGui's split of app and backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "canvas.h"
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

  float pad_x = 0, pad_y = 0, pad_side = 0;  // where the drawing pad was laid out, in framebuffer pixels
};

// Validates and loads a safetensors model (the current one stays on error; returns false and sets
// model_error with the reason).
bool app_load_model(AppState& app, const uint8_t* bytes, size_t size, const std::string& name);
void app_frame(AppState& app);

}  // namespace digitlab
