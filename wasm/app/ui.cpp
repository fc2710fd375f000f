#include "ui.h"

#include <imgui.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>

namespace digitlab {
namespace {

const ImU32 kGood = IM_COL32(80, 200, 120, 255);

// Call right after a control: remembers where it is under a name (UiState::controls).
void name_last_item(UiState& ui, const std::string& name) {
  const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
  ui.controls[name] = {a.x, a.y, b.x - a.x, b.y - a.y};
}

void prediction_panel(const AppState& app, float width) {
  const Prediction& p = app.prediction;
  ImGui::SetWindowFontScale(3.f);
  if (p.valid) ImGui::Text("%d", p.label);
  else ImGui::TextDisabled("?");
  ImGui::SetWindowFontScale(1.f);
  if (p.valid) ImGui::Text("%.1f%% sure", 100.f * p.probabilities[size_t(p.label)]);
  else ImGui::TextDisabled(app.predictor.loaded() ? "draw a digit" : "loading the model...");
  for (int d = 0; d < int(p.probabilities.size()); ++d) {
    char label[32];
    std::snprintf(label, sizeof label, "%d  %5.1f%%", d, 100.f * p.probabilities[size_t(d)]);
    const bool top = p.valid && d == p.label;
    if (top) ImGui::PushStyleColor(ImGuiCol_PlotHistogram, kGood);
    ImGui::ProgressBar(p.probabilities[size_t(d)], ImVec2(width, 0.f), label);
    if (top) ImGui::PopStyleColor();
  }
}

// The drawing pad: an invisible button catches the pointer; strokes are drawn as vector polylines so
// they stay sharp at any display scale.
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
  dl->AddRectFilled(origin, ImVec2(origin.x + side, origin.y + side), IM_COL32(0, 0, 0, 255), 6.f);
  for (const Stroke& s : app.canvas.strokes()) {
    const float w = s.width * scale;
    ImVec2 prev(origin.x + s.points[0].x * scale, origin.y + s.points[0].y * scale);
    dl->AddCircleFilled(prev, w / 2, IM_COL32_WHITE);
    for (size_t i = 1; i < s.points.size(); ++i) {
      const ImVec2 q(origin.x + s.points[i].x * scale, origin.y + s.points[i].y * scale);
      dl->AddLine(prev, q, IM_COL32_WHITE, w);
      dl->AddCircleFilled(q, w / 2, IM_COL32_WHITE);
      prev = q;
    }
  }
  if (app.canvas.empty())
    dl->AddText(ImVec2(origin.x + 12 * ui.scale, origin.y + 10 * ui.scale), IM_COL32(110, 110, 130, 255),
                "draw a digit here (mouse, finger or pen)");
}

// A 28x28 image, enlarged: the network's input, or a stored sample.
void grey_image(const float* pixels, float side) {
  const ImVec2 o = ImGui::GetCursorScreenPos();
  constexpr int n = kMnistSide;
  const float cell = side / float(n);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(o, ImVec2(o.x + side, o.y + side), IM_COL32(0, 0, 0, 255));
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      const int v = int(pixels[y * n + x] * 255.f + 0.5f);
      if (v > 4)
        dl->AddRectFilled(ImVec2(o.x + x * cell, o.y + y * cell), ImVec2(o.x + (x + 1) * cell, o.y + (y + 1) * cell),
                          IM_COL32(v, v, v, 255));
    }
  ImGui::Dummy(ImVec2(side, side));
}

void model_picker(AppState& app, UiState& ui, float width) {
  const auto describe = [](const ModelEntry& e) {
    char text[160];
    if (e.test_accuracy >= 0)
      std::snprintf(text, sizeof text, "%s  (%lld parameters, %.2f%% MNIST test)", e.label.c_str(),
                    (long long)e.parameters, 100.0 * e.test_accuracy);
    else
      std::snprintf(text, sizeof text, "%s  (%lld parameters, accuracy not recorded)", e.label.c_str(), (long long)e.parameters);
    return std::string(text);
  };
  const auto& entries = app.models.entries();
  const std::string preview = app.selected >= 0 ? describe(entries[size_t(app.selected)]) : std::string("(none)");
  ImGui::SetNextItemWidth(width);
  const bool open = ImGui::BeginCombo("##model", preview.c_str());
  name_last_item(ui, "model-picker");
  if (open) {
    for (int i = 0; i < int(entries.size()); ++i) {
      const bool picked = ImGui::Selectable(describe(entries[size_t(i)]).c_str(), i == app.selected);
      name_last_item(ui, "model-" + entries[size_t(i)].id);
      if (picked && i != app.selected) app_select_model(app, i);
    }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  if (app.tuned) ImGui::TextColored(ImVec4(0.5f, 0.9f, 0.6f, 1.f), "fine-tuned on your samples");
  else ImGui::TextDisabled("as shipped");
  if (!app.model_error.empty()) ImGui::TextColored(ImVec4(1.f, 0.5f, 0.5f, 1.f), "%s", app.model_error.c_str());
}

// Sample thumbnails, newest first; a click selects one for relabelling or deletion.
void sample_gallery(AppState& app, UiState& ui, float height) {
  ImGui::BeginChild("gallery", ImVec2(0, height), ImGuiChildFlags_Border);
  const float cell = 30.f * ui.scale, gap = ImGui::GetStyle().ItemSpacing.x;
  const int per_row = std::max(1, int((ImGui::GetContentRegionAvail().x + gap) / (cell + gap)));
  const SampleStore& s = app.samples;
  for (size_t k = 0; k < s.size(); ++k) {
    const size_t i = s.size() - 1 - k;
    if (k % size_t(per_row)) ImGui::SameLine();
    ImGui::PushID(int(i));
    const ImVec2 o = ImGui::GetCursorScreenPos();
    if (ImGui::IsRectVisible(ImVec2(cell, cell))) {
      ImDrawList* dl = ImGui::GetWindowDrawList();
      const uint8_t* img = s.image(i);
      constexpr int n = SampleStore::kSide;
      const float px = cell / float(n);
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x)
          if (img[y * n + x] > 8)
            dl->AddRectFilled(ImVec2(o.x + x * px, o.y + y * px), ImVec2(o.x + (x + 1) * px, o.y + (y + 1) * px),
                              IM_COL32(img[y * n + x], img[y * n + x], img[y * n + x], 255));
      const bool sel = int(i) == app.selected_sample;
      dl->AddRect(o, ImVec2(o.x + cell, o.y + cell), sel ? IM_COL32(255, 200, 60, 255) : IM_COL32(90, 90, 110, 255), 0.f, 0,
                  sel ? 2.f * ui.scale : 1.f);
      dl->AddText(ImVec2(o.x + 2, o.y + 1), kGood, std::to_string(s.label(i)).c_str());
    }
    ImGui::InvisibleButton("sample", ImVec2(cell, cell));
    if (ImGui::IsItemVisible()) name_last_item(ui, "sample-" + std::to_string(i));
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("sample %zu, label %d: click to select", i + 1, s.label(i));
    if (ImGui::IsItemClicked()) app.selected_sample = int(i) == app.selected_sample ? -1 : int(i);
    ImGui::PopID();
  }
  if (s.size() == 0) ImGui::TextDisabled("no samples yet: draw a digit and press its number");
  ImGui::EndChild();
}

void samples_panel(AppState& app, UiState& ui) {
  const auto counts = app.samples.counts();
  const bool selecting = app.selected_sample >= 0 && size_t(app.selected_sample) < app.samples.size();
  if (!selecting) app.selected_sample = -1;
  const bool keys = !ImGui::GetIO().WantTextInput;
  ImGui::Text("Your samples: %zu", app.samples.size());
  if (selecting) {
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(1.f, 0.8f, 0.3f, 1.f), "  sample %d selected (label %d): 0-9 relabels it", app.selected_sample + 1,
                       app.samples.label(size_t(app.selected_sample)));
  }
  ImGui::TextDisabled(selecting ? "Relabel as:" : "Add the drawing as:");
  for (int d = 0; d < 10; ++d) {
    ImGui::SameLine();
    char label[24];
    std::snprintf(label, sizeof label, "%d##digit", d);
    const bool clicked = ImGui::Button(label, ImVec2(28.f * ui.scale, 0));
    name_last_item(ui, "digit-" + std::to_string(d));
    const bool pressed = clicked || (keys && ImGui::IsKeyPressed(ImGuiKey(ImGuiKey_0 + d), false)) ||
                         (keys && ImGui::IsKeyPressed(ImGuiKey(ImGuiKey_Keypad0 + d), false));
    if (!pressed) continue;
    if (selecting) app_relabel_sample(app, size_t(app.selected_sample), d);
    else app_add_sample(app, d);
  }
  ImGui::TextDisabled("per class:");
  for (int d = 0; d < 10; ++d) {
    ImGui::SameLine();
    ImGui::Text("%d:%d", d, counts[size_t(d)]);
  }
  sample_gallery(app, ui, 110.f * ui.scale);
  if (selecting) {
    if (ImGui::Button("Delete sample (Del)") || (keys && ImGui::IsKeyPressed(ImGuiKey_Delete, false)))
      app_delete_sample(app, size_t(app.selected_sample));
    ImGui::SameLine();
    if (ImGui::Button("Deselect (Esc)") || ImGui::IsKeyPressed(ImGuiKey_Escape, false)) app.selected_sample = -1;
  }
  if (ImGui::Button("Export samples (IDX)")) ui.export_requested = true;
  ImGui::SameLine();
  if (ImGui::Button("Import samples / load model...")) ui.import_requested = true;
}

void fine_tune_panel(AppState& app, UiState& ui) {
  const bool running = app.tuning->active();
  const FineTuneStatus& s = app.tuning->status();
  ImGui::BeginDisabled(running);
  const bool tune = ImGui::Button("Fine-tune on my samples");
  name_last_item(ui, "fine-tune");
  if (tune) app_start_fine_tune(app);
  ImGui::SameLine();
  ImGui::TextDisabled("train:");
  for (TrainableLayers c : kTrainableLayerChoices) {
    ImGui::SameLine();
    if (ImGui::RadioButton(trainable_layers_description(c), app.trainable == c)) app.trainable = c;
  }
  ImGui::EndDisabled();
  if (running) {
    char text[96];
    if (s.state == FineTuneStatus::State::preparing)
      std::snprintf(text, sizeof text, "preparing: features of your samples and the MNIST replay digits");
    else if (s.step < s.total_steps)
      std::snprintf(text, sizeof text, "epoch %d, step %d/%d, loss %.3f", s.epoch + 1, s.step, s.total_steps, s.last_loss);
    else
      std::snprintf(text, sizeof text, "measuring accuracy after training");
    ImGui::ProgressBar(s.progress(), ImVec2(-FLT_MIN, 0), text);
    if (ImGui::Button("Cancel")) app_cancel_fine_tune(app);
  }
  if (!s.loss_history.empty()) {
    const ImVec2 plot(std::min(ImGui::GetContentRegionAvail().x * 0.5f - 8.f, 260.f * ui.scale), 56.f * ui.scale);
    ImGui::PlotLines("##loss", s.loss_history.data(), int(s.loss_history.size()), 0, "loss / epoch", 0.f, FLT_MAX, plot);
    ImGui::SameLine();
    ImGui::PlotLines("##accuracy", s.accuracy_history.data(), int(s.accuracy_history.size()), 0, "train accuracy / epoch", 0.f,
                     1.f, plot);
  }
  if (s.state == FineTuneStatus::State::done) {
    if (!std::isnan(s.heldout_before))
      ImGui::Text("your held-out samples (%d): %.0f%% -> %.0f%%", s.heldout_samples, 100 * s.heldout_before, 100 * s.heldout_after);
    else
      ImGui::TextDisabled("(10 or more samples: 20%% are held out to measure the effect)");
    ImGui::Text("MNIST replay digits: %.1f%% -> %.1f%%", 100 * s.replay_before, 100 * s.replay_after);
  }
  if (app.tuned && !running) {
    if (ImGui::Button("Revert to the shipped model")) app_revert(app);
    ImGui::SameLine();
  }
  if (ImGui::Button("Download model (.safetensors)")) ui.download_model_requested = true;
}

}  // namespace

void ui_frame(AppState& app, UiState& ui) {
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ui.controls.clear();  // only what is laid out this frame
  ImGui::Begin("digitlab", nullptr, ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings);
  const bool wide = vp->WorkSize.x >= 860.f * ui.scale;
  ImGui::TextUnformatted("digitlab: draw a digit, label your own, fine-tune in the browser");
  model_picker(app, ui, std::min(vp->WorkSize.x * 0.6f, 520.f * ui.scale));
  ImGui::Separator();

  const float pad_side = wide ? std::clamp(std::min(vp->WorkSize.x * 0.42f, vp->WorkSize.y - 150.f * ui.scale), 220.f * ui.scale, 560.f * ui.scale)
                              : std::clamp(vp->WorkSize.x - 2 * ImGui::GetStyle().WindowPadding.x, 200.f * ui.scale, 560.f * ui.scale);
  ImGui::BeginGroup();
  drawing_pad(app, ui, pad_side);
  const bool keys = !ImGui::GetIO().WantTextInput;
  const bool clear = ImGui::Button("Clear (C)");
  name_last_item(ui, "clear");
  if (clear || (keys && ImGui::IsKeyPressed(ImGuiKey_C, false))) app_clear_drawing(app);
  ImGui::SameLine();
  const bool undo = ImGui::Button("Undo (Z)");
  name_last_item(ui, "undo");
  if (undo || (keys && ImGui::IsKeyPressed(ImGuiKey_Z, false))) app_undo_stroke(app);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(120.f * ui.scale);
  float pen = app.pen_width;
  if (ImGui::SliderFloat("pen", &pen, AppState::kMinPen, AppState::kMaxPen, "%.0f px")) app_set_pen_width(app, pen);
  if (keys && ImGui::IsKeyPressed(ImGuiKey_LeftBracket)) app_set_pen_width(app, app.pen_width - 2.f);
  if (keys && ImGui::IsKeyPressed(ImGuiKey_RightBracket)) app_set_pen_width(app, app.pen_width + 2.f);
  ImGui::TextDisabled("keys: 0-9 label, C clear, Z undo, [ ] pen width");
  ImGui::EndGroup();

  if (wide) ImGui::SameLine();
  ImGui::BeginGroup();
  ImGui::BeginGroup();
  prediction_panel(app, 200.f * ui.scale);
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  ImGui::TextUnformatted("What the network sees:");
  grey_image(app.input, 140.f * ui.scale);
  ImGui::TextDisabled(app.has_ink ? "28x28, centred by mass\nin a 20 px box (MNIST)" : "(empty canvas)");
  if (app.has_ink) ImGui::TextDisabled("%.2f ms per update", app.perf.inference_ms);
  if (app.predictor.loaded()) {
    // The path in use, then each measured one (us per digit; 0 = not available for this model).
    const Predictor::Timings& t = app.predictor.timings();
    ImGui::TextDisabled("%s; us per digit:", inference_path_name(app.predictor.path()));
    ImGui::TextDisabled("f32 %.0f, Winograd %.0f, int8 %.0f", t.f32_us, t.winograd_us, t.int8_us);
  }
  ImGui::EndGroup();
  ImGui::Separator();
  samples_panel(app, ui);
  ImGui::Separator();
  fine_tune_panel(app, ui);
  if (!app.notice.empty()) ImGui::TextWrapped("%s", app.notice.c_str());
  ImGui::EndGroup();
  ImGui::End();
}

}  // namespace digitlab
