// The LibTorch network built from the shared spec computes what the shared reference computes, for
// every preset, and survives a save/load round trip bit for bit.
#include <torch/torch.h>

#include "digitlab/presets.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"
#include "test_support.h"
#include "torch_net.h"

namespace digitlab {
namespace {

using namespace testing;  // random_vector, max_abs_diff, ...

// init_model leaves batch norm at identity; random statistics make the comparison mean something.
Model random_model(const std::string& arch_name, uint64_t seed) {
  Model m = init_model(preset(arch_name), seed);
  for (auto& [name, t] : m.params) {
    const bool var = name.find("running_var") != std::string::npos;
    const bool bn = name.find("running_mean") != std::string::npos || name.rfind("bn", 0) == 0;
    if (var) t.data = random_vector(t.data.size(), seed + t.data.size(), 0.5f, 2.f);
    else if (bn) t.data = random_vector(t.data.size(), seed + 3 * t.data.size(), -0.5f, 0.5f);
  }
  return m;
}

std::vector<float> torch_logits(TorchNet& net, const std::vector<float>& pixels, int batch) {
  torch::NoGradGuard no_grad;
  std::vector<float> copy = pixels;
  const torch::Tensor x = torch::from_blob(copy.data(), {batch, 1, 28, 28}, torch::kFloat32);
  const torch::Tensor y = net.forward(x, /*train=*/false).contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

TEST(TorchNet, ForwardMatchesReferenceForEveryPreset) {
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const Model m = random_model(name, 11);
    const int batch = 4;
    const std::vector<float> pixels = random_vector(size_t(batch) * 784, 5, 0.f, 1.f);
    TorchNet net(m, torch::kCPU);
    const std::vector<float> got = torch_logits(net, pixels, batch);
    const std::vector<float> want = reference_forward(m, pixels.data(), batch);
    ASSERT_EQ(got.size(), size_t(batch) * 10);
    EXPECT_LE(max_abs_diff(got, want), 1e-5f);
  }
}

TEST(TorchNet, ParameterNamesAreTheSharedSpecNames) {
  for (const std::string& name : preset_names()) {
    const Model m = random_model(name, 3);
    const Model back = TorchNet(m, torch::kCPU).to_model();
    ASSERT_EQ(back.params.size(), m.params.size()) << name;
    for (const auto& [key, t] : m.params) {
      ASSERT_TRUE(back.params.count(key)) << name << ": " << key;
      EXPECT_EQ(back.params.at(key).shape, t.shape) << key;
      EXPECT_EQ(back.params.at(key).data, t.data) << key;
    }
  }
}

TEST(TorchNet, SaveLoadRoundTripGivesIdenticalOutputs) {
  const Model m = random_model("digitlab-cnn", 9);
  TorchNet net(m, torch::kCPU);
  // One training step so the weights and running statistics are no longer the initial ones.
  torch::manual_seed(1);
  {
    const torch::Tensor x = torch::rand({8, 1, 28, 28});
    const torch::Tensor loss = net.forward(x, true).logsumexp(1).mean();
    loss.backward();
    torch::NoGradGuard g;
    for (torch::Tensor& p : net.trainable_parameters()) p.sub_(0.1 * p.grad());
  }
  const std::string path = testing::output_path("torch_roundtrip.safetensors");
  save_model_file(net.to_model(), path);
  TorchNet loaded(load_model_file(path), torch::kCPU);
  const std::vector<float> pixels = random_vector(3 * 784, 21, 0.f, 1.f);
  EXPECT_EQ(torch_logits(net, pixels, 3), torch_logits(loaded, pixels, 3));
}

TEST(TorchNet, FrozenLayersGetNoGradientAndKeepBatchNormStatistics) {
  const Model m = random_model("digitlab-cnn", 4);
  TorchNet net(m, torch::kCPU);
  net.set_first_trainable_layer(16);  // only the dropout + fc head train
  const std::vector<torch::Tensor> params = net.trainable_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].sizes(), torch::IntArrayRef({10, 128}));
  net.forward(torch::rand({16, 1, 28, 28}), true).sum().backward();
  const Model after = net.to_model();
  EXPECT_EQ(after.params.at("bn1.running_mean").data, m.params.at("bn1.running_mean").data);
}

TEST(TorchNet, RejectsWeightsThatDoNotMatchTheArchitecture) {
  Model m = init_model(preset("seed-cnn"), 1);
  m.params.at("fc2.weight").shape = {10, 64};
  m.params.at("fc2.weight").data.resize(640);
  EXPECT_ERROR_CONTAINS(TorchNet(m, torch::kCPU), "fc2.weight");
}

}  // namespace
}  // namespace digitlab
