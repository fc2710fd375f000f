#include "ui_theme.h"

#include <cstdio>
#include <string>

namespace digitlab {
namespace {

bool readable(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

void apply_style(float scale) {
  ImGuiStyle& s = ImGui::GetStyle();
  s = ImGuiStyle();
  ImGui::StyleColorsDark(&s);
  s.WindowPadding = ImVec2(16, 16);
  s.FramePadding = ImVec2(12, 8);
  s.ItemSpacing = ImVec2(10, 10);
  s.ItemInnerSpacing = ImVec2(8, 6);
  s.ScrollbarSize = 12;
  s.GrabMinSize = 14;
  s.WindowRounding = 0;
  s.ChildRounding = 10;
  s.FrameRounding = 8;
  s.GrabRounding = 8;
  s.PopupRounding = 8;
  s.ScrollbarRounding = 8;
  s.TabRounding = 8;
  s.WindowBorderSize = 0;
  s.ChildBorderSize = 1;
  s.FrameBorderSize = 0;
  s.ScaleAllSizes(scale);
  using namespace colors;
  ImVec4* c = s.Colors;
  c[ImGuiCol_WindowBg] = v4(kBackground);
  c[ImGuiCol_ChildBg] = v4(kCard);
  c[ImGuiCol_PopupBg] = v4(IM_COL32(33, 37, 46, 255));
  c[ImGuiCol_Border] = v4(kCardBorder);
  c[ImGuiCol_Text] = v4(kText);
  c[ImGuiCol_TextDisabled] = v4(kMuted);
  c[ImGuiCol_FrameBg] = v4(IM_COL32(40, 44, 54, 255));
  c[ImGuiCol_FrameBgHovered] = v4(IM_COL32(50, 55, 68, 255));
  c[ImGuiCol_FrameBgActive] = v4(IM_COL32(58, 64, 80, 255));
  c[ImGuiCol_Button] = v4(IM_COL32(46, 51, 63, 255));
  c[ImGuiCol_ButtonHovered] = v4(IM_COL32(58, 64, 79, 255));
  c[ImGuiCol_ButtonActive] = v4(IM_COL32(70, 77, 95, 255));
  c[ImGuiCol_Header] = v4(IM_COL32(46, 51, 63, 255));
  c[ImGuiCol_HeaderHovered] = v4(IM_COL32(58, 64, 79, 255));
  c[ImGuiCol_HeaderActive] = v4(IM_COL32(70, 77, 95, 255));
  c[ImGuiCol_CheckMark] = v4(kAccent);
  c[ImGuiCol_SliderGrab] = v4(kAccent);
  c[ImGuiCol_SliderGrabActive] = v4(kAccent);
  c[ImGuiCol_PlotHistogram] = v4(kAccent);
  c[ImGuiCol_Separator] = v4(kCardBorder);
  c[ImGuiCol_ScrollbarBg] = v4(IM_COL32(0, 0, 0, 0));
}

}  // namespace

bool ui_set_scale(UiFonts& fonts, float scale, const char* font_dir) {
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  io.FontGlobalScale = 1.f;
  apply_style(scale);
  const std::string dir = font_dir ? font_dir : "";
  const std::string regular = dir + "/Roboto-Regular.ttf", medium = dir + "/Roboto-Medium.ttf", bold = dir + "/Roboto-Bold.ttf";
  const bool have = readable(regular) && readable(medium) && readable(bold);
  if (!have) {  // ImGui's bitmap font, scaled: readable, if not crisp
    ImFontConfig c;
    c.SizePixels = 13.f * scale;
    fonts.body = fonts.heading = fonts.small = fonts.digit = io.Fonts->AddFontDefault(&c);
    return false;
  }
  // Latin-1, dashes, ellipsis, arrows, minus, bullet: every character the page writes.
  static const ImWchar ranges[] = {0x0020, 0x00FF, 0x2013, 0x2014, 0x2022, 0x2022, 0x2026, 0x2026,
                                   0x2190, 0x2193, 0x2212, 0x2212, 0};
  static const ImWchar digit_ranges[] = {0x0030, 0x0039, 0x003F, 0x003F, 0};
  ImFontConfig c;
  // The atlas is at device resolution already; horizontal oversampling keeps low-density screens
  // sharp at fractional positions, and would only quadruple the texture on dense ones.
  c.OversampleH = scale >= 2.f ? 1 : 2;
  c.OversampleV = 1;
  fonts.body = io.Fonts->AddFontFromFileTTF(regular.c_str(), 16.f * scale, &c, ranges);
  fonts.heading = io.Fonts->AddFontFromFileTTF(medium.c_str(), 18.f * scale, &c, ranges);
  fonts.small = io.Fonts->AddFontFromFileTTF(regular.c_str(), 13.f * scale, &c, ranges);
  fonts.digit = io.Fonts->AddFontFromFileTTF(bold.c_str(), 96.f * scale, &c, digit_ranges);
  return fonts.body && fonts.heading && fonts.small && fonts.digit;
}

}  // namespace digitlab
