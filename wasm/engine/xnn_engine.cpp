#include "xnn_engine.h"

#include <algorithm>

#include "digitlab/error.h"
#include "digitlab/reference.h"
#include "engine_steps.h"
#include "network_layout.h"
#include "winograd_conv.h"

namespace digitlab {
namespace {

class WinogradConvStep : public EngineStep {
 public:
  explicit WinogradConvStep(const PlannedOp& op)
      : EngineStep(op.out, ElementType::f32),
        conv_(op.def, op.weight, op.bias, op.relu, op.last_layer != op.layer, op.winograd_tile), in_(op.in) {}
  void reshape(size_t batch) override { conv_.reshape(int(batch), in_.h, in_.w); }
  void run(const void* x, void* y) override { conv_.run(static_cast<const float*>(x), static_cast<float*>(y)); }

 private:
  WinogradConv3x3 conv_;
  Shape in_;
};

std::unique_ptr<EngineStep> make_step(const PlannedOp& op) {
  switch (op.kind) {
    case PlannedOp::Kind::conv2d: return std::make_unique<ConvStep>(op.def, op.weight, op.bias, op.relu, op.in, op.out);
    case PlannedOp::Kind::winograd_conv2d: return std::make_unique<WinogradConvStep>(op);
    case PlannedOp::Kind::max_pool2d: return std::make_unique<MaxPoolStep>(op.def, ElementType::f32, op.relu, 0, op.in, op.out);
    case PlannedOp::Kind::global_avg_pool: return std::make_unique<MeanStep>(op.in, op.out);
    case PlannedOp::Kind::linear: return std::make_unique<FullyConnectedStep>(op.def, op.weight, op.bias, op.relu, op.out);
    case PlannedOp::Kind::relu: break;
  }
  return std::make_unique<ClampStep>(op.out);
}

}  // namespace

XnnEngine::XnnEngine(const Model& model) : XnnEngine(model, Options()) {}

XnnEngine::XnnEngine(const Model& model, Options options) : XnnEngine(model, options, BuildLater{}) {
  while (build_next()) {
  }
}

XnnEngine::XnnEngine(const Model& model, Options options, BuildLater)
    : plan_(model, OperatorPlan::Options{options.convolutions == Convolutions::winograd}),
      chain_(std::make_unique<StepChain>()) {
  xnn_ensure_initialized();
  if (complete()) finish_build();  // no operator at all
}

bool XnnEngine::build_next() {
  if (complete()) return false;
  chain_->add(make_step(plan_.ops()[built_]));
  if (++built_ == plan_.ops().size()) finish_build();
  return true;
}

void XnnEngine::finish_build() {
  plan_.drop_weights();
  const size_t per_image = size_t(input_size()) * sizeof(float) + chain_->bytes_per_image();
  max_batch_ = int(std::min<size_t>(kMaxBatch, kActivationBudgetBytes / per_image));
  if (max_batch_ < 1)
    throw Error("architecture '" + architecture().name + "' needs more activation memory per image than the engine allows");
}

XnnEngine::~XnnEngine() = default;

void XnnEngine::check_batch(int batch) const {
  if (!complete())
    throw Error("the engine for '" + architecture().name + "' is still being built (" + std::to_string(built_) + " of " +
                std::to_string(plan_.ops().size()) + " operators)");
  if (batch < 1 || batch > max_batch_)
    throw Error("batch size " + std::to_string(batch) + " is out of range: the engine for '" + architecture().name +
                "' runs 1 to " + std::to_string(max_batch_) + " images per call");
}

const float* XnnEngine::input(const float* pixels, int batch) {
  check_batch(batch);
  if (!pixels) throw Error("the engine needs pixel and output buffers");
  const size_t n = size_t(batch) * size_t(input_size());
  if (input_.size() < n) input_.resize(n);
  normalise_to_nhwc(pixels, input_.data(), batch, input_shape(), plan_.normalization());
  return input_.data();
}

int XnnEngine::feature_size(size_t layer) const {
  if (layer > architecture().layers.size())
    throw Error("no layer boundary " + std::to_string(layer) + " in '" + architecture().name + "'");
  return int(layer == 0 ? architecture().input.size() : infer_shapes(architecture())[layer - 1].size());
}

void XnnEngine::features_before(size_t layer, const float* pixels, int batch, float* features) {
  const int size = feature_size(layer);
  if (!features || !pixels) throw Error("features_before needs pixel and feature buffers");
  if (layer == 0) {  // the whole network trains: its input is the normalised image, already (c, h, w)
    check_batch(batch);
    const Normalization& norm = plan_.normalization();
    for (size_t i = 0; i < size_t(batch) * size_t(size); ++i) features[i] = (pixels[i] - norm.mean) / norm.std;
    return;
  }
  // A ReLU at the boundary may have been fused into the operator before it; applying it again in the
  // tail changes nothing (relu is idempotent), so the cut is exact either way.
  const std::vector<PlannedOp>& ops = plan_.ops();
  size_t count = 0;
  while (count < ops.size() && ops[count].layer < layer) ++count;
  if (count == 0) throw Error("features_before: layer " + std::to_string(layer) + " runs no operator before it");
  if (ops[count - 1].last_layer >= layer)
    throw Error("features_before: layer " + std::to_string(layer) + " is inside a fused step (" +
                ops[count - 1].description + "); cut an engine with direct convolutions there");
  const Shape m = ops[count - 1].out;
  if (int(m.size()) != size) throw Error("features_before: layers between the last operator and the cut change the shape");
  const void* x = chain_->run(input(pixels, batch), size_t(batch), count);
  nhwc_to_nchw(static_cast<const float*>(x), features, batch, m);
}

void XnnEngine::forward(const float* pixels, int batch, float* logits) {
  if (!logits) throw Error("forward needs pixel and logit buffers");
  const float* x = static_cast<const float*>(chain_->run(input(pixels, batch), size_t(batch), chain_->size()));
  // A network that ends in a flatten of a spatial map (no linear layer after it) answers in PyTorch's order.
  const Shape m = plan_.output_map();
  if (m.size() > 0)
    nhwc_to_nchw(x, logits, batch, m);
  else
    std::copy(x, x + size_t(batch) * size_t(num_classes()), logits);
}

std::vector<float> XnnEngine::forward(const float* pixels, int batch) {
  check_batch(batch);
  std::vector<float> logits(size_t(batch) * size_t(num_classes()));
  forward(pixels, batch, logits.data());
  return logits;
}

std::vector<float> XnnEngine::probabilities(const float* pixels, int batch) {
  const std::vector<float> logits = forward(pixels, batch);
  std::vector<float> p(logits.size());
  softmax_forward(p.data(), logits.data(), batch, num_classes());
  return p;
}

std::vector<double> XnnEngine::profile(const float* pixels, int batch, int runs) {
  return chain_->profile(input(pixels, batch), size_t(batch), runs);
}

std::vector<XnnEngine::StepInfo> XnnEngine::steps() const {
  std::vector<StepInfo> info;
  for (const PlannedOp& op : plan_.ops()) info.push_back({op.description, op.out, op.layer, op.last_layer});
  return info;
}

const float* XnnEngine::activation(size_t step) const { return static_cast<const float*>(chain_->output(step)); }

}  // namespace digitlab
