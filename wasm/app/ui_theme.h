// How the page looks: its fonts (Roboto, rasterised at the screen's pixel density so text is crisp
// at any devicePixelRatio), colours and spacing. ImGui only; the browser glue (main_web.cpp) calls
// ui_set_scale when the density changes and uploads the new font atlas.
#pragma once
#include <imgui.h>

namespace digitlab {

struct UiFonts {
  ImFont* body = nullptr;     // 16 CSS px: everything by default
  ImFont* heading = nullptr;  // 18 CSS px, medium weight: card titles
  ImFont* small = nullptr;    // 13 CSS px: captions, axes
  ImFont* digit = nullptr;    // 96 CSS px, bold, digits only: the prediction
};

// Colours with one meaning everywhere: state (running, done, failed), the accent of primary
// actions, and the surfaces cards sit on.
namespace colors {
inline constexpr ImU32 kBackground = IM_COL32(17, 19, 24, 255);
inline constexpr ImU32 kCard = IM_COL32(27, 30, 37, 255);
inline constexpr ImU32 kCardBorder = IM_COL32(44, 48, 58, 255);
inline constexpr ImU32 kText = IM_COL32(230, 232, 238, 255);
inline constexpr ImU32 kMuted = IM_COL32(150, 156, 170, 255);
inline constexpr ImU32 kAccent = IM_COL32(86, 140, 255, 255);
inline constexpr ImU32 kRunning = IM_COL32(245, 180, 60, 255);
inline constexpr ImU32 kDone = IM_COL32(80, 200, 120, 255);
inline constexpr ImU32 kFailed = IM_COL32(240, 96, 96, 255);
inline constexpr ImU32 kInk = IM_COL32(255, 255, 255, 255);
inline constexpr ImU32 kPad = IM_COL32(0, 0, 0, 255);
inline ImVec4 v4(ImU32 c) { return ImGui::ColorConvertU32ToFloat4(c); }
}  // namespace colors

// Loads the fonts at `scale` device pixels per CSS pixel into ImGui's atlas (cleared first) and
// sets the style's spacing and colours for that scale. font_dir holds Roboto-Regular.ttf,
// Roboto-Medium.ttf and Roboto-Bold.ttf; without them ImGui's own font stands in (and the page
// says so in its details). Returns false then.
bool ui_set_scale(UiFonts& fonts, float scale, const char* font_dir);

}  // namespace digitlab
