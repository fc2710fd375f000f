// Browser glue: GLFW (Emscripten's built-in emulation) + WebGL2 + Dear ImGui's GLFW/OpenGL3 backends,
// the frame loop, pointer input for touch and pen, and the C functions behind window.app (the page's
// JavaScript API, web/static/shell.js). What the page does lives in app.cpp and ui.cpp.
#include <GLES3/gl3.h>
#include <GLFW/glfw3.h>
#include <emscripten.h>
#include <emscripten/eventloop.h>
#include <emscripten/html5.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app.h"
#include "digitlab/error.h"
#include "fine_tune/worker_driver.h"
#include "fine_tune/worker_link_web.h"
#include "ui.h"

namespace {

GLFWwindow* g_window = nullptr;
digitlab::AppState g_app;
digitlab::WorkerFineTuneDriver* g_tuner = nullptr;  // g_app.tuning: sessions run in the page's worker
digitlab::UiState g_ui;
digitlab::ThumbnailAtlas g_thumbnails;
bool g_pointer_entered = false;

// Fine-tuning on the page thread (no worker) gets 6 ms of each frame: with ImGui's own work and
// rendering the frame stays within a 60 Hz display's 16.7 ms on a fast machine, and within 50 ms on
// a slow one (docs/benchmarks.md). With the worker, a tick only takes what it sent.
constexpr double kFineTuneBudgetMs = 6.0;

// The page draws only when something changes: input, a model or a session under way, a worker's
// message. Each of those asks for a few frames (hover states and the last stroke settle); with
// nothing to draw the main loop pauses, because even an empty requestAnimationFrame loop costs
// Chromium ~40 ms of CPU a second here, and the next change resumes it. Every way in that can
// change what the page shows therefore calls want_frames(): input (GLFW's callbacks and shell.js's
// listeners), window.app's calls (shell.js wraps them), the worker's messages, the start.
// 12 frames with a GPU; 4 where WebGL is rendered in software (choose_frame_rates(), below), where
// each costs the browser's GPU process ~35 ms of CPU: the 12 after the click that starts a session
// took a core for its first 0.4 s, when the worker measures the model before training.
constexpr int kFramesAfterAChange = 12, kSoftwareFramesAfterAChange = 4;
int g_frames_after_a_change = kFramesAfterAChange;
int g_frames_wanted = kFramesAfterAChange;
bool g_always_draw = false;  // the old behaviour, for measuring against (?draw=always)
bool g_loop_paused = false;
void resume_loop();
void want_frames() {
  g_frames_wanted = g_frames_after_a_change;
  resume_loop();
}

// The density the fonts were rasterised at; a change (another screen, browser zoom) loads them again.
float g_font_scale = 0;
void fit_fonts_to_density() {
  const float dpr = float(emscripten_get_device_pixel_ratio());
  if (dpr == g_font_scale) return;
  const bool first = g_font_scale == 0;  // the backend's first NewFrame uploads the atlas itself
  g_font_scale = g_ui.scale = dpr;
  g_ui.fonts_loaded = digitlab::ui_set_scale(g_ui.fonts, dpr, "/fonts");
  if (first) return;
  ImGui_ImplOpenGL3_DestroyFontsTexture();
  ImGui_ImplOpenGL3_CreateFontsTexture();
}

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
  want_frames();
  return EM_FALSE;
}

// Every mouse position GLFW reports, not only the last one of a frame: the pad draws through them.
void cursor_moved(GLFWwindow*, double x, double y) {
  g_ui.pointer_trail.push_back({float(x), float(y)});
  want_frames();
}

// While the worker trains, its progress (a status every ~40 ms) is drawn at most progress_hz times
// a second, unless something else asks for frames (input, the session's end). With a GPU a frame is
// nearly free and 10 Hz reads as a moving progress bar and clock. Without one (Chromium's software
// WebGL, SwiftShader: VMs, blocklisted drivers) a 1280x800 frame costs the GPU process ~35 ms of CPU,
// the cores the worker's threads train on: drawing every status took this 2-core machine's threaded
// whole-network session from 0.6x the single-threaded time to 0.9x (docs/benchmarks.md), so a
// software renderer gets 4 Hz. ?progressHz=N sets the rate; 0 draws no progress at all (input and
// the session's end still draw), for measuring the worker without the page's frames.
constexpr double kProgressHz = 10, kSoftwareProgressHz = 4;
double g_progress_interval_ms = 1000 / kProgressHz;
bool g_progress_pending = false;  // a worker status not drawn yet
double g_last_frame_ms = 0;

// A session running on the page thread itself trains inside frames, so it draws every frame.
bool training_here() { return g_app.tuning->active() && std::strcmp(g_app.tuning->runs_in(), "worker") != 0; }

bool a_change_to_draw() {
  return g_always_draw || g_frames_wanted > 0 || training_here() || g_app.predictor.pending() || g_ui.drawing;
}
bool progress_due(double now) { return g_progress_pending && now - g_last_frame_ms >= g_progress_interval_ms; }

void resume_loop() {
  if (!g_loop_paused) return;
  g_loop_paused = false;
  emscripten_resume_main_loop();
}

// A progress status held back by the rate is drawn when its time comes, even if no other status
// follows soon (a long step or measurement): one timer at a time.
bool g_progress_timer_set = false;
void progress_timer_fired(void*) {
  g_progress_timer_set = false;
  if (g_progress_pending) resume_loop();
}

void frame() {
  const double t0 = emscripten_get_now();
  const bool change = a_change_to_draw();
  if (!change && !progress_due(t0)) {
    g_loop_paused = true;  // until the next change
    emscripten_pause_main_loop();
    if (g_progress_pending && !g_progress_timer_set && std::isfinite(g_progress_interval_ms)) {
      g_progress_timer_set = true;
      emscripten_set_timeout(progress_timer_fired, g_last_frame_ms + g_progress_interval_ms - t0, nullptr);
    }
    return;
  }
  if (g_frames_wanted > 0) --g_frames_wanted;
  if (!change) ++g_app.perf.progress_frames;
  g_progress_pending = false;
  g_last_frame_ms = t0;
  fit_fonts_to_density();
  glfwPollEvents();
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
  digitlab::app_tick(g_app, kFineTuneBudgetMs);
  const double t_ui = emscripten_get_now();
  digitlab::ui_frame(g_app, g_ui);
  // Requests that need the browser (downloads, a file dialog) go to the page's JavaScript.
  if (g_ui.export_requested) EM_ASM(window.app.exportSamples({ download: true }););
  if (g_ui.download_model_requested) EM_ASM(window.app.downloadModel(););
  if (g_ui.import_requested) EM_ASM(document.getElementById('file-input').click(););
  g_ui.export_requested = g_ui.download_model_requested = g_ui.import_requested = false;
  const double t_render = emscripten_get_now();
  ImGui::Render();
  int w = 0, h = 0;
  glfwGetFramebufferSize(g_window, &w, &h);
  glViewport(0, 0, w, h);
  // The page's background is this clear, not a window-sized ImGui rectangle over it: under a software
  // WebGL (SwiftShader, Chromium without a GPU) each frame's cost is mostly blended pixels, and that
  // full-canvas layer was 13 of the 47 ms a 1280x800 frame cost its GPU process (docs/benchmarks.md).
  const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
  glClearColor(bg.x, bg.y, bg.z, 1.f);
  const double t_gl = emscripten_get_now();
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  const double t1 = emscripten_get_now();
  digitlab::FramePhases phases = g_app.perf.phases;
  phases.ui_ms = t_render - t_ui;
  phases.render_ms = t_gl - t_render;
  phases.gl_ms = t1 - t_gl;
  phases.vertices = ImGui::GetDrawData()->TotalVtxCount;
  digitlab::app_frame_done(g_app, t1 - t0, phases);
}

// The WebGL renderer's name (the unmasked one where the browser tells it), malloc'ed.
EM_JS(char*, webgl_renderer_name, (), {
  const ext = GLctx.getExtension('WEBGL_debug_renderer_info');
  const name = String(GLctx.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : GLctx.RENDERER) || "");
  const size = lengthBytesUTF8(name) + 1, p = _malloc(size);
  stringToUTF8(name, p, size);
  return p;
});
EM_JS(double, progress_hz_asked, (), {
  const hz = parseFloat(new URLSearchParams(location.search).get('progressHz'));
  return hz >= 0 ? hz : -1;
});

// Sets how often progress is drawn (g_progress_interval_ms, with why in state().perf) and how many
// frames a change asks for, from the WebGL renderer.
void choose_frame_rates() {
  char* name = webgl_renderer_name();
  digitlab::PagePerf& p = g_app.perf;
  p.webgl_renderer = name;
  std::free(name);
  const std::string& r = p.webgl_renderer;
  const bool software = r.find("SwiftShader") != std::string::npos || r.find("llvmpipe") != std::string::npos ||
                        r.find("softpipe") != std::string::npos || r.find("Basic Render") != std::string::npos;
  if (software) g_frames_after_a_change = kSoftwareFramesAfterAChange;
  const double asked = progress_hz_asked();
  if (asked >= 0) {
    p.progress_hz = asked;
    p.progress_why = "set by ?progressHz";
  } else if (software) {
    p.progress_hz = kSoftwareProgressHz;
    p.progress_why = "software WebGL: every frame takes CPU from the training threads";
  } else {
    p.progress_hz = kProgressHz;
    p.progress_why = "WebGL on a GPU";
  }
  g_progress_interval_ms = p.progress_hz > 0 ? 1000 / p.progress_hz : HUGE_VAL;
}

const char* keep(const std::string& s) {  // returned strings live until the next call
  static std::string text;
  text = s;
  return text.c_str();
}

}  // namespace

// ---- window.app's C side (web/static/shell.js calls these through Module) ----

// The app's state (app_state_json.cpp) and what the page chose for this screen.
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_state_json_js() {
  nlohmann::json s = nlohmann::json::parse(digitlab::app_state_json(g_app));
  static const char* const pages[] = {"draw", "samples", "train", "model"};
  s["ui"] = {{"layout", g_ui.layout}, {"page", pages[int(g_ui.page)]}, {"touch", g_ui.touch}, {"fonts", g_ui.fonts_loaded}};
  return keep(s.dump());
}

// The page asks for frames when something happened that the app did not see itself (input, a
// resize, a call of window.app); draw: 1 draws every frame from now on (measuring), 0 only on change.
extern "C" EMSCRIPTEN_KEEPALIVE void app_wake() { want_frames(); }
extern "C" EMSCRIPTEN_KEEPALIVE void app_set_always_draw(int draw) {
  g_always_draw = draw != 0;
  want_frames();
}
// A finger (or pen) is the pointer: larger targets. Set by pointer.js at the first touch, and at start
// when the screen's primary pointer is coarse.
extern "C" EMSCRIPTEN_KEEPALIVE void app_set_touch(int touch) {
  g_ui.touch = touch != 0;
  want_frames();
}
// Phones: which page to show (0 draw, 1 samples, 2 train, 3 model), as the navigation bar does.
extern "C" EMSCRIPTEN_KEEPALIVE void app_show_page(int page) {
  if (page >= 0 && page <= 3) g_ui.page = digitlab::UiState::Page(page);
  want_frames();
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
// layers: "head", "last-block" or "all" (digitlab/fine_tuning.h). 1: started; 0: not (app_notice()
// says why); -1: not a choice of layers (app_notice() lists them).
extern "C" EMSCRIPTEN_KEEPALIVE int app_fine_tune_js(const char* layers) {
  try {
    g_app.trainable = digitlab::parse_trainable_layers(layers ? layers : "");
  } catch (const digitlab::Error& e) {
    g_app.notice = e.what();
    return -1;
  }
  return digitlab::app_start_fine_tune(g_app) ? 1 : 0;
}
extern "C" EMSCRIPTEN_KEEPALIVE void app_cancel_fine_tune_js() { digitlab::app_cancel_fine_tune(g_app); }
extern "C" EMSCRIPTEN_KEEPALIVE void app_stop_fine_tune_js() { digitlab::app_stop_fine_tune(g_app); }
extern "C" EMSCRIPTEN_KEEPALIVE void app_revert_js() { digitlab::app_revert(g_app); }
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_notice() { return g_app.notice.c_str(); }
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_model_error() { return g_app.model_error.c_str(); }
extern "C" EMSCRIPTEN_KEEPALIVE int app_import_samples_js(const char* images, const char* labels) {
  return digitlab::app_import_samples(g_app, images, labels) ? 1 : 0;
}
extern "C" EMSCRIPTEN_KEEPALIVE const char* app_current_model_path() { return keep(digitlab::app_current_model_path(g_app)); }
// Writes every sample as an IDX pair at these paths (in the module's memory file system); 1 on success.
extern "C" EMSCRIPTEN_KEEPALIVE int app_export_samples_js(const char* images, const char* labels) {
  return digitlab::app_export_samples(g_app, images, labels) ? 1 : 0;
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
  want_frames();
  if (!g_ui.touch) app_set_touch(1);
  io.AddMouseSourceEvent(pen ? ImGuiMouseSource_Pen : ImGuiMouseSource_TouchScreen);
  io.AddMousePosEvent(x, y);
  g_ui.pointer_trail.push_back({x, y});
  if (button >= 0) io.AddMouseButtonEvent(ImGuiMouseButton_Left, button == 1);
}

// Messages from the fine-tuning worker (web/static/shell.js forwards them; worker_link_web.cpp sends).
// They arrive in a hidden tab too, where no frame runs: a session's end is handled here and now (its
// model saved), not at the next frame, so a tab closed in the background keeps it.
void after_worker_message() {
  digitlab::app_tick(g_app, 0);
  want_frames();
}
// Progress of a session still under way asks for one frame, drawn at the progress rate (above); the
// status that ends a session (done, failed, cancelled) is a change like any other.
extern "C" EMSCRIPTEN_KEEPALIVE void app_fine_tune_worker_status(int session, const char* status_json) {
  g_tuner->on_status(session, status_json);
  if (!g_tuner->active()) {
    after_worker_message();
    return;
  }
  digitlab::app_tick(g_app, 0);
  g_progress_pending = true;
  resume_loop();
}
// Takes a copy of the tuned model's bytes (malloc'ed by the page).
extern "C" EMSCRIPTEN_KEEPALIVE void app_fine_tune_worker_finished(int session, const char* status_json,
                                                                  const uint8_t* model, int size) {
  g_tuner->on_finished(session, status_json, model, size_t(size));
  after_worker_message();
}
// The worker has loaded: it warms up on the model in use while the page is idle.
extern "C" EMSCRIPTEN_KEEPALIVE void app_fine_tune_worker_ready() {
  g_tuner->on_worker_ready();
  want_frames();  // a session waiting for the worker may start now
}
extern "C" EMSCRIPTEN_KEEPALIVE void app_fine_tune_worker_lost(const char* why) {
  g_tuner->on_worker_lost(why);
  after_worker_message();
}

// Called by the page once IndexedDB is mounted at /data and the shipped files are in /models.
extern "C" EMSCRIPTEN_KEEPALIVE int app_start_js() {
  digitlab::ShippedFiles files;
  files.models_dir = "/models";
  files.default_id = "digitlab-cnn";
  files.replay_images = "/models/mnist-replay-1000-images.idx.gz";
  files.replay_labels = "/models/mnist-replay-1000-labels.idx.gz";
  files.probe_images = "/models/mnist-test-500-images.idx.gz";
  files.probe_labels = "/models/mnist-test-500-labels.idx.gz";
  const bool ok = digitlab::app_start(g_app, files);
  digitlab::app_refresh(g_app);
  want_frames();
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
  auto tuner = std::make_unique<digitlab::WorkerFineTuneDriver>(std::make_unique<digitlab::WebFineTuneWorkerLink>());
  g_tuner = tuner.get();
  g_app.tuning = std::move(tuner);
  if (!glfwInit()) {
    std::fprintf(stderr, "GLFW could not start\n");
    return 1;
  }
  glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_ES_API);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
  g_ui.thumbnails = &g_thumbnails;
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
  // ImGui works in canvas pixels: fonts and spacing follow the screen's pixel density (the fonts,
  // Roboto, are embedded in app.wasm at /fonts).
  g_ui.touch = EM_ASM_INT({ return matchMedia('(pointer: coarse)').matches ? 1 : 0; }) != 0;
  glfwSetCursorPosCallback(g_window, cursor_moved);  // installed first: ImGui's backend chains to it
  ImGui_ImplGlfw_InitForOpenGL(g_window, true);
  emscripten_set_resize_callback(EMSCRIPTEN_EVENT_TARGET_WINDOW, nullptr, false, fit_canvas_to_window);
  fit_canvas_to_window(0, nullptr, nullptr);
  ImGui_ImplOpenGL3_Init("#version 300 es");
  g_always_draw = EM_ASM_INT({ return new URLSearchParams(location.search).get('draw') === 'always' ? 1 : 0; }) != 0;
  choose_frame_rates();

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
