// Writes the seed corpora for the fuzzers: valid files of every preset plus every malformed case
// the unit tests know, so fuzzing starts from the interesting edges.
#include <cstdio>
#include <string>
#include <sys/stat.h>

#include "../malformed_inputs.h"
#include "digitlab/file_io.h"

using namespace digitlab;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds OUTPUT_DIR\n");
    return 2;
  }
  const std::string root = argv[1];
  for (const char* sub : {"", "/safetensors", "/idx", "/architecture_json"}) mkdir((root + sub).c_str(), 0755);
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
  std::printf("wrote %d seed files under %s\n", n + 3, root.c_str());
  return 0;
}
