#include "ui.h"

#include <imgui.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "fine_tune/messages.h"
#include "ui_widgets.h"

namespace digitlab {
namespace {

// ---- sizes and helpers

struct Metrics {
  float px = 1;         // device pixels per CSS pixel
  float button_h = 34;  // device pixels: 44 CSS on touch screens, 34 with a mouse
  float gap = 12;       // between cards
};
Metrics g_m;
float px(float css) { return css * g_m.px; }

// Remembers the last item under a name when it is wholly visible (UiState::controls).
void name_last_item(UiState& ui, const std::string& name) {
  const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 ca = dl->GetClipRectMin(), cb = dl->GetClipRectMax();
  if (a.x + 0.5f < ca.x || a.y + 0.5f < ca.y || b.x - 0.5f > cb.x || b.y - 0.5f > cb.y) return;  // clipped
  ui.controls[name] = {a.x, a.y, b.x - a.x, b.y - a.y};
}

bool named_button(UiState& ui, const char* label, const std::string& name, ImVec2 size = ImVec2(0, 0)) {
  if (size.y == 0) size.y = g_m.button_h;
  const bool pressed = ImGui::Button(label, size);
  name_last_item(ui, name);
  return pressed;
}

// A primary action: the accent colour.
bool primary_button(UiState& ui, const char* label, const std::string& name, ImVec2 size = ImVec2(0, 0)) {
  ImGui::PushStyleColor(ImGuiCol_Button, colors::v4(colors::kAccent));
  ImGui::PushStyleColor(ImGuiCol_ButtonHovered, colors::v4(IM_COL32(110, 160, 255, 255)));
  ImGui::PushStyleColor(ImGuiCol_ButtonActive, colors::v4(IM_COL32(70, 120, 235, 255)));
  const bool pressed = named_button(ui, label, name, size);
  ImGui::PopStyleColor(3);
  return pressed;
}

void heading(const UiState& ui, const char* text) {
  ImGui::PushFont(ui.fonts.heading);
  ImGui::TextUnformatted(text);
  ImGui::PopFont();
}

void caption(const UiState& ui, const char* fmt, ...) IM_FMTARGS(2);
void caption(const UiState& ui, const char* fmt, ...) {
  ImGui::PushFont(ui.fonts.small);
  ImGui::PushStyleColor(ImGuiCol_Text, colors::v4(colors::kMuted));
  va_list args;
  va_start(args, fmt);
  ImGui::TextWrappedV(fmt, args);
  va_end(args);
  ImGui::PopStyleColor();
  ImGui::PopFont();
}

// A card: a bordered child window at a fixed place; content that does not fit scrolls inside it.
bool begin_card(const char* id, ImVec2 pos, ImVec2 size, bool scrolls = true) {
  ImGui::SetCursorScreenPos(pos);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(px(14), px(12)));
  const bool open = ImGui::BeginChild(id, size, ImGuiChildFlags_Border,
                                      scrolls ? ImGuiWindowFlags_None : ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  ImGui::PopStyleVar();
  return open;
}

// A finger dragging inside a scrolling card scrolls it (ImGui scrolls with the wheel only).
void touch_scroll(const UiState& ui) {
  if (!ui.touch) return;
  const ImGuiIO& io = ImGui::GetIO();
  if (ImGui::IsWindowHovered(ImGuiHoveredFlags_ChildWindows) && ImGui::IsMouseDragging(ImGuiMouseButton_Left, px(8)))
    ImGui::SetScrollY(ImGui::GetScrollY() - io.MouseDelta.y);
}

float content_width() { return ImGui::GetContentRegionAvail().x; }

std::string percent(double v) {
  if (!std::isfinite(v) || v < 0) return "–";
  char s[16];
  std::snprintf(s, sizeof s, "%.0f%%", 100 * v);
  return s;
}

std::string duration(double seconds) {
  char s[32];
  if (seconds < 60) std::snprintf(s, sizeof s, "%.0f s", std::max(1.0, seconds));
  else std::snprintf(s, sizeof s, "%d min %02d s", int(seconds) / 60, int(seconds) % 60);
  return s;
}

// ---- the drawing pad

// An invisible button catches the pointer; strokes are drawn as vector polylines, sharp at any scale.
void drawing_pad(AppState& app, UiState& ui, float side) {
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  ui.pad_x = origin.x;
  ui.pad_y = origin.y;
  ui.pad_side = side;
  const float scale = side / float(app.canvas.side());
  const auto to_canvas = [&](ImVec2 m) { return Point{(m.x - origin.x) / scale, (m.y - origin.y) / scale}; };
  ImGui::InvisibleButton("pad", ImVec2(side, side));
  if (ImGui::IsItemActivated()) {
    app_begin_stroke(app, to_canvas(ImGui::GetIO().MousePos));
    ui.drawing = true;
  } else if (ui.drawing && ImGui::IsItemActive()) {
    std::vector<Point> trail;
    for (const Point& q : ui.pointer_trail) trail.push_back(to_canvas(ImVec2(q.x, q.y)));
    trail.push_back(to_canvas(ImGui::GetIO().MousePos));
    app_extend_stroke(app, trail);
  } else {
    ui.drawing = false;
  }
  ui.pointer_trail.clear();

  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(origin, ImVec2(origin.x + side, origin.y + side), colors::kPad, px(12));
  dl->AddRect(origin, ImVec2(origin.x + side, origin.y + side), colors::kCardBorder, px(12), 0, px(1));
  for (const Stroke& s : app.canvas.strokes()) {
    const float w = s.width * scale;
    ImVec2 prev(origin.x + s.points[0].x * scale, origin.y + s.points[0].y * scale);
    dl->AddCircleFilled(prev, w / 2, colors::kInk);
    for (size_t i = 1; i < s.points.size(); ++i) {
      const ImVec2 q(origin.x + s.points[i].x * scale, origin.y + s.points[i].y * scale);
      dl->AddLine(prev, q, colors::kInk, w);
      dl->AddCircleFilled(q, w / 2, colors::kInk);
      prev = q;
    }
  }
  if (app.canvas.empty()) {
    const char* hint = ui.touch ? "Draw a digit here with your finger" : "Draw a digit here";
    ImFont* f = ui.fonts.body;
    const ImVec2 t = f->CalcTextSizeA(f->FontSize, FLT_MAX, 0.f, hint);
    dl->AddText(f, f->FontSize, ImVec2(origin.x + (side - t.x) / 2, origin.y + (side - t.y) / 2), IM_COL32(95, 100, 115, 255), hint);
  }
}

// Clear, undo and the pen's width under the pad.
void pad_tools(AppState& app, UiState& ui, float width) {
  const bool keys = !ImGui::GetIO().WantTextInput;
  const float w = (width - 3 * ImGui::GetStyle().ItemSpacing.x) / 4;
  if (named_button(ui, "Clear", "clear", ImVec2(w, 0)) || (keys && ImGui::IsKeyPressed(ImGuiKey_C, false))) app_clear_drawing(app);
  ImGui::SameLine();
  if (named_button(ui, "Undo", "undo", ImVec2(w, 0)) || (keys && ImGui::IsKeyPressed(ImGuiKey_Z, false))) app_undo_stroke(app);
  ImGui::SameLine();
  if (named_button(ui, "Thinner", "pen-thinner", ImVec2(w, 0)) || (keys && ImGui::IsKeyPressed(ImGuiKey_LeftBracket)))
    app_set_pen_width(app, app.pen_width - 3.f);
  ImGui::SameLine();
  if (named_button(ui, "Thicker", "pen-thicker", ImVec2(w, 0)) || (keys && ImGui::IsKeyPressed(ImGuiKey_RightBracket)))
    app_set_pen_width(app, app.pen_width + 3.f);
}

// ---- prediction

// "It's a 7, 100% sure", or what to do before there is a guess.
void prediction_words(AppState& app, UiState& ui) {
  const Prediction& p = app.prediction;
  if (p.valid) {
    ImGui::PushFont(ui.fonts.heading);
    ImGui::Text("It's a %d", p.label);
    ImGui::PopFont();
    const float c = p.probabilities[size_t(p.label)];
    caption(ui, c >= 0.9f ? "%.0f%% sure" : c >= 0.6f ? "%.0f%% sure: fairly confident" : "%.0f%% sure: could be another digit", 100.f * c);
  } else {
    heading(ui, app.predictor.loaded() ? "Draw a digit" : "Loading the network…");
    caption(ui, "Its guess and how sure it is appear as you draw.");
  }
}

void network_input(AppState& app, UiState& ui) {
  if (!app.has_ink) return;
  ImGui::AlignTextToFramePadding();
  grey_image(app.input, px(56));
  ImGui::SameLine();
  caption(ui, "What the network sees: your drawing cropped, scaled into 20 px and centred in 28 x 28, as MNIST's digits were.");
}

// The guess: the digit large, in words, and the ten probabilities. A card taller than wide (a
// tablet's column) stacks them; otherwise the digit sits left of the words and bars.
void prediction_card_body(AppState& app, UiState& ui, bool with_input_image) {
  const Prediction& p = app.prediction;
  const std::vector<float> probabilities = p.valid ? p.probabilities : std::vector<float>(10, 0.f);
  const int label = p.valid ? p.label : -1;
  const float width = content_width();
  if (ImGui::GetContentRegionAvail().y > 1.3f * width) {
    const float digit_side = std::min(px(170), width * 0.6f);
    ImGui::SetCursorPosX(ImGui::GetCursorPosX() + (width - digit_side) / 2);
    big_digit(ui.fonts, label, digit_side, p.valid ? colors::kText : colors::kMuted);
    prediction_words(app, ui);
    ImGui::Dummy(ImVec2(0, px(8)));
    probability_bars(ui.fonts, probabilities, label, width, std::min(px(120), width * 0.45f), g_m.px);
    ImGui::Dummy(ImVec2(0, px(8)));
    if (with_input_image) network_input(app, ui);
    return;
  }
  const float digit_side = std::min(px(110), width * 0.32f);
  ImGui::BeginGroup();
  big_digit(ui.fonts, label, digit_side, p.valid ? colors::kText : colors::kMuted);
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  prediction_words(app, ui);
  const float bars_w = std::max(px(120), ImGui::GetContentRegionAvail().x);
  const float bars_h = std::max(px(36), std::min(digit_side * 0.62f, ImGui::GetContentRegionAvail().y - px(6)));
  probability_bars(ui.fonts, probabilities, label, bars_w, bars_h, g_m.px);
  ImGui::EndGroup();
  if (with_input_image) network_input(app, ui);
}

float label_button_h() { return std::max(g_m.button_h, px(40)); }

// The height of a card of label buttons in `rows` rows: padding, the caption, the rows.
float labels_card_height(const UiState& ui, int rows) {
  const ImGuiStyle& st = ImGui::GetStyle();
  return 2 * px(12) + ui.fonts.small->FontSize + st.ItemSpacing.y + float(rows) * label_button_h() +
         float(rows - 1) * st.ItemSpacing.y + px(4);
}

// "Save as" 0-9 (or, with a sample selected, "Relabel as"), in `rows` rows.
void label_buttons(AppState& app, UiState& ui, int rows) {
  const bool selecting = app.selected_sample >= 0 && size_t(app.selected_sample) < app.samples.size();
  const bool keys = !ImGui::GetIO().WantTextInput;
  if (selecting) caption(ui, "Relabel sample %d (now %d) as:", app.selected_sample + 1, app.samples.label(size_t(app.selected_sample)));
  else caption(ui, app.has_ink ? "Save this drawing as your sample of:" : "Draw a digit, then save it as a sample of:");
  const int per_row = 10 / rows;
  const float gap = ImGui::GetStyle().ItemSpacing.x;
  const float w = std::max(g_m.button_h, (content_width() - gap * float(per_row - 1)) / float(per_row));
  for (int d = 0; d < 10; ++d) {
    if (d % per_row) ImGui::SameLine();
    char label[24];
    std::snprintf(label, sizeof label, "%d##digit", d);
    const bool clicked = named_button(ui, label, "digit-" + std::to_string(d), ImVec2(w, label_button_h()));
    const bool pressed = clicked || (keys && ImGui::IsKeyPressed(ImGuiKey(ImGuiKey_0 + d), false)) ||
                         (keys && ImGui::IsKeyPressed(ImGuiKey(ImGuiKey_Keypad0 + d), false));
    if (!pressed) continue;
    if (selecting) app_relabel_sample(app, size_t(app.selected_sample), d);
    else app_add_sample(app, d);
  }
}

// ---- samples

// Thumbnails, newest first; only the rows on screen are drawn (ImGuiListClipper), each one quad of
// the thumbnail atlas, so 10,000 samples cost what a screenful does. A tap selects one for relabelling or deletion.
void sample_gallery(AppState& app, UiState& ui, float height) {
  ImGui::BeginChild("gallery", ImVec2(0, height), ImGuiChildFlags_None);
  touch_scroll(ui);
  const SampleStore& s = app.samples;
  const float gap = px(6), cell = ui.touch ? px(44) : px(36);
  const int per_row = std::max(1, int((content_width() + gap) / (cell + gap)));
  const int rows = int((s.size() + size_t(per_row) - 1) / size_t(per_row));
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(gap, gap));
  if (ui.thumbnails) ui.thumbnails->begin_frame(s.index_epoch());
  ImGuiListClipper clipper;
  clipper.Begin(rows, cell + gap);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  while (clipper.Step())
    for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r)
      for (int c = 0; c < per_row; ++c) {
        const size_t k = size_t(r) * size_t(per_row) + size_t(c);
        if (k >= s.size()) break;
        const size_t i = s.size() - 1 - k;
        if (c) ImGui::SameLine();
        ImGui::PushID(int(i));
        const ImVec2 o = ImGui::GetCursorScreenPos();
        const bool sel = int(i) == app.selected_sample;
        const bool misread = app.readings.misread(i, s.label(i));
        dl->AddRectFilled(o, ImVec2(o.x + cell, o.y + cell), colors::kPad, px(4));
        ThumbnailAtlas::Tile tile;
        if (ui.thumbnails && ui.thumbnails->tile(i, s.image(i), &tile))
          dl->AddImage(tile.texture, o, ImVec2(o.x + cell, o.y + cell), tile.uv0, tile.uv1);
        else
          grey_image(s.image(i), cell, dl, o);
        dl->AddRect(o, ImVec2(o.x + cell, o.y + cell), sel ? colors::kRunning : misread ? colors::kFailed : colors::kCardBorder,
                    px(4), 0, sel || misread ? px(2.5f) : px(1));
        const std::string label = std::to_string(s.label(i));
        ImFont* small = ui.fonts.small;
        dl->AddText(small, small->FontSize, ImVec2(o.x + px(3), o.y + px(1)), colors::kDone, label.c_str());
        if (misread) {  // what the model reads instead, bottom right
          const std::string read = std::to_string(app.readings.digits[i]);
          const float w = small->CalcTextSizeA(small->FontSize, FLT_MAX, 0, read.c_str()).x;
          dl->AddText(small, small->FontSize, ImVec2(o.x + cell - w - px(3), o.y + cell - small->FontSize - px(1)),
                      colors::kFailed, read.c_str());
        }
        ImGui::InvisibleButton("sample", ImVec2(cell, cell));
        name_last_item(ui, "sample-" + std::to_string(i));
        // A tap, not the end of a scrolling drag, selects.
        if (ImGui::IsItemDeactivated() && ImGui::IsItemHovered() && ImGui::GetIO().MouseDragMaxDistanceSqr[0] < px(8) * px(8))
          app.selected_sample = sel ? -1 : int(i);
        ImGui::PopID();
      }
  ImGui::PopStyleVar();
  if (s.size() == 0) caption(ui, "No samples yet. Draw a digit and save it with its number: the network learns your writing from them.");
  ImGui::EndChild();
}

void samples_card_body(AppState& app, UiState& ui) {
  const auto counts = app.samples.counts();
  char title[64];
  std::snprintf(title, sizeof title, "Your samples (%zu)", app.samples.size());
  heading(ui, title);
  // Per digit: how many, so a person sees which digits need more.
  std::string row;
  for (int d = 0; d < 10; ++d) row += std::to_string(d) + ": " + std::to_string(counts[size_t(d)]) + (d < 9 ? "   " : "");
  caption(ui, "%s", row.c_str());
  if (const SampleReadings& r = app.readings; !r.digits.empty()) {
    // The session's check of every sample, kept up to date as they are relabelled or deleted.
    const size_t checked = std::min(r.digits.size(), app.samples.size());
    size_t wrong = 0;
    for (size_t i = 0; i < checked; ++i) wrong += r.misread(i, app.samples.label(i));
    if (r.shipped >= 0)
      caption(ui, "This model reads %zu of %zu right (as shipped: %.0f%%); red: misread, with what it reads.",
              checked - wrong, checked, r.shipped * 100);
    else
      caption(ui, "This model reads %zu of %zu right; red: misread, with what it reads.", checked - wrong, checked);
  }
  const bool selecting = app.selected_sample >= 0 && size_t(app.selected_sample) < app.samples.size();
  if (!selecting) app.selected_sample = -1;
  const bool keys = !ImGui::GetIO().WantTextInput;
  const float actions_h = g_m.button_h * (selecting ? 2 : 1) + ImGui::GetStyle().ItemSpacing.y * 2;
  sample_gallery(app, ui, std::max(px(60), ImGui::GetContentRegionAvail().y - actions_h));
  const float half = (content_width() - ImGui::GetStyle().ItemSpacing.x) / 2;
  if (selecting) {
    if (named_button(ui, "Delete sample", "delete-sample", ImVec2(half, 0)) || (keys && ImGui::IsKeyPressed(ImGuiKey_Delete, false)))
      app_delete_sample(app, size_t(app.selected_sample));
    ImGui::SameLine();
    if (named_button(ui, "Done", "deselect", ImVec2(half, 0)) || ImGui::IsKeyPressed(ImGuiKey_Escape, false)) app.selected_sample = -1;
  }
  if (named_button(ui, "Export", "export", ImVec2(half, 0))) ui.export_requested = true;
  ImGui::SameLine();
  if (named_button(ui, "Import…", "import", ImVec2(half, 0))) ui.import_requested = true;
}

// ---- fine-tuning

const char* state_text(const FineTuneStatus& s, ImU32* color) {
  switch (s.state) {
    case FineTuneStatus::State::preparing: *color = colors::kRunning; return "Preparing";
    case FineTuneStatus::State::running: *color = colors::kRunning; return "Training";
    case FineTuneStatus::State::done: *color = colors::kDone; return "Done";
    case FineTuneStatus::State::failed: *color = colors::kFailed; return "Failed";
    case FineTuneStatus::State::idle: break;
  }
  *color = colors::kMuted;
  return "Ready";
}

void train_card_body(AppState& app, UiState& ui) {
  const bool running = app.tuning->active();
  const FineTuneStatus& s = app.tuning->status();
  heading(ui, "Teach it your writing");
  ImGui::SameLine();
  ImU32 chip = 0;
  const char* what = state_text(s, &chip);
  ImGui::SetCursorPosX(std::max(ImGui::GetCursorPosX(), ImGui::GetWindowContentRegionMax().x - px(90)));
  state_chip(ui.fonts, what, chip, g_m.px);
  caption(ui, "Fine-tunes the model on your samples in the background, with MNIST digits mixed in so it keeps "
              "reading everyone else's.");
  // What trains: three choices side by side.
  ImGui::BeginDisabled(running);
  const float gap = ImGui::GetStyle().ItemSpacing.x, w3 = (content_width() - 2 * gap) / 3;
  const char* names[] = {"Head", "Last block", "Whole net"};
  int k = 0;
  for (TrainableLayers t : kTrainableLayerChoices) {
    if (k) ImGui::SameLine();
    const bool on = app.trainable == t;
    if (on) ImGui::PushStyleColor(ImGuiCol_Button, colors::v4(IM_COL32(56, 82, 140, 255)));
    if (named_button(ui, names[k], std::string("train-") + trainable_layers_name(t), ImVec2(w3, 0))) app.trainable = t;
    if (on) ImGui::PopStyleColor();
    ++k;
  }
  ImGui::EndDisabled();
  caption(ui, app.trainable == TrainableLayers::head ? "Head: quickest (seconds); learns which features mean which digit."
              : app.trainable == TrainableLayers::last_block ? "Last block: the last convolution too; a few seconds more."
                                                             : "Whole network: every layer; slowest, learns the most.");
  const float full = content_width();
  if (!running) {
    if (primary_button(ui, app.samples.size() ? "Start training" : "Start training (save samples first)", "fine-tune", ImVec2(full, 0)))
      app_start_fine_tune(app);
  } else {
    char bar[96];
    if (s.state == FineTuneStatus::State::preparing)
      std::snprintf(bar, sizeof bar, "Preparing your samples…");
    else if (s.eta_seconds >= 0)
      std::snprintf(bar, sizeof bar, "Step %d of %d · about %s left", s.step, s.total_steps, duration(s.eta_seconds).c_str());
    else
      std::snprintf(bar, sizeof bar, "Step %d of %d", s.step, s.total_steps);
    ImGui::PushStyleColor(ImGuiCol_PlotHistogram, colors::v4(colors::kRunning));
    ImGui::ProgressBar(s.progress(), ImVec2(full, g_m.button_h), bar);
    ImGui::PopStyleColor();
    const float half = (full - gap) / 2;
    ImGui::BeginDisabled(s.state != FineTuneStatus::State::running);
    if (primary_button(ui, "Stop, keep the best", "stop", ImVec2(half, 0))) app_stop_fine_tune(app);
    ImGui::EndDisabled();
    ImGui::SameLine();
    if (named_button(ui, "Cancel", "cancel", ImVec2(half, 0))) app_cancel_fine_tune(app);
  }
  if (!s.loss_history.empty()) {
    const float plot_w = content_width();
    const float step = float(std::max(1, s.points_every)), x_max = float(std::max(s.total_steps, 1));
    line_plot(ui.fonts, "Loss", {{&s.loss_history, colors::kRunning, "training", false}}, step, x_max, 0, 0,
              ImVec2(plot_w, px(110)), g_m.px);
    line_plot(ui.fonts, "Accuracy",
              {{&s.accuracy_history, colors::kAccent, "training", true}, {&s.heldout_history, colors::kDone, "held-out", true}},
              step, x_max, 0.f, 1.f, ImVec2(plot_w, px(110)), g_m.px);
  }
  if (s.state == FineTuneStatus::State::done) {
    const char* why = s.ending == FineTuneStatus::Ending::no_improvement ? "stopped when your held-out samples stopped improving"
                      : s.ending == FineTuneStatus::Ending::stopped      ? "stopped by you"
                                                                         : "ran its planned steps";
    caption(ui, "Trained %d steps (%s); kept the weights of step %d.", s.step, why, s.best_step);
    if (s.heldout_samples > 0)
      ImGui::Text("Your held-out samples (%d): %s → %s", s.heldout_samples, percent(s.heldout_before).c_str(),
                  percent(s.heldout_after).c_str());
    else
      caption(ui, "With 10 samples or more, a fifth are held out to measure the effect and to stop in time.");
    if (std::isfinite(s.samples_after))
      ImGui::Text("All your samples (%d), trained on or not: %s → %s", s.train_samples + s.heldout_samples,
                  percent(s.samples_before).c_str(), percent(s.samples_after).c_str());
    if (s.mnist_digits > 0) {
      ImGui::Text("MNIST digits it never trained on (%d): %s → %s", s.mnist_digits, percent(s.mnist_before).c_str(),
                  percent(s.mnist_after).c_str());
      caption(ui, "A drop there is what your style cost on ordinary handwriting.");
    }
  }
  if (s.state == FineTuneStatus::State::failed) {
    ImGui::PushStyleColor(ImGuiCol_Text, colors::v4(colors::kFailed));
    ImGui::TextWrapped("%s", s.message.c_str());
    ImGui::PopStyleColor();
  }
  if (app.tuned && !running) {
    if (named_button(ui, "Back to the model as shipped", "revert", ImVec2(full, 0))) app_revert(app);
  }
}

// ---- model and details

void model_picker(AppState& app, UiState& ui, float width) {
  const auto describe = [](const ModelEntry& e) {
    char text[160];
    if (e.test_accuracy >= 0)
      std::snprintf(text, sizeof text, "%s · %.2f%% on MNIST", e.label.c_str(), 100.0 * e.test_accuracy);
    else
      std::snprintf(text, sizeof text, "%s", e.label.c_str());
    return std::string(text);
  };
  const auto& entries = app.models.entries();
  const std::string preview = app.selected >= 0 ? describe(entries[size_t(app.selected)]) : std::string("(none)");
  ImGui::SetNextItemWidth(width);
  ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(px(12), (g_m.button_h - ImGui::GetFontSize()) / 2));
  const bool open = ImGui::BeginCombo("##model", preview.c_str());
  ImGui::PopStyleVar();
  name_last_item(ui, "model-picker");
  if (open) {
    for (int i = 0; i < int(entries.size()); ++i) {
      const bool picked = ImGui::Selectable(describe(entries[size_t(i)]).c_str(), i == app.selected, 0, ImVec2(0, g_m.button_h));
      name_last_item(ui, "model-" + entries[size_t(i)].id);
      if (picked && i != app.selected) app_select_model(app, i);
    }
    ImGui::EndCombo();
  }
}

void details_body(AppState& app, UiState& ui) {
  const Predictor::Timings& t = app.predictor.timings();
  const PagePerf& p = app.perf;
  caption(ui, "Inference: %s path; one digit takes %.0f µs (f32), %.0f µs (Winograd), %.0f µs (int8; 0: not available)",
          inference_path_name(app.predictor.path()), t.f32_us, t.winograd_us, t.int8_us);
  caption(ui, "Last drawing update: %.2f ms. Page work in the last frame: %.2f ms; while training: p50 %.2f, p99 %.2f, max %.2f ms.",
          p.inference_ms, p.frame_ms, p.frame_ms_p50_tuning(), p.frame_ms_p99_tuning(), p.max_frame_ms_tuning);
  caption(ui, "Fine-tuning runs in the %s (start %.1f ms, finish %.1f ms on this thread; longest piece of work %.1f ms).",
          app.tuning->runs_in(), p.fine_tune_start_ms, p.fine_tune_finish_ms, app.tuning->longest_slice_ms());
  if (app.selected >= 0) {
    const ModelEntry& e = app.models.entries()[size_t(app.selected)];
    caption(ui, "Model %s: %lld parameters, %.2f M multiply-adds per digit%s.", app.model_name.c_str(), (long long)e.parameters,
            double(e.macs) / 1e6, app.tuned ? ", fine-tuned in this browser" : "");
  }
  caption(ui, "Frames drawn: %lld (the page draws only when something changes). Samples: %zu. Fonts: %s.", (long long)p.frames_drawn,
          app.samples.size(), ui.fonts_loaded ? "Roboto" : "ImGui's built-in (Roboto missing)");
}

void model_card_body(AppState& app, UiState& ui) {
  heading(ui, "Model");
  model_picker(app, ui, content_width());
  if (app.tuned) {
    ImGui::PushStyleColor(ImGuiCol_Text, colors::v4(colors::kDone));
    ImGui::TextWrapped("Fine-tuned on your samples, kept in this browser.");
    ImGui::PopStyleColor();
  } else {
    caption(ui, "As shipped. Your samples and any fine-tuned model stay in this browser.");
  }
  if (!app.model_error.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, colors::v4(colors::kFailed));
    ImGui::TextWrapped("%s", app.model_error.c_str());
    ImGui::PopStyleColor();
  }
  const float half = (content_width() - ImGui::GetStyle().ItemSpacing.x) / 2;
  if (named_button(ui, "Download model", "download-model", ImVec2(half, 0))) ui.download_model_requested = true;
  ImGui::SameLine();
  if (named_button(ui, "Load a model…", "load-model", ImVec2(half, 0))) ui.import_requested = true;
  ImGui::SetNextItemOpen(ui.details_open, ImGuiCond_Always);
  ui.details_open = ImGui::CollapsingHeader("Details");
  name_last_item(ui, "details");
  if (ui.details_open) details_body(app, ui);
}

void notice_line(AppState& app, UiState& ui) {
  if (app.notice.empty()) return;
  ImGui::PushStyleColor(ImGuiCol_Text, colors::v4(colors::kMuted));
  ImGui::PushFont(ui.fonts.small);
  ImGui::TextWrapped("%s", app.notice.c_str());
  ImGui::PopFont();
  ImGui::PopStyleColor();
}

// ---- layouts

void header(AppState& app, UiState& ui, ImVec2 pos, float width, bool with_picker) {
  ImGui::SetCursorScreenPos(pos);
  ImGui::PushFont(ui.fonts.heading);
  ImGui::TextUnformatted("digitlab");
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::PushFont(ui.fonts.small);
  ImGui::SetCursorPosY(ImGui::GetCursorPosY() + px(3));
  ImGui::TextColored(colors::v4(colors::kMuted), app.tuned ? "your own model" : "draw a digit, teach it yours");
  ImGui::PopFont();
  if (with_picker) {
    const float w = std::min(px(360), width * 0.4f);
    ImGui::SetCursorScreenPos(ImVec2(pos.x + width - w, pos.y - px(6)));
    model_picker(app, ui, w);
  }
}

void desktop(AppState& app, UiState& ui, ImVec2 o, ImVec2 size) {
  const float g = px(16), header_h = px(40);
  header(app, ui, ImVec2(o.x + g, o.y + g), size.x - 2 * g, false);  // the model card has the picker
  const float top = o.y + g + header_h, h = size.y - header_h - 2 * g;
  const float tools_h = g_m.button_h + px(8);
  const float pad = std::min({h - tools_h, (size.x - 4 * g) * 0.42f, px(640)});
  const float rest = size.x - 4 * g - pad, col2 = rest * 0.5f, col3 = rest - col2;
  ImGui::SetCursorScreenPos(ImVec2(o.x + g, top));
  drawing_pad(app, ui, pad);
  ImGui::SetCursorScreenPos(ImVec2(o.x + g, top + pad + px(8)));
  pad_tools(app, ui, pad);
  const float x2 = o.x + 2 * g + pad, x3 = x2 + col2 + g;
  const float pred_h = px(230), labels_h = labels_card_height(ui, 2);
  if (begin_card("prediction", ImVec2(x2, top), ImVec2(col2, pred_h), false)) prediction_card_body(app, ui, true);
  ImGui::EndChild();
  if (begin_card("labels", ImVec2(x2, top + pred_h + g), ImVec2(col2, labels_h), false)) label_buttons(app, ui, 2);
  ImGui::EndChild();
  const float samples_y = top + pred_h + labels_h + 2 * g;
  if (begin_card("samples", ImVec2(x2, samples_y), ImVec2(col2, top + h - samples_y))) samples_card_body(app, ui);
  ImGui::EndChild();
  const float model_h = ui.details_open ? px(330) : px(200);
  if (begin_card("train", ImVec2(x3, top), ImVec2(col3, h - model_h - g))) {
    touch_scroll(ui);
    train_card_body(app, ui);
    notice_line(app, ui);
  }
  ImGui::EndChild();
  if (begin_card("model", ImVec2(x3, top + h - model_h), ImVec2(col3, model_h))) model_card_body(app, ui);
  ImGui::EndChild();
}

void tablet(AppState& app, UiState& ui, ImVec2 o, ImVec2 size) {
  const float g = px(14), header_h = px(42);
  header(app, ui, ImVec2(o.x + g, o.y + g), size.x - 2 * g, true);
  const float top = o.y + g + header_h, h = size.y - header_h - 2 * g;
  const float tools_h = g_m.button_h + px(8);
  const float pad = std::min((size.x - 3 * g) * 0.62f, h * 0.48f);
  ImGui::SetCursorScreenPos(ImVec2(o.x + g, top));
  drawing_pad(app, ui, pad);
  ImGui::SetCursorScreenPos(ImVec2(o.x + g, top + pad + px(8)));
  pad_tools(app, ui, pad);
  const float x2 = o.x + 2 * g + pad, w2 = size.x - 3 * g - pad;
  if (begin_card("prediction", ImVec2(x2, top), ImVec2(w2, pad + tools_h), false)) prediction_card_body(app, ui, true);
  ImGui::EndChild();
  const float labels_y = top + pad + tools_h + g, labels_h = labels_card_height(ui, 1);
  if (begin_card("labels", ImVec2(o.x + g, labels_y), ImVec2(size.x - 2 * g, labels_h), false)) label_buttons(app, ui, 1);
  ImGui::EndChild();
  const float low_y = labels_y + labels_h + g, low_h = top + h - low_y, half = (size.x - 3 * g) / 2;
  if (begin_card("samples", ImVec2(o.x + g, low_y), ImVec2(half, low_h))) samples_card_body(app, ui);
  ImGui::EndChild();
  if (begin_card("train", ImVec2(o.x + 2 * g + half, low_y), ImVec2(half, low_h))) {
    touch_scroll(ui);
    train_card_body(app, ui);
    notice_line(app, ui);
    ImGui::Separator();
    ImGui::SetNextItemOpen(ui.details_open, ImGuiCond_Always);
    ui.details_open = ImGui::CollapsingHeader("Details");
    name_last_item(ui, "details");
    if (ui.details_open) details_body(app, ui);
  }
  ImGui::EndChild();
}

// A phone: one page at a time over a bottom navigation bar.
void phone(AppState& app, UiState& ui, ImVec2 o, ImVec2 size, bool landscape) {
  const float g = px(10), nav_h = std::max(g_m.button_h, px(44)) + 2 * g;
  const ImVec2 area(size.x - 2 * g, size.y - nav_h - g);
  const ImVec2 at(o.x + g, o.y + g);
  switch (ui.page) {
    case UiState::Page::draw: {
      if (landscape) {
        const float pad = std::min(area.y, area.x * 0.5f);
        ImGui::SetCursorScreenPos(at);
        drawing_pad(app, ui, pad);
        const float x2 = at.x + pad + g, w2 = area.x - pad - g;
        const float tools_h = g_m.button_h + px(6), labels_h = labels_card_height(ui, 2);
        ImGui::SetCursorScreenPos(ImVec2(x2, at.y));
        pad_tools(app, ui, w2);
        if (begin_card("prediction", ImVec2(x2, at.y + tools_h + px(4)), ImVec2(w2, area.y - tools_h - labels_h - px(8)), false))
          prediction_card_body(app, ui, false);
        ImGui::EndChild();
        if (begin_card("labels", ImVec2(x2, at.y + area.y - labels_h), ImVec2(w2, labels_h), false)) label_buttons(app, ui, 2);
        ImGui::EndChild();
      } else {
        header(app, ui, at, area.x, false);
        const float head = px(34), tools_h = g_m.button_h + px(8), labels_h = labels_card_height(ui, 2);
        const float pred_h = px(132);
        const float pad = std::min(area.x, area.y - head - tools_h - labels_h - pred_h - 2 * g);
        const float px0 = at.x + (area.x - pad) / 2;
        ImGui::SetCursorScreenPos(ImVec2(px0, at.y + head));
        drawing_pad(app, ui, pad);
        ImGui::SetCursorScreenPos(ImVec2(at.x, at.y + head + pad + px(8)));
        pad_tools(app, ui, area.x);
        const float y = at.y + head + pad + tools_h + g;
        if (begin_card("prediction", ImVec2(at.x, y), ImVec2(area.x, pred_h), false)) prediction_card_body(app, ui, false);
        ImGui::EndChild();
        if (begin_card("labels", ImVec2(at.x, y + pred_h + g), ImVec2(area.x, labels_h), false)) label_buttons(app, ui, 2);
        ImGui::EndChild();
      }
      break;
    }
    case UiState::Page::samples:
      if (begin_card("samples", at, area)) {
        if (app.selected_sample >= 0) label_buttons(app, ui, 2);
        samples_card_body(app, ui);
      }
      ImGui::EndChild();
      break;
    case UiState::Page::train:
      if (begin_card("train", at, area)) {
        touch_scroll(ui);
        train_card_body(app, ui);
        notice_line(app, ui);
      }
      ImGui::EndChild();
      break;
    case UiState::Page::model:
      if (begin_card("model", at, area)) {
        touch_scroll(ui);
        model_card_body(app, ui);
      }
      ImGui::EndChild();
      break;
  }
  // The navigation bar: four equal buttons; the page shown in the accent colour.
  const char* labels[] = {"Draw", "Samples", "Train", "Model"};
  const char* names[] = {"nav-draw", "nav-samples", "nav-train", "nav-model"};
  const float w = (size.x - 2 * g - 3 * ImGui::GetStyle().ItemSpacing.x) / 4;
  ImGui::SetCursorScreenPos(ImVec2(o.x + g, o.y + size.y - nav_h + g));
  for (int i = 0; i < 4; ++i) {
    if (i) ImGui::SameLine();
    const bool on = int(ui.page) == i;
    char label[48];
    if (i == 1) std::snprintf(label, sizeof label, "Samples (%zu)", app.samples.size());
    else if (i == 2 && app.tuning->active()) std::snprintf(label, sizeof label, "Train %.0f%%", 100 * app.tuning->status().progress());
    else std::snprintf(label, sizeof label, "%s", labels[i]);
    std::snprintf(label + std::strlen(label), sizeof label - std::strlen(label), "##nav%d", i);
    if (on) ImGui::PushStyleColor(ImGuiCol_Button, colors::v4(IM_COL32(56, 82, 140, 255)));
    if (named_button(ui, label, names[i], ImVec2(w, std::max(g_m.button_h, px(44))))) ui.page = UiState::Page(i);
    if (on) ImGui::PopStyleColor();
  }
}

}  // namespace

void ui_frame(AppState& app, UiState& ui) {
  g_m.px = ui.scale;
  g_m.button_h = px(ui.touch ? 44 : 34);
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ui.controls.clear();  // only what is laid out this frame
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(0, 0));
  ImGui::Begin("digitlab", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                   ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse | ImGuiWindowFlags_NoBringToFrontOnFocus |
                   ImGuiWindowFlags_NoBackground);  // main_web.cpp clears to WindowBg: one full-canvas layer fewer
  ImGui::PopStyleVar();
  const ImVec2 o = vp->WorkPos, size = vp->WorkSize;
  const float w_css = size.x / ui.scale, h_css = size.y / ui.scale;
  if (w_css < 640 || h_css < 560) {
    ui.layout = h_css >= w_css ? "phone-portrait" : "phone-landscape";
    phone(app, ui, o, size, h_css < w_css);
  } else if (w_css >= 1100 && h_css >= 640) {
    ui.layout = "desktop";
    desktop(app, ui, o, size);
  } else {
    ui.layout = "tablet";
    tablet(app, ui, o, size);
  }
  ImGui::End();
}

}  // namespace digitlab
