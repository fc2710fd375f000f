// The page's own widgets, drawn with ImGui's draw lists: the predicted digit, the ten probability
// bars, a line plot with axes and values, 28x28 images, a state chip. Sizes are in device pixels;
// `px` is device pixels per CSS pixel.
#pragma once
#include <imgui.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ui_theme.h"

namespace digitlab {

// The network's answer, large, centred in a box of `side`: "?" when there is none.
void big_digit(const UiFonts& fonts, int label, float side, ImU32 color);

// Ten vertical bars, one per digit, labelled below; the top one in the accent colour with its
// percentage above it. Occupies width x height.
void probability_bars(const UiFonts& fonts, const std::vector<float>& p, int top, float width, float height, float px);

struct PlotSeries {
  const std::vector<float>* values = nullptr;  // NaN entries are gaps
  ImU32 color = 0;
  const char* label = "";
  bool percent = false;  // values in [0, 1] shown as percentages
};
// A line plot over steps: point k is at step (k + 1) * step_per_point; x from 0 to x_max steps, y
// from y_min to y_max (y_max <= y_min: from the data). Axes with ticks and values, a legend with each
// series' last value.
void line_plot(const UiFonts& fonts, const char* title, const std::vector<PlotSeries>& series, float step_per_point,
               float x_max, float y_min, float y_max, ImVec2 size, float px);

// A 28x28 image (values in [0, 1], or bytes), enlarged to side x side.
void grey_image(const float* pixels, float side);
void grey_image(const uint8_t* pixels, float side, ImDrawList* dl, ImVec2 origin);

// A rounded label in a state's colour, e.g. "Training" in kRunning.
void state_chip(const UiFonts& fonts, const char* text, ImU32 color, float px);

}  // namespace digitlab
