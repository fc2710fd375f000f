// The shared architecture as a LibTorch network. Parameters are plain tensors named exactly as in
// parameter_specs(), and forward() walks the layer list with torch's functional ops, so what trains
// here is what the reference forward and the XNNPACK engine run, and weights move through the shared
// safetensors code unchanged. Only trainer sources include this header (LibTorch compiles slowly).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "digitlab/idx.h"
#include "digitlab/model.h"

namespace digitlab {

class TorchNet {
 public:
  TorchNet(const Model& model, torch::Device device);

  // pixels: (N, 1, 28, 28) in [0, 1], ink = 1; normalisation happens inside. Returns logits (N, 10).
  // In train mode batch norm uses batch statistics (and updates its running ones) and dropout is on,
  // except in frozen layers (before first_trainable_layer), which always run as at inference.
  torch::Tensor forward(const torch::Tensor& pixels, bool train);

  // Layers [0, index) are frozen: their parameters get no gradient and are left out of
  // trainable_parameters(). 0 trains everything.
  void set_first_trainable_layer(size_t index);
  size_t first_trainable_layer() const { return first_trainable_; }
  std::vector<torch::Tensor> trainable_parameters() const;
  // Every weight and batch-norm statistic, trainable or not (what a replica must agree on).
  std::vector<torch::Tensor> state_tensors() const;
  std::vector<torch::Tensor> buffers() const;  // batch norm's running statistics

  // Fresh initialisation (init_model's) for one layer, e.g. to replace the classifier head.
  void reinitialize_layer(const std::string& layer_name, uint64_t seed);

  Model to_model() const;  // a CPU copy with the current weights and this net's provenance
  const Architecture& arch() const { return model_.arch; }
  std::map<std::string, std::string>& provenance() { return model_.provenance; }
  torch::Device device() const { return device_; }

 private:
  struct LayerTensors {
    torch::Tensor weight, bias, running_mean, running_var;
  };
  Model model_;  // architecture, normalisation, provenance; its params are stale (see to_model)
  torch::Device device_;
  std::vector<LayerTensors> layers_;  // one per arch.layers entry
  size_t first_trainable_ = 0;
};

// Chooses "cuda" when asked for it or for "auto" with a GPU present; "cpu" otherwise. Throws Error
// for "cuda" without a usable GPU, naming what was found. gpu: which GPU (a rank's LOCAL_RANK,
// modulo the GPUs visible).
torch::Device select_device(const std::string& request, int gpu = 0);

// (N, 1, rows, cols) float tensor in [0, 1] from the dataset's bytes, on the given device.
torch::Tensor dataset_images(const Dataset& data, torch::Device device);
torch::Tensor dataset_labels(const Dataset& data, torch::Device device);

}  // namespace digitlab
