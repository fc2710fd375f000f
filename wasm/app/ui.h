// The page drawn with Dear ImGui: one function per panel over AppState. Platform requests
// (downloads, a file dialog) are flags the browser glue (main_web.cpp) carries out.
#pragma once
#include <array>
#include <map>
#include <string>
#include <vector>

#include "app.h"

namespace digitlab {

struct UiState {
  // Pointer positions (framebuffer pixels) received since the last frame, in order: the pad extends
  // the stroke through every one of them, so fast strokes keep their shape at any frame rate.
  std::vector<Point> pointer_trail;
  bool drawing = false;
  float pad_x = 0, pad_y = 0, pad_side = 0;  // where the drawing pad was laid out, framebuffer pixels
  float scale = 1.f;                         // device pixels per CSS pixel
  // Named controls' last rectangles (x, y, width, height; framebuffer pixels), so automation can
  // press them with a real pointer (window.app.controlRect in the page).
  std::map<std::string, std::array<float, 4>> controls;
  bool export_requested = false, import_requested = false, download_model_requested = false;
};

void ui_frame(AppState& app, UiState& ui);

}  // namespace digitlab
