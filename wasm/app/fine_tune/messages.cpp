#include "fine_tune/messages.h"

#include <cmath>
#include <limits>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "digitlab/error.h"
#include "digitlab/safetensors.h"

namespace digitlab {
namespace {

using nlohmann::json;

const char* const kStates[] = {"idle", "preparing", "running", "done", "failed"};
const char* const kEndings[] = {"", "budget", "no improvement", "stopped"};

json parse_object(const std::string& text, const char* what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw Error(std::string(what) + " is not a JSON object");
  return j;
}

// Whether v holds a value of T exactly as JSON gives it: no silent conversions (a float into an int
// field, a number out of the field's range: C++ leaves such casts undefined).
template <typename T>
bool fits(const json& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v.is_boolean();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v.is_string();
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_unsigned()) return v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max());
    if (!v.is_number_integer()) return false;
    const int64_t x = v.get<int64_t>();
    return std::is_signed_v<T> ? x >= int64_t(std::numeric_limits<T>::min()) && x <= int64_t(std::numeric_limits<T>::max())
                               : x >= 0;
  } else {
    return v.is_number() && std::fabs(v.get<double>()) <= double(std::numeric_limits<T>::max());
  }
}

// Reads key into out when present; a value of the wrong type or range is an error, not a default.
template <typename T>
void read(const json& j, const char* key, T& out, const char* what) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  if (!fits<T>(*it)) throw Error(std::string(what) + ": '" + key + "' has the wrong type or is out of range");
  out = it->get<T>();
}

// JSON has no NaN (nlohmann writes null): accuracies with nothing to measure travel as null.
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double number_or_nan(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
}
// The same for a float field: NaN for null and for what a float cannot hold.
float float_or_nan(const json& v) {
  return fits<float>(v) ? v.get<float>() : std::numeric_limits<float>::quiet_NaN();
}

std::vector<uint8_t> idx_bytes(std::vector<uint32_t> dims, const std::vector<uint8_t>& data) {
  return encode_idx(IdxArray{std::move(dims), data}, /*gzip=*/false);
}

Dataset decode_pair(const std::vector<uint8_t>& images, const std::vector<uint8_t>& labels, const char* what) {
  try {
    return dataset_from_idx(decode_idx(images.data(), images.size()), decode_idx(labels.data(), labels.size()));
  } catch (const Error& e) {
    throw Error(std::string(what) + ": " + e.what());
  }
}

}  // namespace

FineTuneRequest make_fine_tune_request(const FineTuneData& data, const FineTuneConfig& config) {
  FineTuneRequest r;
  r.parts[FineTuneRequest::model] = encode_model(data.base);
  const auto pair = [&](const Dataset& d, FineTuneRequest::Part images, FineTuneRequest::Part labels) {
    r.parts[images] = idx_bytes({uint32_t(d.size()), uint32_t(d.rows), uint32_t(d.cols)}, d.images);
    r.parts[labels] = idx_bytes({uint32_t(d.size())}, d.labels);
  };
  if (data.replay.size() > 0) pair(data.replay, FineTuneRequest::replay_images, FineTuneRequest::replay_labels);
  if (data.probe.size() > 0) pair(data.probe, FineTuneRequest::probe_images, FineTuneRequest::probe_labels);
  pair(data.samples, FineTuneRequest::sample_images, FineTuneRequest::sample_labels);
  r.config = fine_tune_config_to_json(config);
  return r;
}

DecodedFineTuneRequest decode_fine_tune_request(const FineTuneRequest& r) {
  DecodedFineTuneRequest d;
  const std::vector<uint8_t>& model = r.parts[FineTuneRequest::model];
  try {
    d.base = decode_model(model.data(), model.size());
  } catch (const Error& e) {
    throw Error(std::string("the model to fine-tune: ") + e.what());
  }
  const auto optional_pair = [&](FineTuneRequest::Part images, FineTuneRequest::Part labels, Dataset& out, const char* what) {
    if (!r.parts[images].empty() || !r.parts[labels].empty()) out = decode_pair(r.parts[images], r.parts[labels], what);
  };
  optional_pair(FineTuneRequest::replay_images, FineTuneRequest::replay_labels, d.replay, "replay digits");
  optional_pair(FineTuneRequest::probe_images, FineTuneRequest::probe_labels, d.probe, "MNIST digits for the forgetting measure");
  d.samples = decode_pair(r.parts[FineTuneRequest::sample_images], r.parts[FineTuneRequest::sample_labels], "samples");
  d.config = fine_tune_config_from_json(r.config);
  return d;
}

std::string fine_tune_config_to_json(const FineTuneConfig& c) {
  const OptimizerOptions& o = c.optimizer;
  return json{{"trainable", trainable_layers_name(c.trainable)}, {"epochs", c.epochs}, {"maxSteps", c.max_steps},
              {"checks", c.checks}, {"patience", c.patience}, {"batch", c.batch},
              {"replayPerBatch", c.replay_per_batch}, {"holdout", c.holdout}, {"shiftedCopies", c.shifted_copies},
              {"seed", c.seed}, {"threads", c.threads},
              {"optimizer", {{"kind", o.kind}, {"lr", o.lr}, {"momentum", o.momentum}, {"beta1", o.beta1},
                             {"beta2", o.beta2}, {"eps", o.eps}, {"weightDecay", o.weight_decay},
                             {"clipGradNorm", o.clip_grad_norm}}}}
      .dump();
}

FineTuneConfig fine_tune_config_from_json(const std::string& text) {
  const char* what = "fine-tuning settings";
  const json j = parse_object(text, what);
  FineTuneConfig c;
  std::string trainable = trainable_layers_name(c.trainable);
  read(j, "trainable", trainable, what);
  c.trainable = parse_trainable_layers(trainable);
  read(j, "epochs", c.epochs, what);
  read(j, "maxSteps", c.max_steps, what);
  read(j, "checks", c.checks, what);
  read(j, "patience", c.patience, what);
  read(j, "batch", c.batch, what);
  read(j, "replayPerBatch", c.replay_per_batch, what);
  read(j, "holdout", c.holdout, what);
  read(j, "shiftedCopies", c.shifted_copies, what);
  read(j, "seed", c.seed, what);
  read(j, "threads", c.threads, what);
  const auto o = j.find("optimizer");
  if (o != j.end()) {
    if (!o->is_object()) throw Error("fine-tuning settings: 'optimizer' is not an object");
    OptimizerOptions& opt = c.optimizer;
    read(*o, "kind", opt.kind, what);
    read(*o, "lr", opt.lr, what);
    read(*o, "momentum", opt.momentum, what);
    read(*o, "beta1", opt.beta1, what);
    read(*o, "beta2", opt.beta2, what);
    read(*o, "eps", opt.eps, what);
    read(*o, "weightDecay", opt.weight_decay, what);
    read(*o, "clipGradNorm", opt.clip_grad_norm, what);
  }
  return c;
}

const char* fine_tune_state_name(FineTuneStatus::State state) { return kStates[int(state)]; }
const char* fine_tune_ending_name(FineTuneStatus::Ending ending) { return kEndings[int(ending)]; }

std::string fine_tune_status_to_json(const FineTuneStatus& s, double longest_slice_ms) {
  const auto series = [](const std::vector<float>& values) {
    json out = json::array();
    for (float v : values) out.push_back(number_or_null(v));
    return out;
  };
  return json{{"state", fine_tune_state_name(s.state)}, {"ending", fine_tune_ending_name(s.ending)}, {"step", s.step},
              {"totalSteps", s.total_steps}, {"epoch", s.epoch}, {"workDone", s.work_done}, {"workTotal", s.work_total},
              {"lastLoss", number_or_null(s.last_loss)}, {"loss", series(s.loss_history)},
              {"accuracy", series(s.accuracy_history)}, {"heldout", series(s.heldout_history)},
              {"pointsEvery", s.points_every}, {"bestStep", s.best_step}, {"trainSamples", s.train_samples},
              {"heldoutSamples", s.heldout_samples}, {"mnistDigits", s.mnist_digits},
              {"heldoutBefore", number_or_null(s.heldout_before)}, {"heldoutAfter", number_or_null(s.heldout_after)},
              {"mnistBefore", number_or_null(s.mnist_before)}, {"mnistAfter", number_or_null(s.mnist_after)},
              {"samplesBefore", number_or_null(s.samples_before)}, {"samplesAfter", number_or_null(s.samples_after)},
              {"predictions", s.sample_predictions}, {"etaSeconds", number_or_null(s.eta_seconds)}, {"message", s.message}, {"longestSliceMs", longest_slice_ms},
              {"threads", s.threads}, {"threadsNote", s.threads_note}}
      .dump();
}

FineTuneStatus fine_tune_status_from_json(const std::string& text, double* longest_slice_ms) {
  const char* what = "fine-tuning status";
  const json j = parse_object(text, what);
  FineTuneStatus s;
  std::string state;
  read(j, "state", state, what);
  bool known = false;
  for (int i = 0; i < 5; ++i)
    if (state == kStates[i]) s.state = FineTuneStatus::State(i), known = true;
  if (!known) throw Error("fine-tuning status: unknown state '" + state.substr(0, 16) + "'");
  std::string ending;
  read(j, "ending", ending, what);
  known = false;
  for (int i = 0; i < 4; ++i)
    if (ending == kEndings[i]) s.ending = FineTuneStatus::Ending(i), known = true;
  if (!known) throw Error("fine-tuning status: unknown ending '" + ending.substr(0, 16) + "'");
  read(j, "step", s.step, what);
  read(j, "totalSteps", s.total_steps, what);
  read(j, "epoch", s.epoch, what);
  read(j, "workDone", s.work_done, what);
  read(j, "workTotal", s.work_total, what);
  const auto last_loss = j.find("lastLoss");
  s.last_loss = last_loss != j.end() ? float_or_nan(*last_loss) : std::numeric_limits<float>::quiet_NaN();
  const auto series = [&](const char* key, std::vector<float>& out) {
    const auto it = j.find(key);
    if (it == j.end()) return;
    if (!it->is_array()) throw Error(std::string("fine-tuning status: '") + key + "' is not a list");
    for (const json& v : *it) out.push_back(float_or_nan(v));
  };
  series("loss", s.loss_history);
  series("accuracy", s.accuracy_history);
  series("heldout", s.heldout_history);
  read(j, "pointsEvery", s.points_every, what);
  read(j, "bestStep", s.best_step, what);
  read(j, "trainSamples", s.train_samples, what);
  read(j, "heldoutSamples", s.heldout_samples, what);
  read(j, "mnistDigits", s.mnist_digits, what);
  s.heldout_before = number_or_nan(j, "heldoutBefore");
  s.heldout_after = number_or_nan(j, "heldoutAfter");
  s.mnist_before = number_or_nan(j, "mnistBefore");
  s.mnist_after = number_or_nan(j, "mnistAfter");
  s.samples_before = number_or_nan(j, "samplesBefore");
  s.samples_after = number_or_nan(j, "samplesAfter");
  if (const auto it = j.find("predictions"); it != j.end()) {
    if (!it->is_array()) throw Error("fine-tuning status: 'predictions' is not a list");
    for (const json& v : *it) {
      if (!fits<uint8_t>(v) || v.get<int>() > 9) throw Error("fine-tuning status: 'predictions' holds something that is not a digit 0-9");
      s.sample_predictions.push_back(v.get<uint8_t>());
    }
  }
  const double eta = number_or_nan(j, "etaSeconds");
  s.eta_seconds = std::isfinite(eta) ? eta : -1;
  read(j, "message", s.message, what);
  read(j, "threads", s.threads, what);
  read(j, "threadsNote", s.threads_note, what);
  if (longest_slice_ms) {
    *longest_slice_ms = 0;
    read(j, "longestSliceMs", *longest_slice_ms, what);
  }
  return s;
}

}  // namespace digitlab
