// What crosses between the page and its fine-tuning worker (postMessage): a session request in the
// formats the project's files already use (the model as safetensors, samples and replay digits as
// IDX, the settings as JSON) and the session's status as JSON. Each side decodes with the same
// defensive parsers that read files from users, so a request is checked as a file would be.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "digitlab/idx.h"
#include "digitlab/model.h"
#include "fine_tuner.h"

namespace digitlab {

struct FineTuneRequest {
  // The parts in the order the worker's fine_tune_part() numbers them.
  enum Part { model, replay_images, replay_labels, probe_images, probe_labels, sample_images, sample_labels, part_count };
  std::vector<uint8_t> parts[part_count];  // safetensors, then IDX pairs (replay and probe may be empty)
  std::string config;                      // JSON, fine_tune_config_to_json
};

FineTuneRequest make_fine_tune_request(const FineTuneData& data, const FineTuneConfig& config);

struct DecodedFineTuneRequest {
  Model base;
  Dataset replay, probe, samples;
  FineTuneConfig config;
  FineTuneData data() const { return {base, replay, probe, samples}; }
};
// Throws Error naming the part that is wrong (FineTuner checks the values when it starts).
DecodedFineTuneRequest decode_fine_tune_request(const FineTuneRequest& request);

std::string fine_tune_config_to_json(const FineTuneConfig& config);
FineTuneConfig fine_tune_config_from_json(const std::string& json);  // throws Error; missing keys keep defaults

// "idle", "preparing", "running", "done" or "failed": the names the messages and state() use.
const char* fine_tune_state_name(FineTuneStatus::State state);
// "", "budget", "no improvement" or "stopped": why training ended (FineTuneStatus::Ending).
const char* fine_tune_ending_name(FineTuneStatus::Ending ending);

// The status and the longest uninterrupted piece of work so far (worker side, milliseconds).
std::string fine_tune_status_to_json(const FineTuneStatus& status, double longest_slice_ms);
FineTuneStatus fine_tune_status_from_json(const std::string& json, double* longest_slice_ms);  // throws Error

}  // namespace digitlab
