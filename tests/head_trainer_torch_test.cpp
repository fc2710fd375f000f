// The in-browser head trainer against LibTorch autograd and torch::optim (native only). This binary
// links LibTorch and the XNNPACK-free training code, never XNNPACK (see ../shared/TOOLCHAIN.md).
#include <torch/torch.h>

#include <cmath>

#include "head_trainer.h"
#include "test_support.h"

namespace digitlab {
namespace {

// The same head in LibTorch: linear/relu/flatten over leaf tensors copied from the model.
struct TorchHead {
  std::vector<const Layer*> layers;
  std::vector<torch::Tensor> params;  // weight, bias per linear, in order
  torch::Tensor logits(const torch::Tensor& x) const {
    torch::Tensor y = x;
    size_t k = 0;
    for (const Layer* l : layers) {
      if (l->kind == LayerKind::linear) {
        y = torch::linear(y, params[k], params[k + 1]);
        k += 2;
      } else if (l->kind == LayerKind::relu) {
        y = torch::relu(y);
      }
    }
    return y;
  }
};

TorchHead torch_head(const Model& m, size_t first) {
  TorchHead h;
  for (size_t i = first; i < m.arch.layers.size(); ++i) {
    const Layer& l = m.arch.layers[i];
    h.layers.push_back(&l);
    if (l.kind != LayerKind::linear) continue;
    for (const char* what : {".weight", ".bias"}) {
      const Tensor& t = m.params.at(l.name + what);
      h.params.push_back(torch::from_blob(const_cast<float*>(t.data.data()), t.shape, torch::kFloat32).clone().requires_grad_(true));
    }
  }
  return h;
}

std::vector<float> flat(const std::vector<torch::Tensor>& ts, bool grads) {
  std::vector<float> out;
  for (const torch::Tensor& t : ts) {
    const torch::Tensor c = (grads ? t.grad() : t).detach().contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return out;
}

// max |a - b| / (max |b| over the tensor + tiny): "within 1e-4 relative" for the whole gradient
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return diff / scale;
}

TEST(HeadTrainerVsTorch, GradientsEqualAutogradForEveryPreset) {
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const Model m = init_model(preset(name), 12);
    HeadTrainer ours(m, OptimizerOptions{});
    const int B = 32, F = ours.feature_size();
    std::vector<float> features = testing::random_vector(size_t(B) * size_t(F), 4, 0.f, 3.f);
    std::vector<uint8_t> labels;
    for (int i = 0; i < B; ++i) labels.push_back(uint8_t(i % 10));
    const float loss = ours.forward_backward(features.data(), labels.data(), B, /*dropout=*/false);

    TorchHead th = torch_head(m, ours.first_layer());
    const torch::Tensor x = torch::from_blob(features.data(), {B, F}, torch::kFloat32).clone().requires_grad_(true);
    const torch::Tensor y = torch::from_blob(labels.data(), {B}, torch::kUInt8).to(torch::kInt64);
    const torch::Tensor tl = torch::nn::functional::cross_entropy(th.logits(x), y);
    tl.backward();
    EXPECT_NEAR(loss, tl.item<float>(), 1e-5);
    EXPECT_LE(relative_error(ours.gradients(), flat(th.params, true)), 1e-4);
    const torch::Tensor dx = x.grad().contiguous();
    EXPECT_LE(relative_error(std::vector<float>(ours.input_gradient().begin(), ours.input_gradient().begin() + B * F),
                             std::vector<float>(dx.data_ptr<float>(), dx.data_ptr<float>() + dx.numel())),
              1e-4);
  }
}

TEST(HeadTrainerVsTorch, OptimizerStepsEqualTorchOptim) {
  const Model m = init_model(preset("keras-cnn"), 8);
  for (const char* kind : {"adam", "sgd"}) {
    SCOPED_TRACE(kind);
    OptimizerOptions o;
    o.kind = kind;
    o.lr = 0.01f;
    o.momentum = 0.9f;
    o.weight_decay = 1e-3f;
    HeadTrainer ours(m, o);
    TorchHead th = torch_head(m, ours.first_layer());
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (o.kind == "adam") opt = std::make_unique<torch::optim::Adam>(th.params, torch::optim::AdamOptions(0.01).weight_decay(1e-3));
    else opt = std::make_unique<torch::optim::SGD>(th.params, torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-3));
    const int B = 16, F = ours.feature_size();
    for (int step = 0; step < 3; ++step) {  // three steps: moments and bias correction matter
      std::vector<float> features = testing::random_vector(size_t(B) * size_t(F), 20 + step, 0.f, 2.f);
      std::vector<uint8_t> labels;
      for (int i = 0; i < B; ++i) labels.push_back(uint8_t((i + step) % 10));
      ours.forward_backward(features.data(), labels.data(), B, false);
      ours.apply_gradients();
      opt->zero_grad();
      const torch::Tensor x = torch::from_blob(features.data(), {B, F}, torch::kFloat32);
      const torch::Tensor y = torch::from_blob(labels.data(), {B}, torch::kUInt8).to(torch::kInt64);
      torch::nn::functional::cross_entropy(th.logits(x), y).backward();
      opt->step();
      // SGD: equal to float rounding. Adam divides by sqrt(v) + eps, so where a gradient is itself
      // at rounding level (~1e-8) its update can differ by a few percent of one step: bound at 1% of lr.
      const std::vector<float> want = flat(th.params, false);
      float worst = 0;
      for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(ours.parameters()[i] - want[i]));
      EXPECT_LE(worst, o.kind == "sgd" ? 1e-6f : 0.01f * o.lr) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace digitlab
