// The commands that need only the shared library: presets, info, inspect, export, subset. They throw
// Error with a message a shell user can act on.
#pragma once
#include <string>
#include <vector>

namespace digitlab {

void print_presets();
void print_architecture(const std::string& preset_name);
void inspect_model_file(const std::string& path);
void export_model(const std::string& in, const std::string& out, bool fold_batch_norm);

struct SubsetOptions {
  std::string images, labels;
  int per_class = 100, skip = 0;
  std::vector<std::string> out;  // images, labels
  bool gzip = false;
};
void write_subset(const SubsetOptions& options);

}  // namespace digitlab
