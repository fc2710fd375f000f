// Writes the seed corpora for the fuzzers: valid files of every preset plus every malformed case
// the unit tests know, so fuzzing starts from the interesting edges.
#include <cstdio>
#include <string>
#include <sys/stat.h>

#include "../malformed_inputs.h"
#include "digitlab/file_io.h"
#include "digitlab/presets.h"

using namespace digitlab;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds OUTPUT_DIR\n");
    return 2;
  }
  const std::string root = argv[1];
  for (const char* sub : {"", "/safetensors", "/idx", "/architecture_json", "/fine_tune_messages"}) mkdir((root + sub).c_str(), 0755);
  auto put = [&](const std::string& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
    write_file_atomically(root + "/" + dir + "/" + name, bytes);
  };
  int n = 0;
  for (const std::string& name : preset_names()) {
    const std::string json = architecture_to_json(preset(name));
    put("architecture_json", name + ".json", std::vector<uint8_t>(json.begin(), json.end()));
    n++;
  }
  put("safetensors", "keras-cnn.safetensors", testing::small_model_bytes());
  for (const auto& c : testing::malformed_safetensors()) put("safetensors", c.name, c.bytes), n++;
  for (const auto& c : testing::malformed_models()) put("safetensors", "model_" + c.name, c.bytes), n++;
  for (const auto& c : testing::malformed_idx()) put("idx", c.name, c.bytes), n++;
  put("idx", "valid_images", encode_idx(IdxArray{{2, 28, 28}, std::vector<uint8_t>(2 * 784, 128)}, false));
  put("idx", "valid_labels.gz", encode_idx(IdxArray{{3}, {1, 2, 3}}, true));
  // Worker messages: an odd first byte = a status, even = settings (fuzz_fine_tune_messages.cpp).
  const std::string messages[] = {
      "\1{\"state\":\"running\",\"step\":7,\"totalSteps\":40,\"epoch\":1,\"workDone\":19,\"workTotal\":60,"
      "\"lastLoss\":0.5,\"loss\":[2.5,null,0.25],\"accuracy\":[0.5,1],\"trainSamples\":160,\"heldoutSamples\":40,"
      "\"heldoutBefore\":null,\"heldoutAfter\":0.9,\"replayBefore\":0.98,\"replayAfter\":0.97,\"message\":\"\","
      "\"longestSliceMs\":4.5}",
      "\1{\"state\":\"failed\",\"message\":\"non-finite loss\"}",
      "\1{\"state\":\"dancing\"}",
      "\2{\"trainable\":\"all\",\"epochs\":20,\"batch\":32,\"replayPerBatch\":8,\"holdout\":0.2,\"shiftedCopies\":true,"
      "\"seed\":1,\"optimizer\":{\"kind\":\"adam\",\"lr\":0.001,\"momentum\":0.9,\"beta1\":0.9,\"beta2\":0.999,"
      "\"eps\":1e-08,\"weightDecay\":0,\"clipGradNorm\":0}}",
      "\2{\"epochs\":\"many\"}"};
  int m = 0;
  for (const std::string& text : messages) {
    put("fine_tune_messages", "message_" + std::to_string(m++), std::vector<uint8_t>(text.begin(), text.end()));
  }
  n += m;
  std::printf("wrote %d seed files under %s\n", n + 3, root.c_str());
  return 0;
}
