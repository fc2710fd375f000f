// Browser glue: GLFW (Emscripten's built-in emulation) + WebGL2 + Dear ImGui's GLFW/OpenGL3 backends,
// the frame loop, pointer input for touch and pen, and the C functions behind window.app (the page's
// JavaScript API, web/static/shell.js). What the page does lives in app.cpp and ui.cpp.
#include <GLES3/gl3.h>
#include <GLFW/glfw3.h>
#include <emscripten.h>
#include <emscripten/html5.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app.h"
#include "fine_tune_messages.h"
#include "tuner_link_web.h"
#include "ui.h"
#include "worker_fine_tune_driver.h"

namespace {

GLFWwindow* g_window = nullptr;
digitlab::AppState g_app;
digitlab::WorkerFineTuneDriver* g_tuner = nullptr;  // g_app.tuning: sessions run in the page's worker
digitlab::UiState g_ui;
bool g_pointer_entered = false;
// Frame timing: the work of the last frame, and the longest frame while fine-tuning runs.
double g_frame_ms = 0, g_max_frame_ms_tuning = 0;
bool g_was_tuning = false;

// Keeps the canvas backing store at CSS size x devicePixelRatio (sharp on HiDPI screens). Goes through
// Emscripten's Browser.setCanvasSize so GLFW learns the new size; ImGui's own Emscripten resize helper
// calls glfwSetWindowSize, which in Emscripten 3.1.6 requests fullscreen when the canvas happens to be
// as large as the screen (a rejected promise and console error in kiosk or headless browsers).
EM_JS(void, fit_canvas_backing_store, (), {
  const c = Module.canvas, dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
  if (c.width !== w || c.height !== h) Browser.setCanvasSize(w, h);
});

EM_BOOL fit_canvas_to_window(int, const EmscriptenUiEvent*, void*) {
  fit_canvas_backing_store();
  return EM_FALSE;
}

// Every mouse position GLFW reports, not only the last one of a frame: the pad draws through them.
void cursor_moved(GLFWwindow*, double x, double y) { g_ui.pointer_trail.push_back({float(x), float(y)}); }

void frame() {
  const double t0 = emscripten_get_now();
  glfwPollEvents();
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
  digitlab::ui_frame(g_app, g_ui);
  // Requests that need the browser (downloads, a file dialog) go to the page's JavaScript.
  if (g_ui.export_requested) EM_ASM(window.app.exportSamples({ download: true }););
  if (g_ui.download_model_requested) EM_ASM(window.app.downloadModel(););
  if (g_ui.import_requested) EM_ASM(document.getElementById('file-input').click(););
  g_ui.export_requested = g_ui.download_model_requested = g_ui.import_requested = false;
  ImGui::Render();
  int w = 0, h = 0;
  glfwGetFramebufferSize(g_window, &w, &h);
  glViewport(0, 0, w, h);
  glClearColor(0.08f, 0.09f, 0.11f, 1.f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  g_frame_ms = emscripten_get_now() - t0;
  const bool tuning = g_app.tuning->active();
  if (tuning && !g_was_tuning) g_max_frame_ms_tuning = 0;  // a new session
  if (tuning || g_was_tuning) g_max_frame_ms_tuning = std::max(g_max_frame_ms_tuning, g_frame_ms);
  g_was_tuning = tuning;
}

const char* keep(const std::string& s) {  // returned strings live until the next call
  static std::string text;
  text = s;
  return text.c_str();
}

// Accuracies that had nothing to measure (NaN) appear as -1 in state() (documented in web/README.md).
double finite_or_minus_one(double v) { return std::isfinite(v) ? v : -1; }

}  // namespace

// ---- window.app's C side (web/static/shell.js calls these through Module) ----

extern "C" EMSCRIPTEN_KEEPALIVE const char* app_state_json() {
  using nlohmann::json;
  const digitlab::AppState& a = g_app;
  json s;
  s["strokes"] = a.canvas.strokes().size();
  s["hasInk"] = a.has_ink;
  s["top"] = a.prediction.valid ? json(a.prediction.label) : json(nullptr);
  s["probabilities"] = a.prediction.valid ? json(std::vector<float>(a.prediction.probabilities, a.prediction.probabilities + 10))
                                          : json(nullptr);
  s["model"] = a.engine ? json(a.model_name) : json(nullptr);
  s["modelError"] = a.model_error.empty() ? json(nullptr) : json(a.model_error);
  s["modelParameters"] = a.model_parameters;
  json models = json::array();
  for (size_t i = 0; i < a.models.entries().size(); ++i) {
    const digitlab::ModelEntry& e = a.models.entries()[i];
    models.push_back({{"id", e.id}, {"label", e.label}, {"parameters", e.parameters}, {"macs", e.macs},
                      {"testAccuracy", e.test_accuracy >= 0 ? json(e.test_accuracy) : json(nullptr)},
                      {"loaded", e.loaded}, {"selected", int(i) == a.selected}});
  }
  s["models"] = models;
  const auto counts = a.samples.counts();
  s["samples"] = std::vector<int>(counts.begin(), counts.end());
  s["sampleTotal"] = a.samples.size();
  s["sampleLabels"] = a.samples.data().labels;
  s["selectedSample"] = a.selected_sample >= 0 ? json(a.selected_sample) : json(nullptr);
  s["tuned"] = a.tuned;
  s["trainable"] = a.trainable;
  const digitlab::FineTuneStatus& t = a.tuning->status();
  s["fineTune"] = {{"state", digitlab::fine_tune_state_name(t.state)}, {"progress", t.progress()}, {"step", t.step},
                   {"totalSteps", t.total_steps}, {"epoch", t.epoch}, {"loss", t.loss_history},
                   {"accuracy", t.accuracy_history}, {"heldoutSamples", t.heldout_samples},
                   {"heldoutBefore", finite_or_minus_one(t.heldout_before)}, {"heldoutAfter", finite_or_minus_one(t.heldout_after)},
                   {"replayBefore", finite_or_minus_one(t.replay_before)}, {"replayAfter", finite_or_minus_one(t.replay_after)},
                   {"message", t.message}, {"longestSliceMs", a.tuning->longest_slice_ms()},
                   {"runsIn", a.tuning->runs_in()}};
  s["notice"] = a.notice.empty() ? json(nullptr) : json(a.notice);
  s["perf"] = {{"inferenceMs", a.inference_ms}, {"frameMs", g_frame_ms}, {"maxFrameMsWhileTuning", g_max_frame_ms_tuning},
               {"fineTuneStartMs", a.tune_start_ms}, {"fineTuneFinishMs", a.tune_finish_ms},
               {"engine", path_name(a.path)}, {"f32Us", a.f32_us}, {"winogradUs", a.winograd_us}, {"int8Us", a.int8_us}};
  return keep(s.dump());
}

// {name: [x, y, width, height]} of the controls laid out in the last frame, framebuffer pixels.
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_controls_json() { return keep(nlohmann::json(g_ui.controls).dump()); }
// 0: x, 1: y, 2: side of the drawing pad, in framebuffer pixels (the page converts to CSS pixels).
extern "C" EMSCRIPTEN_KEEPALIVE float app_pad_rect(int i) { return i == 0 ? g_ui.pad_x : i == 1 ? g_ui.pad_y : g_ui.pad_side; }
extern "C" EMSCRIPTEN_KEEPALIVE int app_add_sample_js(int label) { return digitlab::app_add_sample(g_app, label) ? 1 : 0; }
extern "C" EMSCRIPTEN_KEEPALIVE int app_delete_sample_js(int i) { return i >= 0 && digitlab::app_delete_sample(g_app, size_t(i)) ? 1 : 0; }
extern "C" EMSCRIPTEN_KEEPALIVE int app_relabel_sample_js(int i, int label) {
  return i >= 0 && digitlab::app_relabel_sample(g_app, size_t(i), label) ? 1 : 0;
}
extern "C" EMSCRIPTEN_KEEPALIVE int app_select_model_js(int i) { return digitlab::app_select_model(g_app, i) ? 1 : 0; }
// layers: 0 the head, 1 the last conv block and the head, 2 every layer.
extern "C" EMSCRIPTEN_KEEPALIVE int app_fine_tune_js(int layers) {
  g_app.trainable = layers == 2 ? "all" : layers == 1 ? "last-block" : "head";
  return digitlab::app_start_fine_tune(g_app) ? 1 : 0;
}
extern "C" EMSCRIPTEN_KEEPALIVE void app_cancel_fine_tune_js() { digitlab::app_cancel_fine_tune(g_app); }
extern "C" EMSCRIPTEN_KEEPALIVE void app_revert_js() { digitlab::app_revert(g_app); }
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_notice() { return g_app.notice.c_str(); }
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_model_error() { return g_app.model_error.c_str(); }
extern "C" EMSCRIPTEN_KEEPALIVE int app_import_samples_js(const char* images, const char* labels) {
  return digitlab::app_import_samples(g_app, images, labels) ? 1 : 0;
}
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_current_model_path() { return keep(digitlab::app_current_model_path(g_app)); }
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_samples_path(int labels) {
  return keep(labels ? g_app.samples.labels_path() : g_app.samples.images_path());
}

// Touch and pen, fed by the page's pointer-event handlers (web/static/pointer.js). Emscripten 3.1.6's
// GLFW turns touches into mouse button presses without ever moving the cursor (its touch branch of
// Browser.calculateMouseEvent returns early), so a tap lands where the mouse last was and a stroke
// draws nothing; the page stops those touch events before GLFW sees them and sends pointer events
// here instead. x, y: framebuffer pixels; button: 1 pressed, 0 released, -1 a move.
extern "C" EMSCRIPTEN_KEEPALIVE void app_pointer_js(int pen, float x, float y, int button) {
  if (!ImGui::GetCurrentContext()) return;
  if (!g_pointer_entered) {  // otherwise the backend polls GLFW's (stale) cursor every frame
    ImGui_ImplGlfw_CursorEnterCallback(g_window, 1);
    g_pointer_entered = true;
  }
  ImGuiIO& io = ImGui::GetIO();
  io.AddMouseSourceEvent(pen ? ImGuiMouseSource_Pen : ImGuiMouseSource_TouchScreen);
  io.AddMousePosEvent(x, y);
  g_ui.pointer_trail.push_back({x, y});
  if (button >= 0) io.AddMouseButtonEvent(ImGuiMouseButton_Left, button == 1);
}

// Messages from the fine-tuning worker (web/static/shell.js forwards them; tuner_link_web.cpp sends).
extern "C" EMSCRIPTEN_KEEPALIVE void app_tuner_status(int session, const char* status_json) {
  g_tuner->on_status(session, status_json);
}
// Takes a copy of the tuned model's bytes (malloc'ed by the page).
extern "C" EMSCRIPTEN_KEEPALIVE void app_tuner_finished(int session, const char* status_json, const uint8_t* model, int size) {
  g_tuner->on_finished(session, status_json, model, size_t(size));
}
// The worker has loaded: it warms up on the model in use while the page is idle.
extern "C" EMSCRIPTEN_KEEPALIVE void app_tuner_ready() {
  if (g_app.base) g_tuner->warm_up(*g_app.base, g_app.replay);
}
extern "C" EMSCRIPTEN_KEEPALIVE void app_tuner_lost(const char* why) { g_tuner->on_worker_lost(why); }

// Called by the page once IndexedDB is mounted at /data and the shipped files are in /models.
extern "C" EMSCRIPTEN_KEEPALIVE int app_start_js() {
  const bool ok = digitlab::app_start(g_app, "/models", "digitlab-cnn", "/models/mnist-replay-1000-images.idx.gz",
                                      "/models/mnist-replay-1000-labels.idx.gz");
  digitlab::app_refresh(g_app);
  return ok ? 1 : 0;
}

// Takes a copy of a weight file's bytes (malloc'ed by the page); 1 when the model is now in use.
extern "C" EMSCRIPTEN_KEEPALIVE int app_load_model_bytes(const uint8_t* bytes, int size, const char* name) {
  return digitlab::app_load_model(g_app, bytes, size_t(size), name) ? 1 : 0;
}

// Writes the in-memory /data folder through to IndexedDB; called after every change. Writes are
// counted in flight, so window.app.saved() can tell when everything has reached IndexedDB.
void persist_to_indexeddb() {
  EM_ASM({
    Module.savesInFlight = (Module.savesInFlight || 0) + 1;
    FS.syncfs(false, function(err) {
      if (err) console.warn('saving to IndexedDB failed: ' + err);
      if (--Module.savesInFlight === 0 && Module.onSaved) Module.onSaved();
    });
  });
}

int main() {
  g_app.storage_dir = "/data";
  g_app.persist = persist_to_indexeddb;
  auto tuner = std::make_unique<digitlab::WorkerFineTuneDriver>(std::make_unique<digitlab::WebTunerLink>());
  g_tuner = tuner.get();
  g_app.tuning = std::move(tuner);
  if (!glfwInit()) {
    std::fprintf(stderr, "GLFW could not start\n");
    return 1;
  }
  glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_ES_API);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
  g_window = glfwCreateWindow(1280, 800, "digitlab", nullptr, nullptr);
  if (!g_window) {
    std::fprintf(stderr, "WebGL2 context could not be created\n");
    EM_ASM(if (Module.onWebGLError) Module.onWebGLError(););
    return 1;
  }
  glfwMakeContextCurrent(g_window);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // layout is fixed; nothing to persist
  ImGui::StyleColorsDark();
  // ImGui works in canvas pixels; scale text and spacing to the screen's pixel density.
  const float dpr = float(emscripten_get_device_pixel_ratio());
  g_ui.scale = dpr;
  io.FontGlobalScale = dpr;
  ImGui::GetStyle().ScaleAllSizes(dpr);
  glfwSetCursorPosCallback(g_window, cursor_moved);  // installed first: ImGui's backend chains to it
  ImGui_ImplGlfw_InitForOpenGL(g_window, true);
  emscripten_set_resize_callback(EMSCRIPTEN_EVENT_TARGET_WINDOW, nullptr, false, fit_canvas_to_window);
  fit_canvas_to_window(0, nullptr, nullptr);
  ImGui_ImplOpenGL3_Init("#version 300 es");

  // Mount IndexedDB-backed storage and read it back before the page starts the app.
  EM_ASM({
    FS.mkdir('/data');
    FS.mount(IDBFS, {}, '/data');
    FS.syncfs(true, function(err) {
      if (err) console.warn('reading saved samples from IndexedDB failed: ' + err);
      if (Module.onAppReady) Module.onAppReady();
    });
  });
  emscripten_set_main_loop(frame, 0, false);
  return 0;
}
