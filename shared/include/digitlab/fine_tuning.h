// What fine-tuning trains and on which samples: one vocabulary and one set of rules for the browser's
// fine-tuner (wasm/engine/fine_tuner.h) and the native `digitlab finetune`, so the page, its worker,
// the JavaScript API and the command line cannot disagree about them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "digitlab/architecture.h"
#include "digitlab/idx.h"

namespace digitlab {

// The layers a session trains: those from first_trainable_layer() on. The ones before stay as they
// are (the browser runs them once per sample and caches their output).
enum class TrainableLayers {
  head,        // the classifier: the trailing run of linear, relu, dropout and flatten layers
  last_block,  // the last convolution and everything after it
  all,         // every layer (batch norm folded into the convolutions first)
};
inline constexpr TrainableLayers kTrainableLayerChoices[] = {TrainableLayers::head, TrainableLayers::last_block,
                                                             TrainableLayers::all};

const char* trainable_layers_name(TrainableLayers which);         // "head", "last-block", "all"
const char* trainable_layers_description(TrainableLayers which);  // for people: "last conv block + head", ...
TrainableLayers parse_trainable_layers(const std::string& name);  // throws Error listing the names

// Index into arch.layers of the first layer that trains. Throws Error for last_block in a network
// without a convolution, and for a network whose head has no linear layer.
size_t first_trainable_layer(const Architecture& arch, TrainableLayers which);

// The same choice in `digitlab finetune --freeze` words, which say what stays fixed: convs (= head),
// none (= all), all-but-last (only the last linear layer trains) or a layer's name (it and every
// layer before it stay fixed). Throws Error naming the choices and the layers.
size_t first_trainable_layer_after_freeze(const Architecture& arch, const std::string& freeze);

// Throws Error unless the samples can fine-tune a network of this architecture: at least one sample,
// images of its input size, digit labels. source names the set in the message (a file, or "").
void check_fine_tune_samples(const Architecture& arch, const Dataset& samples, const std::string& source = "");

// The person's samples split into a training and a held-out part (never trained on: it measures what
// the session did). Indices into the sample set, shuffled with splitmix64 from rng (advanced).
struct SampleSplit {
  std::vector<uint32_t> train, heldout;
};
// floor(count * holdout) held out, and at least one once there are 5 samples and holdout > 0.
// Throws Error for a holdout outside [0, 1) or one that leaves nothing to train on.
SampleSplit split_samples(size_t count, double holdout, uint64_t& rng);

}  // namespace digitlab
