#include "model_commands.h"

#include <cstdio>

#include "digitlab/architecture.h"
#include "digitlab/error.h"
#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"

namespace digitlab {
namespace {

void print_layers(const Architecture& a) {
  const std::vector<Shape> shapes = infer_shapes(a);
  std::printf("%-4s %-44s %s\n", "#", "layer", "output (C x H x W)");
  for (size_t i = 0; i < a.layers.size(); ++i)
    std::printf("%-4zu %-44s %d x %d x %d\n", i, describe(a.layers[i]).c_str(), shapes[i].c, shapes[i].h, shapes[i].w);
  std::printf("parameters: %lld   multiply-adds per image: %lld\n", (long long)parameter_count(a),
              (long long)multiply_adds(a));
}

}  // namespace

void print_presets() {
  std::printf("%-14s %12s %14s  %s\n", "name", "parameters", "MACs/image", "description");
  for (const std::string& name : preset_names()) {
    const Architecture a = preset(name);
    std::printf("%-14s %12lld %14lld  %s\n", name.c_str(), (long long)parameter_count(a), (long long)multiply_adds(a),
                a.description.c_str());
  }
}

void print_architecture(const std::string& preset_name) {
  const Architecture a = preset(preset_name);
  std::printf("%s: %s\n", a.name.c_str(), a.description.c_str());
  print_layers(a);
}

void inspect_model_file(const std::string& path) {
  const Model m = load_model_file(path);
  std::printf("%s: valid digitlab model, architecture '%s'\n", path.c_str(), m.arch.name.c_str());
  print_layers(m.arch);
  std::printf("input normalisation: mean %.4f, std %.4f\n", m.norm.mean, m.norm.std);
  for (const auto& [key, value] : m.provenance) std::printf("%s: %s\n", key.c_str(), value.c_str());
}

void export_model(const std::string& in, const std::string& out, bool fold) {
  Model m = load_model_file(in);
  if (fold) m = fold_batch_norm(m);
  save_model_file(m, out);
  std::printf("wrote %s (%s%s)\n", out.c_str(), m.arch.name.c_str(), fold ? ", batch norm folded" : "");
}

void write_subset(const SubsetOptions& o) {
  const Dataset d = load_dataset(o.images, o.labels);
  Dataset sub;
  sub.rows = d.rows;
  sub.cols = d.cols;
  int seen[10] = {}, taken[10] = {};
  for (size_t i = 0; i < d.size(); ++i) {
    const int l = d.labels[i];
    if (seen[l]++ < o.skip || taken[l] >= o.per_class) continue;
    ++taken[l];
    sub.images.insert(sub.images.end(), d.image(i), d.image(i) + d.image_size());
    sub.labels.push_back(uint8_t(l));
  }
  for (int c = 0; c < 10; ++c)
    if (taken[c] < o.per_class)
      throw Error("only " + std::to_string(taken[c]) + " images of digit " + std::to_string(c) + " available");
  save_dataset(sub, o.out[0], o.out[1], o.gzip);
  std::printf("wrote %zu images to %s and %s\n", sub.size(), o.out[0].c_str(), o.out[1].c_str());
}

}  // namespace digitlab
