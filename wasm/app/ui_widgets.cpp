#include "ui_widgets.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace digitlab {
namespace {

ImVec2 text_size(ImFont* font, const char* text) { return font->CalcTextSizeA(font->FontSize, FLT_MAX, 0.f, text); }

// "1.2k", "350", "0.25": a tick value in few characters.
std::string short_number(float v, bool percent) {
  char s[32];
  if (percent) std::snprintf(s, sizeof s, "%.0f%%", 100.f * v);
  else if (std::fabs(v) >= 1000.f) std::snprintf(s, sizeof s, "%.1fk", v / 1000.f);
  else if (std::fabs(v) >= 10.f || v == 0.f) std::snprintf(s, sizeof s, "%.0f", v);
  else std::snprintf(s, sizeof s, "%.2f", v);
  return s;
}

}  // namespace

void big_digit(const UiFonts& fonts, int label, float side, ImU32 color) {
  const ImVec2 o = ImGui::GetCursorScreenPos();
  char text[4] = "?";
  if (label >= 0 && label <= 9) text[0] = char('0' + label);
  ImFont* f = fonts.digit;
  const float size = std::min(f->FontSize, side * 0.95f);
  const ImVec2 t = f->CalcTextSizeA(size, FLT_MAX, 0.f, text);
  ImGui::GetWindowDrawList()->AddText(f, size, ImVec2(o.x + (side - t.x) / 2, o.y + (side - t.y) / 2), color, text);
  ImGui::Dummy(ImVec2(side, side));
}

void probability_bars(const UiFonts& fonts, const std::vector<float>& p, int top, float width, float height, float px) {
  const ImVec2 o = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const int n = 10;
  const float label_h = fonts.small->FontSize + 4 * px, value_h = fonts.small->FontSize + 2 * px;
  const float slot = width / float(n), bar_w = slot * 0.62f, bar_max = std::max(1.f, height - label_h - value_h);
  const float base = o.y + height - label_h;
  for (int d = 0; d < n; ++d) {
    const float v = d < int(p.size()) ? std::clamp(p[size_t(d)], 0.f, 1.f) : 0.f;
    const float x = o.x + slot * float(d) + (slot - bar_w) / 2;
    dl->AddRectFilled(ImVec2(x, base - bar_max), ImVec2(x + bar_w, base), IM_COL32(40, 44, 54, 255), 3 * px);
    const bool is_top = d == top;
    if (v > 0.f)
      dl->AddRectFilled(ImVec2(x, base - std::max(2 * px, bar_max * v)), ImVec2(x + bar_w, base),
                        is_top ? colors::kAccent : IM_COL32(110, 118, 136, 255), 3 * px);
    char digit[2] = {char('0' + d), 0};
    const ImVec2 ts = text_size(fonts.small, digit);
    dl->AddText(fonts.small, fonts.small->FontSize, ImVec2(x + (bar_w - ts.x) / 2, base + 2 * px),
                is_top ? colors::kText : colors::kMuted, digit);
    if (is_top) {
      char value[16];
      std::snprintf(value, sizeof value, "%.0f%%", 100.f * v);
      const ImVec2 vs = text_size(fonts.small, value);
      const float vy = std::max(o.y, base - bar_max * v - value_h);
      dl->AddText(fonts.small, fonts.small->FontSize, ImVec2(x + (bar_w - vs.x) / 2, vy), colors::kText, value);
    }
  }
  ImGui::Dummy(ImVec2(width, height));
}

void line_plot(const UiFonts& fonts, const char* title, const std::vector<PlotSeries>& series, float step_per_point,
               float x_max, float y_min, float y_max, ImVec2 size, float px) {
  const ImVec2 o = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImFont* f = fonts.small;
  const float fs = f->FontSize;
  bool percent = false;
  if (y_max <= y_min) {  // from the data
    y_min = INFINITY;
    y_max = -INFINITY;
    for (const PlotSeries& s : series)
      for (float v : *s.values)
        if (std::isfinite(v)) y_min = std::min(y_min, v), y_max = std::max(y_max, v);
    if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
    if (y_max - y_min < 1e-3f) y_max = y_min + 1e-3f;
    y_min = std::min(y_min, 0.f);
  }
  for (const PlotSeries& s : series) percent = percent || s.percent;
  // Title and legend above, axis labels left and below.
  dl->AddText(fonts.heading, fonts.small->FontSize * 1.05f, o, colors::kText, title);
  const std::string y_hi = short_number(y_max, percent), y_lo = short_number(y_min, percent);
  const float left = std::max(text_size(f, y_hi.c_str()).x, text_size(f, y_lo.c_str()).x) + 6 * px;
  const float top = fs * 1.6f, bottom = fs + 6 * px;
  const ImVec2 a(o.x + left, o.y + top), b(o.x + size.x - 4 * px, o.y + size.y - bottom);
  dl->AddRectFilled(a, b, IM_COL32(22, 25, 31, 255), 4 * px);
  for (int g = 0; g <= 2; ++g) {  // gridlines at 0, 50, 100% of the range
    const float y = b.y - (b.y - a.y) * float(g) / 2.f;
    dl->AddLine(ImVec2(a.x, y), ImVec2(b.x, y), IM_COL32(48, 53, 64, 255), px);
  }
  dl->AddText(f, fs, ImVec2(o.x, a.y - fs / 2), colors::kMuted, y_hi.c_str());
  dl->AddText(f, fs, ImVec2(o.x, b.y - fs / 2), colors::kMuted, y_lo.c_str());
  const std::string x_hi = short_number(x_max, false) + " steps";
  dl->AddText(f, fs, ImVec2(a.x, b.y + 3 * px), colors::kMuted, "0");
  dl->AddText(f, fs, ImVec2(b.x - text_size(f, x_hi.c_str()).x, b.y + 3 * px), colors::kMuted, x_hi.c_str());
  const auto at = [&](float step, float v) {
    const float tx = x_max > 0 ? std::clamp(step / x_max, 0.f, 1.f) : 0.f;
    const float ty = std::clamp((v - y_min) / (y_max - y_min), 0.f, 1.f);
    return ImVec2(a.x + (b.x - a.x) * tx, b.y - (b.y - a.y) * ty);
  };
  float legend_x = o.x + text_size(fonts.heading, title).x + 12 * px;
  for (const PlotSeries& s : series) {
    const std::vector<float>& v = *s.values;
    ImVec2 prev;
    bool have_prev = false;
    for (size_t k = 0; k < v.size(); ++k) {
      if (!std::isfinite(v[k])) {
        have_prev = false;
        continue;
      }
      const ImVec2 q = at(float(k + 1) * step_per_point, v[k]);
      if (have_prev) dl->AddLine(prev, q, s.color, 2 * px);
      dl->AddCircleFilled(q, 2.5f * px, s.color);
      prev = q;
      have_prev = true;
    }
    // Legend: the series' name and its last value.
    float last = NAN;
    for (float x : v)
      if (std::isfinite(x)) last = x;
    const std::string text = std::string(s.label) + (std::isfinite(last) ? " " + short_number(last, s.percent) : "");
    dl->AddCircleFilled(ImVec2(legend_x + 4 * px, o.y + fs * 0.6f), 4 * px, s.color);
    dl->AddText(f, fs, ImVec2(legend_x + 12 * px, o.y + 1 * px), colors::kMuted, text.c_str());
    legend_x += 12 * px + text_size(f, text.c_str()).x + 12 * px;
  }
  ImGui::Dummy(size);
}

void grey_image(const uint8_t* pixels, float side, ImDrawList* dl, ImVec2 o) {
  const float cell = side / 28.f;
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) {
      const int v = pixels[y * 28 + x];
      if (v > 8)
        dl->AddRectFilled(ImVec2(o.x + x * cell, o.y + y * cell), ImVec2(o.x + (x + 1) * cell, o.y + (y + 1) * cell),
                          IM_COL32(v, v, v, 255));
    }
}

void grey_image(const float* pixels, float side) {
  const ImVec2 o = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(o, ImVec2(o.x + side, o.y + side), colors::kPad, 4.f);
  uint8_t bytes[28 * 28];
  for (int i = 0; i < 28 * 28; ++i) bytes[i] = uint8_t(std::clamp(pixels[i], 0.f, 1.f) * 255.f + 0.5f);
  grey_image(bytes, side, dl, o);
  ImGui::Dummy(ImVec2(side, side));
}

void state_chip(const UiFonts& fonts, const char* text, ImU32 color, float px) {
  const ImVec2 o = ImGui::GetCursorScreenPos();
  ImFont* f = fonts.small;
  const ImVec2 t = text_size(f, text);
  const ImVec2 size(t.x + 16 * px, t.y + 6 * px);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 fill = (color & 0x00FFFFFF) | (60u << 24);
  dl->AddRectFilled(o, ImVec2(o.x + size.x, o.y + size.y), fill, size.y / 2);
  dl->AddText(f, f->FontSize, ImVec2(o.x + 8 * px, o.y + 3 * px), color, text);
  ImGui::Dummy(size);
}

}  // namespace digitlab
