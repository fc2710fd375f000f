// The application: plain state plus one function that draws a frame with Dear ImGui. It knows nothing
// of GLFW, WebGL or the browser (see main_web.cpp), following Dear ImGui's split of app and backend.
#pragma once
#include "canvas.h"

namespace digitlab {

struct AppState {
  DrawingCanvas canvas{280};
  float pen_width = 18.f;  // canvas pixels; ~MNIST's stroke-to-digit ratio for a digit drawn ~200 px tall
  bool drawing = false;
  bool has_ink = false;
  float input28[28 * 28] = {};  // what the network sees
};

void app_frame(AppState& app);

}  // namespace digitlab
