// window.app.state(): what the page shows, as one JSON object (every field is documented in
// web/README.md). Built here, beside the state it reads, so tests/app_test.cpp checks the page's
// contract natively.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "app.h"
#include "fine_tune/messages.h"

namespace digitlab {
namespace {

using nlohmann::json;

// Accuracies that had nothing to measure (NaN) appear as -1 (documented in web/README.md).
double finite_or_minus_one(double v) { return std::isfinite(v) ? v : -1; }

json models_json(const AppState& a) {
  json models = json::array();
  for (size_t i = 0; i < a.models.entries().size(); ++i) {
    const ModelEntry& e = a.models.entries()[i];
    models.push_back({{"id", e.id}, {"label", e.label}, {"parameters", e.parameters}, {"macs", e.macs},
                      {"testAccuracy", e.test_accuracy >= 0 ? json(e.test_accuracy) : json(nullptr)},
                      {"loaded", e.loaded}, {"selected", int(i) == a.selected}});
  }
  return models;
}

json fine_tune_json(const AppState& a) {
  const FineTuneStatus& t = a.tuning->status();
  json heldout = json::array();
  for (float v : t.heldout_history) heldout.push_back(finite_or_minus_one(v));
  return {{"state", fine_tune_state_name(t.state)}, {"ending", fine_tune_ending_name(t.ending)}, {"progress", t.progress()},
          {"step", t.step}, {"totalSteps", t.total_steps}, {"epoch", t.epoch}, {"bestStep", t.best_step},
          {"etaSeconds", t.eta_seconds}, {"loss", t.loss_history}, {"accuracy", t.accuracy_history},
          {"heldout", heldout}, {"pointsEvery", t.points_every}, {"heldoutSamples", t.heldout_samples},
          {"heldoutBefore", finite_or_minus_one(t.heldout_before)}, {"heldoutAfter", finite_or_minus_one(t.heldout_after)},
          {"mnistDigits", t.mnist_digits}, {"mnistBefore", finite_or_minus_one(t.mnist_before)},
          {"mnistAfter", finite_or_minus_one(t.mnist_after)}, {"samplesBefore", finite_or_minus_one(t.samples_before)},
          {"samplesAfter", finite_or_minus_one(t.samples_after)}, {"message", t.message},
          {"longestSliceMs", a.tuning->longest_slice_ms()}, {"runsIn", a.tuning->runs_in()},
          {"threads", t.threads}, {"threadsNote", t.threads_note}};
}

// The gallery's marks: which samples the model in use misreads, when its session measured them.
json readings_json(const AppState& a) {
  const SampleReadings& r = a.readings;
  if (r.digits.empty()) return nullptr;
  json misread = json::array();
  for (size_t i = 0; i < std::min(r.digits.size(), a.samples.size()); ++i)
    if (r.misread(i, a.samples.label(i))) misread.push_back({{"index", i}, {"reads", r.digits[i]}});
  return {{"checked", r.digits.size()}, {"misread", misread}, {"shipped", r.shipped}};
}

json perf_json(const AppState& a) {
  const Predictor::Timings& t = a.predictor.timings();
  json slowest = json::array();
  for (const SlowFrame& f : a.perf.slowest_frames_tuning)
    slowest.push_back({{"ms", f.ms}, {"predictorMs", f.phases.predictor_ms}, {"tuningMs", f.phases.tuning_ms},
                       {"uiMs", f.phases.ui_ms}, {"renderMs", f.phases.render_ms},
                       {"glMs", f.phases.gl_ms}, {"vertices", f.phases.vertices}, {"step", f.session_step}});
  return {{"slowestFramesWhileTuning", slowest}, {"inferenceMs", a.perf.inference_ms}, {"frameMs", a.perf.frame_ms}, {"framesDrawn", a.perf.frames_drawn},
          {"maxFrameMsWhileTuning", a.perf.max_frame_ms_tuning}, {"frameMsWhileTuningP50", a.perf.frame_ms_p50_tuning()},
          {"ownMsWhileTuningP50", PagePerf::percentile(a.perf.own_ms_tuning, 0.5)},
          {"ownMsWhileTuningP99", PagePerf::percentile(a.perf.own_ms_tuning, 0.99)},
          {"frameMsWhileTuningP99", a.perf.frame_ms_p99_tuning()}, {"fineTuneStartMs", a.perf.fine_tune_start_ms},
          {"fineTuneFinishMs", a.perf.fine_tune_finish_ms}, {"engine", inference_path_name(a.predictor.path())},
          {"f32Us", t.f32_us}, {"winogradUs", t.winograd_us}, {"int8Us", t.int8_us},
          {"progressHz", a.perf.progress_hz}, {"progressFrames", a.perf.progress_frames}, {"progressWhy", a.perf.progress_why}, {"webglRenderer", a.perf.webgl_renderer}};
}

}  // namespace

std::string app_state_json(const AppState& a) {
  json s;
  s["strokes"] = a.canvas.strokes().size();
  s["hasInk"] = a.has_ink;
  s["top"] = a.prediction.valid ? json(a.prediction.label) : json(nullptr);
  s["probabilities"] = a.prediction.valid ? json(a.prediction.probabilities) : json(nullptr);
  s["model"] = a.predictor.loaded() ? json(a.model_name) : json(nullptr);
  s["modelError"] = a.model_error.empty() ? json(nullptr) : json(a.model_error);
  s["modelParameters"] = a.model_parameters;
  s["models"] = models_json(a);
  const auto counts = a.samples.counts();
  s["samples"] = std::vector<int>(counts.begin(), counts.end());
  s["sampleTotal"] = a.samples.size();
  s["sampleLabels"] = a.samples.data().labels;
  s["readings"] = readings_json(a);
  s["selectedSample"] = a.selected_sample >= 0 ? json(a.selected_sample) : json(nullptr);
  s["tuned"] = a.tuned;
  s["trainable"] = trainable_layers_name(a.trainable);
  s["fineTune"] = fine_tune_json(a);
  s["notice"] = a.notice.empty() ? json(nullptr) : json(a.notice);
  s["perf"] = perf_json(a);
  return s.dump();
}

}  // namespace digitlab
