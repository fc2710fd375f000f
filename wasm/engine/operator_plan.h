// How a network maps onto XNNPACK operators, decided once for both engines (f32, xnn_engine.h; int8,
// xnn_int8_engine.h) and for the trunk features that fine-tuning caches: batch norm folded into the
// convolutions, dropout and flatten dropped (the identity at inference), each ReLU fused into the
// operator before it where it can be (as its output's lower bound), a linear layer after a flattened
// map given weight columns in NHWC order, and, with Winograd convolutions, the 2x2 max pool after
// such a convolution computed inside it.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "digitlab/model.h"

namespace digitlab {

struct PlannedOp {
  enum class Kind {
    conv2d,           // XNNPACK convolution (implicit GEMM)
    winograd_conv2d,  // winograd_conv.h, maybe with the next max pool fused (last_layer > layer)
    max_pool2d,
    global_avg_pool,
    linear,
    relu,             // a ReLU with no operator before it to fuse into
  };
  Kind kind = Kind::relu;
  Layer def;                 // the layer as the folded architecture has it
  size_t layer = 0;          // index into the folded architecture's layers
  size_t last_layer = 0;     // the last layer it computes (a fused max pool's index, else layer)
  Shape in, out;             // per image, PyTorch order (the engines store activations NHWC)
  bool relu = false;         // a ReLU after it is fused: the output is clamped at 0
  bool nonnegative = false;  // its output is >= 0, so a ReLU after it is a no-op and runs nothing
  const float* weight = nullptr;  // conv: OIHW; linear: (out, in) with NHWC-ordered columns. Null once dropped
  const float* bias = nullptr;    // null without a bias
  int winograd_tile = 0;     // winograd_conv2d: output tile, 2 or 4
  std::string description;   // e.g. "conv2d conv1 1->32 k3 s1 p1 d1 g1 + relu"
};

class OperatorPlan {
 public:
  struct Options {
    // 3x3 stride-1 convolutions with >= 8 input channels as Winograd (fewer multiply-adds; on a
    // one-channel input its 16 transform terms per output cost more than the 9 multiply-adds saved).
    bool winograd = false;
  };

  // Validates the weights (Error naming the tensor) and the normalisation, folds batch norm and plans
  // every layer. Throws Error naming the layer for a sequence the engines cannot run.
  OperatorPlan(const Model& model, Options options);
  OperatorPlan(const OperatorPlan&) = delete;
  OperatorPlan& operator=(const OperatorPlan&) = delete;
  OperatorPlan(OperatorPlan&&) = default;

  const Architecture& architecture() const { return folded_.arch; }  // batch norm folded
  const Normalization& normalization() const { return folded_.norm; }
  const std::vector<PlannedOp>& ops() const { return ops_; }
  // Set when the network ends in a flatten of a spatial map (h*w > 1) rather than a linear layer: its
  // output is then that map, which callers get in PyTorch's (c, h, w) order.
  Shape output_map() const { return output_map_; }
  int winograd_ops() const;
  // Frees the weights once the operators have packed them (the ops' weight pointers become null).
  void drop_weights();

 private:
  Model folded_;
  std::vector<std::vector<float>> reordered_;  // linear weights with NHWC-ordered columns
  std::vector<PlannedOp> ops_;
  Shape output_map_;
};

}  // namespace digitlab
