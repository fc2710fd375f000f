#include "app.h"

#include <imgui.h>

#include <algorithm>

#include <cstdio>

#include "digitlab/error.h"
#include "digitlab/preprocess.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"

namespace digitlab {

namespace {

// Runs on every change of the drawing (a single digit takes well under a millisecond in the engine,
// so prediction keeps up with the pointer without stuttering the frame).
void classify(AppState& app) {
  app.prediction = Prediction{};
  if (!app.has_ink || !app.engine) return;
  float logits[10];
  app.engine->forward(app.input28, 1, logits);
  softmax_forward(app.prediction.probabilities, logits, 1, 10);
  app.prediction.label = int(std::max_element(app.prediction.probabilities, app.prediction.probabilities + 10) -
                             app.prediction.probabilities);
  app.prediction.valid = true;
}

}  // namespace

void app_refresh(AppState& app) {
  const DrawingCanvas& c = app.canvas;
  app.has_ink = preprocess_drawing(c.raster().data(), c.side(), c.side(), app.input28);
  classify(app);
}

namespace {

void prediction_panel(const AppState& app) {
  const Prediction& p = app.prediction;
  ImGui::SetWindowFontScale(3.f);
  if (p.valid) ImGui::Text("%d", p.label);
  else ImGui::TextDisabled("?");
  ImGui::SetWindowFontScale(1.f);
  if (p.valid) ImGui::Text("%.1f%% sure", 100.f * p.probabilities[p.label]);
  else ImGui::TextDisabled(app.engine ? "draw a digit" : "loading the model...");
  for (int d = 0; d < 10; ++d) {
    char label[32];
    std::snprintf(label, sizeof label, "%d  %5.1f%%", d, 100.f * p.probabilities[d]);
    const bool top = p.valid && d == p.label;
    if (top) ImGui::PushStyleColor(ImGuiCol_PlotHistogram, IM_COL32(80, 200, 120, 255));
    ImGui::ProgressBar(p.probabilities[d], ImVec2(220.f * ImGui::GetIO().FontGlobalScale, 0.f), label);
    if (top) ImGui::PopStyleColor();
  }
}

// The drawing pad: an invisible button catches the pointer; strokes are drawn as vector polylines so
// they stay sharp at any display scale.
void drawing_pad(AppState& app, float display_side) {
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  app.pad_x = origin.x;
  app.pad_y = origin.y;
  app.pad_side = display_side;
  const float scale = display_side / float(app.canvas.side());
  ImGui::InvisibleButton("pad", ImVec2(display_side, display_side));
  const ImVec2 m = ImGui::GetIO().MousePos;
  const Point p{(m.x - origin.x) / scale, (m.y - origin.y) / scale};
  if (ImGui::IsItemActivated()) {
    app.canvas.begin_stroke(p, app.pen_width);
    app.drawing = true;
    app_refresh(app);
  } else if (app.drawing && ImGui::IsItemActive()) {
    app.canvas.extend_stroke(p);
    app_refresh(app);
  } else if (app.drawing) {
    app.drawing = false;
  }

  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(origin, ImVec2(origin.x + display_side, origin.y + display_side), IM_COL32(0, 0, 0, 255), 6.f);
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
}

// The 28x28 image the network receives, enlarged, so a person sees why a digit is read as it is.
void input_preview(const AppState& app, float side) {
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const float cell = side / 28.f;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) {
      const int v = int(app.input28[y * 28 + x] * 255.f + 0.5f);
      dl->AddRectFilled(ImVec2(origin.x + x * cell, origin.y + y * cell),
                        ImVec2(origin.x + (x + 1) * cell, origin.y + (y + 1) * cell), IM_COL32(v, v, v, 255));
    }
  ImGui::Dummy(ImVec2(side, side));
}

}  // namespace

bool app_load_model(AppState& app, const uint8_t* bytes, size_t size, const std::string& name) {
  try {
    const Model m = decode_model(bytes, size);
    auto engine = std::make_unique<XnnEngine>(m);
    app.engine = std::move(engine);
    app.model_name = name;
    app.model_parameters = parameter_count(m.arch);
    app.model_error.clear();
    classify(app);
    return true;
  } catch (const Error& e) {
    app.model_error = name + ": " + e.what();
    return false;
  }
}

void app_frame(AppState& app) {
  const std::string shown_model = app.model_name;
  app_fine_tune_tick(app, 12.0);  // a slice of fine-tuning per frame keeps drawing smooth
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ImGui::Begin("digitlab", nullptr, ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings);
  ImGui::TextUnformatted("digitlab: draw a digit");
  if (app.engine) {
    ImGui::SameLine();
    ImGui::TextDisabled("   model %s, %lld parameters", app.model_name.c_str(), (long long)app.model_parameters);
  }
  if (!app.model_error.empty()) ImGui::TextColored(ImVec4(1.f, 0.5f, 0.5f, 1.f), "%s", app.model_error.c_str());
  ImGui::Separator();

  const float pad_side = std::clamp(std::min(vp->WorkSize.x * 0.55f, vp->WorkSize.y - 120.f), 200.f, 560.f);
  ImGui::BeginGroup();
  drawing_pad(app, pad_side);
  if (ImGui::Button("Clear (C)") || ImGui::IsKeyPressed(ImGuiKey_C)) {
    app.canvas.clear();
    app_refresh(app);
  }
  ImGui::SameLine();
  if (ImGui::Button("Undo (Z)") || ImGui::IsKeyPressed(ImGuiKey_Z)) {
    app.canvas.undo();
    app_refresh(app);
  }
  ImGui::SameLine();
  ImGui::SetNextItemWidth(140);
  ImGui::SliderFloat("pen", &app.pen_width, 6.f, 40.f, "%.0f px");
  ImGui::EndGroup();

  ImGui::SameLine();
  ImGui::BeginGroup();
  prediction_panel(app);
  ImGui::Spacing();
  ImGui::TextUnformatted("Network input (28x28, MNIST-style):");
  input_preview(app, 168.f * ImGui::GetIO().FontGlobalScale);
  ImGui::TextUnformatted(app.has_ink ? "centred by mass, scaled to a 20 px box" : "(empty canvas)");
  ImGui::Separator();
  const size_t before = app.samples.size();
  samples_panel(app);
  if (app.samples.size() != before || app.model_name != shown_model) app_refresh(app);
  ImGui::EndGroup();
  ImGui::End();
}

}  // namespace digitlab
