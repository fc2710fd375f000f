// The page drawn with Dear ImGui: a layout per kind of screen over AppState, panels that call the
// app's functions, and nothing of the browser (main_web.cpp is the glue; platform requests such as
// downloads or a file dialog are flags it carries out).
//
// Layouts, chosen from the viewport in CSS pixels:
//   phone portrait / landscape (narrower than 640 or lower than 560): one page at a time, Draw,
//     Samples, Train and Model, behind a bottom navigation bar;
//   tablet: the pad and the prediction side by side, the label buttons under them, samples and
//     training side by side below;
//   desktop (1100 x 640 and more): pad | prediction, labels and samples | training and details.
// Every card keeps to its rectangle (long content scrolls inside it), so nothing leaves the viewport,
// and on touch screens every control is at least 44 CSS pixels tall.
#pragma once
#include <array>
#include <map>
#include <string>
#include <vector>

#include "app.h"
#include "thumbnail_atlas.h"
#include "ui_theme.h"

namespace digitlab {

struct UiState {
  // Pointer positions (framebuffer pixels) received since the last frame, in order: the pad extends
  // the stroke through every one of them, so fast strokes keep their shape at any frame rate.
  std::vector<Point> pointer_trail;
  bool drawing = false;
  float pad_x = 0, pad_y = 0, pad_side = 0;  // where the drawing pad was laid out, framebuffer pixels
  float scale = 1.f;                         // device pixels per CSS pixel
  bool touch = false;                        // a coarse pointer (finger): larger targets
  UiFonts fonts;
  bool fonts_loaded = false;                 // Roboto, not ImGui's fallback
  enum class Page { draw, samples, train, model };
  Page page = Page::draw;                    // what a phone shows (larger screens show everything)
  std::string layout;                        // the last frame's: phone-portrait, phone-landscape, tablet, desktop
  bool details_open = false;
  ThumbnailAtlas* thumbnails = nullptr;      // the gallery's images (the backend owns the texture)
  // Named controls' last rectangles (x, y, width, height; framebuffer pixels) when fully visible,
  // so automation can press them with a real pointer (window.app.controlRect in the page).
  std::map<std::string, std::array<float, 4>> controls;
  bool export_requested = false, import_requested = false, download_model_requested = false;
};

void ui_frame(AppState& app, UiState& ui);

}  // namespace digitlab
