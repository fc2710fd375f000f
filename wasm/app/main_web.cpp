// Browser glue: GLFW (Emscripten's built-in emulation) + WebGL2 + Dear ImGui's GLFW/OpenGL3 backends.
// Everything the page does lives in app.cpp; this file only runs the frame loop.
#include <GLES3/gl3.h>
#include <GLFW/glfw3.h>
#include <emscripten.h>
#include <emscripten/html5.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <cstdio>
#include <string>

#include "app.h"

namespace {

GLFWwindow* g_window = nullptr;
digitlab::AppState g_app;

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

void frame() {
  glfwPollEvents();
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
  digitlab::app_frame(g_app);
  // Requests that need the browser (downloads, a file dialog) go to the page's JavaScript.
  if (g_app.export_requested) EM_ASM(window.app.exportSamples({ download: true }););
  if (g_app.download_model_requested) EM_ASM(window.app.downloadModel(););
  if (g_app.import_requested) EM_ASM(document.getElementById('file-input').click(););
  g_app.export_requested = g_app.download_model_requested = g_app.import_requested = false;
  ImGui::Render();
  int w = 0, h = 0;
  glfwGetFramebufferSize(g_window, &w, &h);
  glViewport(0, 0, w, h);
  glClearColor(0.08f, 0.09f, 0.11f, 1.f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
}

}  // namespace

// The page's JavaScript API (window.app in web/static/index.html) reads these.
extern "C" EMSCRIPTEN_KEEPALIVE int app_has_ink() { return g_app.has_ink ? 1 : 0; }
extern "C" EMSCRIPTEN_KEEPALIVE int app_stroke_count() { return int(g_app.canvas.strokes().size()); }
extern "C" EMSCRIPTEN_KEEPALIVE int app_top_label() { return g_app.prediction.valid ? g_app.prediction.label : -1; }
extern "C" EMSCRIPTEN_KEEPALIVE float app_probability(int digit) {
  return digit >= 0 && digit < 10 ? g_app.prediction.probabilities[digit] : 0.f;
}
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_model_name() { return g_app.model_name.c_str(); }
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_model_error() { return g_app.model_error.c_str(); }
// 0: x, 1: y, 2: side of the drawing pad, in framebuffer pixels (the page converts to CSS pixels).
extern "C" EMSCRIPTEN_KEEPALIVE float app_pad_rect(int i) {
  return i == 0 ? g_app.pad_x : i == 1 ? g_app.pad_y : g_app.pad_side;
}
extern "C" EMSCRIPTEN_KEEPALIVE int app_sample_count(int digit) {  // digit < 0: all samples
  int n = 0;
  for (uint8_t l : g_app.samples.labels) n += (digit < 0 || l == digit) ? 1 : 0;
  return n;
}
extern "C" EMSCRIPTEN_KEEPALIVE int app_add_sample_js(int label) { return digitlab::app_add_sample(g_app, label) ? 1 : 0; }
extern "C" EMSCRIPTEN_KEEPALIVE int app_fine_tune_js(int last_block) {
  g_app.train_last_block = last_block != 0;
  return digitlab::app_start_fine_tune(g_app) ? 1 : 0;
}
extern "C" EMSCRIPTEN_KEEPALIVE void app_revert_js() { digitlab::app_revert(g_app); }
extern "C" EMSCRIPTEN_KEEPALIVE int app_tuned() { return g_app.tuned ? 1 : 0; }
// 0 idle, 1 running, 2 done, 3 failed; progress in [0, 1]
extern "C" EMSCRIPTEN_KEEPALIVE int app_fine_tune_state() {
  if (g_app.tuner) return 1;
  switch (g_app.tune_status.state) {
    case digitlab::FineTuneStatus::State::done: return 2;
    case digitlab::FineTuneStatus::State::failed: return 3;
    default: return 0;
  }
}
extern "C" EMSCRIPTEN_KEEPALIVE float app_fine_tune_progress() {
  const auto& s = g_app.tune_status;
  return s.total_steps ? float(s.step) / float(s.total_steps) : 0.f;
}
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_notice() { return g_app.notice.c_str(); }
extern "C" EMSCRIPTEN_KEEPALIVE int app_import_samples_js(const char* images, const char* labels) {
  return digitlab::app_import_samples(g_app, images, labels) ? 1 : 0;
}
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_current_model_path() {
  static std::string path;
  path = g_app.tuned ? digitlab::app_tuned_model_path(g_app) : std::string("/models/digitlab-cnn.safetensors");
  return path.c_str();
}

// Called by the page once IndexedDB is mounted at /data and the shipped files are in /models.
extern "C" EMSCRIPTEN_KEEPALIVE int app_start_js() {
  return digitlab::app_start(g_app, "/models/digitlab-cnn.safetensors", "/models/mnist-replay-1000-images.idx.gz",
                             "/models/mnist-replay-1000-labels.idx.gz") ? 1 : 0;
}

// Takes a copy of a weight file's bytes (malloc'ed by the page); 1 when the model is now in use.
extern "C" EMSCRIPTEN_KEEPALIVE int app_load_model_bytes(const uint8_t* bytes, int size, const char* name) {
  return digitlab::app_load_model(g_app, bytes, size_t(size), name) ? 1 : 0;
}

// Writes the in-memory /data folder through to IndexedDB; called after every change.
void persist_to_indexeddb() {
  EM_ASM(FS.syncfs(false, function(err) { if (err) console.warn('saving to IndexedDB failed: ' + err); }););
}

int main() {
  g_app.storage_dir = "/data";
  g_app.persist = persist_to_indexeddb;
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
  io.FontGlobalScale = dpr;
  ImGui::GetStyle().ScaleAllSizes(dpr);
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
