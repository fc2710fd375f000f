#include "digitlab/fine_tuning.h"

#include <cmath>

#include "digitlab/error.h"
#include "digitlab/random.h"

namespace digitlab {
namespace {

struct TrainableLayersNames {
  TrainableLayers which;
  const char* name;         // in settings, messages, state() and the JavaScript API
  const char* description;  // in the page
};
const TrainableLayersNames kNames[] = {{TrainableLayers::head, "head", "head"},
                                       {TrainableLayers::last_block, "last-block", "last conv block + head"},
                                       {TrainableLayers::all, "all", "whole network"}};

bool is_head_kind(LayerKind k) {
  return k == LayerKind::linear || k == LayerKind::relu || k == LayerKind::dropout || k == LayerKind::flatten;
}

size_t head_start(const Architecture& arch) {
  size_t first = arch.layers.size();
  while (first > 0 && is_head_kind(arch.layers[first - 1].kind)) --first;
  for (size_t i = first; i < arch.layers.size(); ++i)
    if (arch.layers[i].kind == LayerKind::linear) return first;
  throw Error(arch.name + " does not end in a linear classifier to train");
}

size_t last_linear(const Architecture& arch) {
  for (size_t i = arch.layers.size(); i-- > 0;)
    if (arch.layers[i].kind == LayerKind::linear) return i;
  throw Error(arch.name + " has no linear layer");
}

}  // namespace

const char* trainable_layers_name(TrainableLayers which) {
  for (const TrainableLayersNames& n : kNames)
    if (n.which == which) return n.name;
  return "head";
}

const char* trainable_layers_description(TrainableLayers which) {
  for (const TrainableLayersNames& n : kNames)
    if (n.which == which) return n.description;
  return "head";
}

TrainableLayers parse_trainable_layers(const std::string& name) {
  for (TrainableLayers t : kTrainableLayerChoices)
    if (name == trainable_layers_name(t)) return t;
  throw Error("trainable layers must be 'head', 'last-block' or 'all', not '" + name.substr(0, 40) + "'");
}

size_t first_trainable_layer(const Architecture& arch, TrainableLayers which) {
  switch (which) {
    case TrainableLayers::all: return 0;
    case TrainableLayers::last_block:
      for (size_t i = arch.layers.size(); i-- > 0;)
        if (arch.layers[i].kind == LayerKind::conv2d) return i;
      throw Error(arch.name + " has no convolution to train");
    case TrainableLayers::head: break;
  }
  return head_start(arch);
}

size_t first_trainable_layer_after_freeze(const Architecture& arch, const std::string& freeze) {
  if (freeze == "convs") return first_trainable_layer(arch, TrainableLayers::head);
  if (freeze == "none") return first_trainable_layer(arch, TrainableLayers::all);
  if (freeze == "all-but-last") return last_linear(arch);
  std::string names;
  for (size_t i = 0; i < arch.layers.size(); ++i) {
    if (arch.layers[i].name.empty()) continue;
    if (arch.layers[i].name == freeze) return i + 1;
    names += (names.empty() ? "" : ", ") + arch.layers[i].name;
  }
  throw Error("--freeze: '" + freeze + "' is not convs, none, all-but-last or a layer of " + arch.name + " (" + names + ")");
}

void check_fine_tune_samples(const Architecture& arch, const Dataset& samples, const std::string& source) {
  if (samples.size() == 0)
    throw Error("no samples to fine-tune on (the sample set" + (source.empty() ? "" : " " + source) +
                " is empty): label some digits first");
  if (samples.rows != arch.input.h || samples.cols != arch.input.w)
    throw Error("samples are " + std::to_string(samples.rows) + "x" + std::to_string(samples.cols) + " images; " +
                arch.name + " takes " + std::to_string(arch.input.h) + "x" + std::to_string(arch.input.w));
  for (uint8_t l : samples.labels)
    if (l > 9) throw Error("sample label " + std::to_string(l) + " is not a digit");
}

SampleSplit split_samples(size_t count, double holdout, uint64_t& rng) {
  if (!(holdout >= 0 && holdout < 1)) throw Error("the held-out share must be in [0, 1)");
  std::vector<uint32_t> order(count);
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  shuffle(order, rng);
  size_t held = size_t(std::floor(double(count) * holdout));
  if (holdout > 0 && count >= 5 && held == 0) held = 1;
  if (held >= count && count > 0)
    throw Error("no samples left to train on after holding out " + std::to_string(held));
  SampleSplit s;
  s.train.assign(order.begin(), order.end() - long(held));
  s.heldout.assign(order.end() - long(held), order.end());
  return s;
}

}  // namespace digitlab
