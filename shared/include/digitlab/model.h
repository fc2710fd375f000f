// A model = an architecture, its input normalisation, free-form provenance, and named f32 tensors.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "digitlab/architecture.h"

namespace digitlab {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, PyTorch layout (conv weights OIHW, linear weights out x in)
  int64_t numel() const;
};

using TensorMap = std::map<std::string, Tensor>;

// Pixels in [0, 1] (ink = 1) are mapped to (x - mean) / std before the first layer.
struct Normalization {
  float mean = 0.1307f;  // MNIST training-set pixel mean and standard deviation
  float std = 0.3081f;
};

struct Model {
  Architecture arch;
  Normalization norm;
  std::map<std::string, std::string> provenance;  // e.g. "trained_by", "epochs", "test_accuracy"
  TensorMap params;
};

// Fresh parameters with PyTorch's default initialisation (Kaiming-uniform weights, uniform biases,
// batch norm at identity). Deterministic for a given seed on every platform.
Model init_model(const Architecture& arch, uint64_t seed);

// Throws Error if params lack a tensor the architecture needs, hold one it does not know, have a
// wrong shape, or contain NaN/inf (or a negative batch-norm variance).
void validate_parameters(const Architecture& arch, const TensorMap& params);

// Folds every batch_norm2d into the convolution before it (which gains a bias), so inference
// engines see conv + relu only. Throws Error if a batch norm does not directly follow a conv2d.
Model fold_batch_norm(const Model& model);

}  // namespace digitlab
