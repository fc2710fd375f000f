// The in-browser tail trainer against LibTorch autograd and torch::optim (native only). This binary
// links LibTorch and the XNNPACK-free training code, never XNNPACK: Debian's libtorch_cpu.so imports
// XNNPACK symbols of its own older API, which the pinned static XNNPACK would replace.
#include <torch/torch.h>

#include <cmath>

#include "digitlab/fine_tuning.h"
#include "tail_trainer.h"
#include "test_support.h"
#include "digitlab/presets.h"

namespace digitlab {
namespace {

using testing::relative_error;
// The same tail in LibTorch's functional ops over leaf tensors copied from the model, in float64:
// Debian's LibTorch computes some float32 convolution weight gradients through a less exact oneDNN
// path (up to 1% off on dropout-cnn's conv2, measured against its own float64 result), while ours
// agree with the float64 result to ~1e-7.
struct TorchTail {
  std::vector<const Layer*> layers;
  std::vector<torch::Tensor> params;  // weight (and bias) per conv/linear, in order
  torch::Tensor logits(torch::Tensor x) const {
    size_t k = 0;
    for (const Layer* l : layers) {
      switch (l->kind) {
        case LayerKind::conv2d: {
          const torch::Tensor w = params[k++];
          const torch::Tensor b = l->bias ? params[k++] : torch::Tensor();
          x = torch::conv2d(x, w, b, l->stride, l->padding, l->dilation, l->groups);
          break;
        }
        case LayerKind::linear: {
          const torch::Tensor w = params[k++];
          const torch::Tensor b = l->bias ? params[k++] : torch::Tensor();
          x = torch::linear(x.flatten(1), w, b);
          break;
        }
        case LayerKind::relu: x = torch::relu(x); break;
        case LayerKind::max_pool2d: x = torch::max_pool2d(x, l->kernel, l->stride); break;
        case LayerKind::global_avg_pool: x = x.mean({2, 3}); break;
        case LayerKind::flatten: x = x.flatten(1); break;
        default: break;  // dropout: off in these comparisons
      }
    }
    return x;
  }
};

TorchTail torch_tail(const Model& m, size_t first) {
  TorchTail h;
  for (size_t i = first; i < m.arch.layers.size(); ++i) {
    const Layer& l = m.arch.layers[i];
    h.layers.push_back(&l);
    if (l.kind != LayerKind::linear && l.kind != LayerKind::conv2d) continue;
    for (const char* what : {".weight", ".bias"}) {
      if (std::string(what) == ".bias" && !l.bias) continue;
      const Tensor& t = m.params.at(l.name + what);
      h.params.push_back(torch::from_blob(const_cast<float*>(t.data.data()), t.shape, torch::kFloat32)
                             .to(torch::kFloat64).requires_grad_(true));
    }
  }
  return h;
}

std::vector<float> flat(const std::vector<torch::Tensor>& ts, bool grads) {
  std::vector<float> out;
  for (const torch::Tensor& t : ts) {
    const torch::Tensor c = (grads ? t.grad() : t).detach().to(torch::kFloat32).contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return out;
}

TEST(TailTrainerVsTorch, GradientsEqualAutogradForEveryPresetAndTrainableChoice) {
  for (const std::string& name : preset_names()) {
    const Model m = fold_batch_norm(init_model(preset(name), 12));
    for (const size_t first : {first_trainable_layer(m.arch, TrainableLayers::head), first_trainable_layer(m.arch, TrainableLayers::last_block), size_t(0)}) {  // head, last block, all
      SCOPED_TRACE(name + " from layer " + std::to_string(first));
      TailTrainer ours(m, first, OptimizerOptions{});
      const Shape in = ours.input_shape();
      const int B = 16, F = ours.input_size();
      std::vector<float> inputs = testing::random_vector(size_t(B) * size_t(F), 4, 0.f, 3.f);
      std::vector<uint8_t> labels;
      for (int i = 0; i < B; ++i) labels.push_back(uint8_t(i % 10));
      const float loss = ours.forward_backward(inputs.data(), labels.data(), B, /*dropout=*/false);

      TorchTail tt = torch_tail(m, first);
      const torch::Tensor x =
          torch::from_blob(inputs.data(), {B, in.c, in.h, in.w}, torch::kFloat32).to(torch::kFloat64).requires_grad_(true);
      const torch::Tensor y = torch::from_blob(labels.data(), {B}, torch::kUInt8).to(torch::kInt64);
      const torch::Tensor tl = torch::nn::functional::cross_entropy(tt.logits(x), y);
      tl.backward();
      EXPECT_NEAR(loss, tl.item<double>(), 1e-5);
      EXPECT_LE(relative_error(ours.gradients(), flat(tt.params, true)), 1e-4);
      const torch::Tensor dx = x.grad().to(torch::kFloat32).contiguous();
      EXPECT_LE(relative_error(std::vector<float>(ours.input_gradient().begin(), ours.input_gradient().begin() + B * F),
                               std::vector<float>(dx.data_ptr<float>(), dx.data_ptr<float>() + dx.numel())),
                1e-4);
    }
  }
}

TEST(TailTrainerVsTorch, OptimizerStepsEqualTorchOptim) {
  const Model m = init_model(preset("keras-cnn"), 8);
  for (const char* kind : {"adam", "sgd"}) {
    SCOPED_TRACE(kind);
    OptimizerOptions o;
    o.kind = kind;
    o.lr = 0.01f;
    o.momentum = 0.9f;
    o.weight_decay = 1e-3f;
    TailTrainer ours(m, first_trainable_layer(m.arch, TrainableLayers::head), o);
    TorchTail th = torch_tail(m, ours.first_layer());
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (o.kind == "adam") opt = std::make_unique<torch::optim::Adam>(th.params, torch::optim::AdamOptions(0.01).weight_decay(1e-3));
    else opt = std::make_unique<torch::optim::SGD>(th.params, torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-3));
    const int B = 16, F = ours.input_size();
    for (int step = 0; step < 3; ++step) {  // three steps: moments and bias correction matter
      std::vector<float> features = testing::random_vector(size_t(B) * size_t(F), 20 + step, 0.f, 2.f);
      std::vector<uint8_t> labels;
      for (int i = 0; i < B; ++i) labels.push_back(uint8_t((i + step) % 10));
      ours.forward_backward(features.data(), labels.data(), B, false);
      ours.apply_gradients();
      opt->zero_grad();
      const torch::Tensor x = torch::from_blob(features.data(), {B, F}, torch::kFloat32).to(torch::kFloat64);
      const torch::Tensor y = torch::from_blob(labels.data(), {B}, torch::kUInt8).to(torch::kInt64);
      torch::nn::functional::cross_entropy(th.logits(x), y).backward();
      opt->step();
      // SGD: equal to float rounding. Adam divides by sqrt(v) + eps, so where a gradient is itself
      // at rounding level (~1e-8) its update can differ by a few percent of one step: bound at 2% of lr.
      const std::vector<float> want = flat(th.params, false);
      float worst = 0;
      for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(ours.parameters()[i] - want[i]));
      EXPECT_LE(worst, o.kind == "sgd" ? 1e-6f : 0.02f * o.lr) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace digitlab
