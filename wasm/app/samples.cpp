// The person's side of the page: labelled samples (persisted as an IDX pair), fine-tuning the model on
// them in slices across frames, keeping the result (a safetensors file) and reverting to the base.
#include <imgui.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "app.h"
#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/safetensors.h"

namespace digitlab {
namespace {

std::string path_in(const AppState& app, const char* name) { return app.storage_dir + "/" + name; }

void use_model(AppState& app, const Model& m, const std::string& name) {
  app.engine = std::make_unique<XnnEngine>(m);
  app.current = std::make_unique<Model>(m);
  app.model_name = name;
  app.model_parameters = parameter_count(m.arch);
}

void save_samples(AppState& app) {
  save_dataset(app.samples, path_in(app, "samples-images.idx"), path_in(app, "samples-labels.idx"), false);
  if (app.persist) app.persist();
}

}  // namespace

std::string app_tuned_model_path(const AppState& app) { return path_in(app, "fine-tuned.safetensors"); }

bool app_start(AppState& app, const std::string& model_path, const std::string& replay_images,
               const std::string& replay_labels) {
  try {
    app.base = std::make_unique<Model>(load_model_file(model_path));
    use_model(app, *app.base, "digitlab-cnn");
    app.replay = load_dataset(replay_images, replay_labels);
  } catch (const Error& e) {
    app.model_error = e.what();
    return false;
  }
  // What the person left last time. A damaged file is reported and set aside, never fatal.
  try {
    if (file_exists(path_in(app, "samples-images.idx")))
      app.samples = load_dataset(path_in(app, "samples-images.idx"), path_in(app, "samples-labels.idx"));
  } catch (const Error& e) {
    app.notice = std::string("saved samples could not be read: ") + e.what();
  }
  try {
    if (file_exists(app_tuned_model_path(app))) {
      use_model(app, load_model_file(app_tuned_model_path(app)), "digitlab-cnn (fine-tuned)");
      app.tuned = true;
    }
  } catch (const Error& e) {
    app.notice = std::string("the saved fine-tuned model could not be read: ") + e.what();
  }
  return true;
}

bool app_add_sample(AppState& app, int label) {
  if (!app.has_ink || label < 0 || label > 9) return false;
  for (float v : app.input28) app.samples.images.push_back(uint8_t(std::lround(std::clamp(v, 0.f, 1.f) * 255.f)));
  app.samples.labels.push_back(uint8_t(label));
  save_samples(app);
  app.canvas.clear();
  return true;
}

void app_delete_sample(AppState& app, size_t index) {
  if (index >= app.samples.size()) return;
  app.samples.images.erase(app.samples.images.begin() + long(index * 784), app.samples.images.begin() + long((index + 1) * 784));
  app.samples.labels.erase(app.samples.labels.begin() + long(index));
  save_samples(app);
}

bool app_start_fine_tune(AppState& app) {
  if (!app.base || app.samples.size() == 0) {
    app.notice = "label a few digits first (draw, then press 0-9)";
    return false;
  }
  try {
    FineTuneConfig config;
    config.trainable = app.train_last_block ? "last-block" : "head";
    config.holdout = app.samples.size() >= 10 ? 0.2f : 0.f;
    // Always from the base model: tuning a tuned model again would drift further from MNIST each time.
    app.tuner = std::make_unique<FineTuner>(*app.base, app.replay, config);
    app.tuner->start(app.samples);
    app.tune_status = app.tuner->status();
    app.notice.clear();
    return true;
  } catch (const Error& e) {
    app.tuner.reset();
    app.notice = std::string("fine-tuning could not start: ") + e.what();
    return false;
  }
}

void app_fine_tune_tick(AppState& app, double budget_ms) {
  if (!app.tuner) return;
  const auto start = std::chrono::steady_clock::now();
  while (app.tuner->status().state == FineTuneStatus::State::running &&
         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() < budget_ms)
    app.tuner->run(1);
  app.tune_status = app.tuner->status();
  if (app.tune_status.state == FineTuneStatus::State::running) return;
  if (app.tune_status.state == FineTuneStatus::State::done) {
    const Model tuned = app.tuner->tuned_model();
    use_model(app, tuned, "digitlab-cnn (fine-tuned)");
    app.tuned = true;
    save_model_file(tuned, app_tuned_model_path(app));
    if (app.persist) app.persist();
    app.notice = "fine-tuned model saved in this browser";
  } else {
    app.notice = app.tune_status.message;
  }
  app.tuner.reset();
}

void app_revert(AppState& app) {
  if (!app.base) return;
  app.tuner.reset();
  use_model(app, *app.base, "digitlab-cnn");
  app.tuned = false;
  std::remove(app_tuned_model_path(app).c_str());
  if (app.persist) app.persist();
  app.notice = "back to the shipped model";
}

bool app_import_samples(AppState& app, const std::string& images_path, const std::string& labels_path) {
  try {
    const Dataset in = load_dataset(images_path, labels_path);
    if (in.rows != 28 || in.cols != 28)
      throw Error("images are " + std::to_string(in.rows) + "x" + std::to_string(in.cols) + ", the page keeps 28x28 samples");
    if (in.size() == 0) throw Error("the files hold no samples");
    app.samples.images.insert(app.samples.images.end(), in.images.begin(), in.images.end());
    app.samples.labels.insert(app.samples.labels.end(), in.labels.begin(), in.labels.end());
    save_samples(app);
    app.notice = "imported " + std::to_string(in.size()) + " samples";
    return true;
  } catch (const Error& e) {
    app.notice = std::string("import failed: ") + e.what();
    return false;
  }
}

void samples_panel(AppState& app) {
  int counts[10] = {};
  for (uint8_t l : app.samples.labels) ++counts[l];
  ImGui::Text("Your samples: %zu", app.samples.size());
  for (int d = 0; d < 10; ++d) {
    if (d) ImGui::SameLine();
    char label[16];
    std::snprintf(label, sizeof label, "%d", d);
    // Each button adds the current drawing with that label (number keys do the same).
    if (ImGui::Button(label) || (app.has_ink && !ImGui::GetIO().WantTextInput && ImGui::IsKeyPressed(ImGuiKey(ImGuiKey_0 + d)))) {
      app_add_sample(app, d);
    }
  }
  for (int d = 0; d < 10; ++d) {
    if (d) ImGui::SameLine();
    ImGui::Text("%2d", counts[d]);
  }
  // The latest samples, newest first, as small previews; click one to delete it.
  const float cell = 2.f * ImGui::GetIO().FontGlobalScale;
  const size_t shown = std::min<size_t>(app.samples.size(), 12);
  for (size_t k = 0; k < shown; ++k) {
    const size_t i = app.samples.size() - 1 - k;
    if (k % 6) ImGui::SameLine();
    ImGui::PushID(int(i));
    const ImVec2 o = ImGui::GetCursorScreenPos();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const uint8_t* img = app.samples.image(i);
    for (int y = 0; y < 28; y += 2)
      for (int x = 0; x < 28; x += 2) {
        const int v = (img[y * 28 + x] + img[y * 28 + x + 1] + img[(y + 1) * 28 + x] + img[(y + 1) * 28 + x + 1]) / 4;
        if (v > 8)
          dl->AddRectFilled(ImVec2(o.x + x * cell / 2, o.y + y * cell / 2), ImVec2(o.x + (x + 2) * cell / 2, o.y + (y + 2) * cell / 2),
                            IM_COL32(v, v, v, 255));
      }
    ImGui::InvisibleButton("sample", ImVec2(14 * cell, 14 * cell));
    dl->AddRect(o, ImVec2(o.x + 14 * cell, o.y + 14 * cell), IM_COL32(90, 90, 110, 255));
    dl->AddText(ImVec2(o.x + 2, o.y + 1), IM_COL32(120, 220, 140, 255), std::to_string(app.samples.labels[i]).c_str());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("label %d: click to delete", app.samples.labels[i]);
    if (ImGui::IsItemClicked()) app_delete_sample(app, i);
    ImGui::PopID();
  }

  ImGui::Spacing();
  const bool running = app.tuner != nullptr;
  ImGui::BeginDisabled(running);
  if (ImGui::Button("Fine-tune on my samples")) app_start_fine_tune(app);
  ImGui::SameLine();
  ImGui::Checkbox("also the last conv block (slower, better)", &app.train_last_block);
  ImGui::EndDisabled();
  if (running) {
    const FineTuneStatus& s = app.tune_status;
    char text[64];
    std::snprintf(text, sizeof text, "step %d/%d, loss %.3f", s.step, s.total_steps, s.last_loss);
    ImGui::ProgressBar(s.total_steps ? float(s.step) / float(s.total_steps) : 0.f, ImVec2(-1, 0), text);
    if (!s.loss_history.empty())
      ImGui::PlotLines("loss per epoch", s.loss_history.data(), int(s.loss_history.size()), 0, nullptr, 0.f, FLT_MAX, ImVec2(0, 60));
    if (ImGui::Button("Cancel")) {
      app.tuner.reset();
      app.notice = "fine-tuning cancelled; the model is unchanged";
    }
  } else if (app.tune_status.state == FineTuneStatus::State::done) {
    const FineTuneStatus& s = app.tune_status;
    if (!std::isnan(s.heldout_before))
      ImGui::Text("held-out samples: %.0f%% -> %.0f%%", 100 * s.heldout_before, 100 * s.heldout_after);
    ImGui::Text("MNIST replay digits: %.1f%% -> %.1f%%", 100 * s.replay_before, 100 * s.replay_after);
  }
  if (app.tuned && !running) {
    if (ImGui::Button("Revert to the shipped model")) app_revert(app);
    ImGui::SameLine();
  }
  if (ImGui::Button("Download model")) app.download_model_requested = true;
  ImGui::SameLine();
  if (ImGui::Button("Export samples (IDX)")) app.export_requested = true;
  ImGui::SameLine();
  if (ImGui::Button("Import samples / load model...")) app.import_requested = true;
  if (!app.notice.empty()) ImGui::TextWrapped("%s", app.notice.c_str());
}

}  // namespace digitlab
