// The XNNPACK inference engine: runs a digitlab::Model (every preset, and any architecture of the
// shared layer vocabulary it can map) natively and in the browser. The network becomes a chain of
// XNNPACK operators as operator_plan.h decides (batch norm folded, ReLUs fused, dropout the identity):
// convolution, max pooling, mean (global average pooling), fully connected, and a clamp for the rare
// ReLU that cannot be fused. Activations are NHWC.
//
// Why XNNPACK's operator API and not its subgraph API: we want the lifecycle explicit (weights packed
// once at create, operators reshaped only when the batch size changes, buffers owned by us), and we
// need each layer's activations individually for fine-tuning, which a subgraph runtime keeps to itself.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "digitlab/model.h"
#include "operator_plan.h"

namespace digitlab {

class StepChain;

class XnnEngine {
 public:
  // Bounds the activations of one call, so an absurd batch is an Error rather than an allocation
  // that fails (wasm memory is 2 GiB at most).
  static constexpr size_t kActivationBudgetBytes = size_t(512) << 20;
  static constexpr int kMaxBatch = 4096;

  // How 3x3 stride-1 convolutions with at least 8 input channels are computed: XNNPACK's direct
  // (implicit GEMM) convolution, or Winograd (winograd_conv.h: F(2x2,3x3) or F(4x4,3x3) per layer,
  // 2.25-4x fewer multiply-adds, a following 2x2 max pool fused). Results agree to float rounding;
  // which is faster depends on the model and the machine, so callers measure (predictor.h does).
  enum class Convolutions { direct, winograd };
  struct Options {
    Convolutions convolutions = Convolutions::direct;
  };

  // Checks the weights against the architecture (Error naming the tensor), folds batch norm and
  // creates every operator. Throws Error for a layer sequence the engine cannot run.
  explicit XnnEngine(const Model& model);  // direct convolutions
  XnnEngine(const Model& model, Options options);
  // An engine built an operator at a time, for callers that spread the cost (predictor.h builds a
  // fine-tuned model's faster path over the page's frames; one operator takes up to ~4 ms there):
  // this constructor checks and plans, and each build_next() creates the next operator. Running it
  // before complete() throws Error.
  struct BuildLater {};
  XnnEngine(const Model& model, Options options, BuildLater);
  bool build_next();  // false when every operator was already built
  bool complete() const { return built_ == plan_.ops().size(); }
  ~XnnEngine();
  XnnEngine(const XnnEngine&) = delete;
  XnnEngine& operator=(const XnnEngine&) = delete;

  // pixels (batch, c, h, w) of the architecture's input, in [0, 1] -> logits (batch, num_classes).
  // Normalises with the model's mean and std. Buffers grow to the largest batch seen, so calls at a
  // repeated batch size allocate nothing, and operators are reshaped only when the batch size changes.
  // Throws Error unless 1 <= batch <= max_batch().
  void forward(const float* pixels, int batch, float* logits);
  std::vector<float> forward(const float* pixels, int batch);        // allocates the result
  std::vector<float> probabilities(const float* pixels, int batch);  // softmax of the logits

  // Runs only the layers before `layer` (an index into architecture().layers, which has batch norm
  // folded) and writes their output per image in PyTorch's (c, h, w) order: the input of a tail that
  // TailTrainer trains from that layer on. feature_size(layer) values per image. Layer 0 (the whole
  // network trains) gives the normalised pixels.
  void features_before(size_t layer, const float* pixels, int batch, float* features);
  int feature_size(size_t layer) const;

  const Architecture& architecture() const { return plan_.architecture(); }  // as run: batch norm folded
  Shape input_shape() const { return plan_.architecture().input; }
  int input_size() const { return int(plan_.architecture().input.size()); }  // values per image
  int num_classes() const { return plan_.architecture().num_classes; }
  int winograd_steps() const { return plan_.winograd_ops(); }  // convolutions run as Winograd (0 with direct)
  int max_batch() const { return max_batch_; }

  // One operator as run, e.g. "conv2d conv1 1->32 k3 s1 p1 d1 g1 + relu", and its output shape per
  // image (stored NHWC). Layers that are the identity at inference run no operator.
  struct StepInfo {
    std::string description;
    Shape output;
    size_t layer = 0;       // the layer (index into architecture().layers) whose operator this is
    size_t last_layer = 0;  // the last layer it computes (> layer when a pool is fused into it)
  };
  std::vector<StepInfo> steps() const;
  // Median time of each step in microseconds over `runs` forward passes at this batch size.
  std::vector<double> profile(const float* pixels, int batch, int runs);
  // Output of step i in the last forward call: (batch, h, w, c).
  const float* activation(size_t step) const;

 private:
  void check_batch(int batch) const;
  void finish_build();  // after the last operator: the planned weights go, the batch limit is set
  const float* input(const float* pixels, int batch);  // normalised NHWC

  OperatorPlan plan_;  // weights dropped once the operators hold them
  std::unique_ptr<StepChain> chain_;
  std::vector<float> input_;
  size_t built_ = 0;  // operators created so far
  int max_batch_ = 0;
};

}  // namespace digitlab
