#include "torch_net.h"

#include "digitlab/error.h"
#include "digitlab/idx.h"

namespace digitlab {
namespace {

torch::Tensor to_torch(const Tensor& t, torch::Device device) {
  auto cpu = torch::from_blob(const_cast<float*>(t.data.data()), t.shape, torch::kFloat32).clone();
  return cpu.to(device);
}

Tensor from_torch(const torch::Tensor& t) {
  auto cpu = t.detach().to(torch::kCPU).contiguous();
  Tensor out;
  out.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
  out.data.assign(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
  return out;
}

}  // namespace

TorchNet::TorchNet(const Model& model, torch::Device device) : model_(model), device_(device) {
  validate_parameters(model.arch, model.params);
  const auto get = [&](const std::string& name) { return to_torch(model.params.at(name), device_); };
  for (const Layer& l : model_.arch.layers) {
    LayerTensors t;
    if (l.kind == LayerKind::conv2d || l.kind == LayerKind::linear) {
      t.weight = get(l.name + ".weight").requires_grad_(true);
      if (l.bias) t.bias = get(l.name + ".bias").requires_grad_(true);
    } else if (l.kind == LayerKind::batch_norm2d) {
      t.weight = get(l.name + ".weight").requires_grad_(true);
      t.bias = get(l.name + ".bias").requires_grad_(true);
      t.running_mean = get(l.name + ".running_mean");
      t.running_var = get(l.name + ".running_var");
    }
    layers_.push_back(t);
  }
  model_.params.clear();
}

torch::Tensor TorchNet::forward(const torch::Tensor& pixels, bool train) {
  torch::Tensor x = (pixels - model_.norm.mean) / model_.norm.std;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = model_.arch.layers[i];
    const LayerTensors& t = layers_[i];
    const bool layer_train = train && i >= first_trainable_;
    switch (l.kind) {
      case LayerKind::conv2d:
        x = torch::conv2d(x, t.weight, t.bias, l.stride, l.padding, l.dilation, l.groups);
        break;
      case LayerKind::batch_norm2d:
        x = torch::batch_norm(x, t.weight, t.bias, t.running_mean, t.running_var, layer_train, 0.1, l.eps,
                              /*cudnn_enabled=*/true);
        break;
      case LayerKind::relu: x = torch::relu(x); break;
      case LayerKind::max_pool2d: x = torch::max_pool2d(x, l.kernel, l.stride); break;
      case LayerKind::global_avg_pool: x = x.mean({2, 3}); break;
      case LayerKind::flatten: x = x.flatten(1); break;
      case LayerKind::linear: x = torch::linear(x.flatten(1), t.weight, t.bias); break;
      case LayerKind::dropout: x = torch::dropout(x, l.p, layer_train); break;
    }
  }
  return x;
}

void TorchNet::set_first_trainable_layer(size_t index) {
  first_trainable_ = std::min(index, layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (torch::Tensor* p : {&layers_[i].weight, &layers_[i].bias}) {
      if (p->defined()) p->set_requires_grad(i >= first_trainable_);
    }
  }
}

std::vector<torch::Tensor> TorchNet::trainable_parameters() const {
  std::vector<torch::Tensor> out;
  for (size_t i = first_trainable_; i < layers_.size(); ++i) {
    if (layers_[i].weight.defined()) out.push_back(layers_[i].weight);
    if (layers_[i].bias.defined()) out.push_back(layers_[i].bias);
  }
  return out;
}

std::vector<torch::Tensor> TorchNet::state_tensors() const {
  std::vector<torch::Tensor> out;
  for (const LayerTensors& t : layers_)
    for (const torch::Tensor* p : {&t.weight, &t.bias, &t.running_mean, &t.running_var})
      if (p->defined()) out.push_back(*p);
  return out;
}

std::vector<torch::Tensor> TorchNet::buffers() const {
  std::vector<torch::Tensor> out;
  for (const LayerTensors& t : layers_)
    if (t.running_mean.defined()) out.insert(out.end(), {t.running_mean, t.running_var});
  return out;
}

void TorchNet::reinitialize_layer(const std::string& layer_name, uint64_t seed) {
  const Model fresh = init_model(model_.arch, seed);
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (model_.arch.layers[i].name != layer_name) continue;
    torch::NoGradGuard no_grad;
    LayerTensors& t = layers_[i];
    t.weight.copy_(to_torch(fresh.params.at(layer_name + ".weight"), device_));
    if (t.bias.defined()) t.bias.copy_(to_torch(fresh.params.at(layer_name + ".bias"), device_));
    if (t.running_mean.defined()) {
      t.running_mean.copy_(to_torch(fresh.params.at(layer_name + ".running_mean"), device_));
      t.running_var.copy_(to_torch(fresh.params.at(layer_name + ".running_var"), device_));
    }
    return;
  }
  throw Error("no layer named '" + layer_name + "' in " + model_.arch.name);
}

Model TorchNet::to_model() const {
  Model out = model_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const std::string& n = model_.arch.layers[i].name;
    const LayerTensors& t = layers_[i];
    if (t.weight.defined()) out.params[n + ".weight"] = from_torch(t.weight);
    if (t.bias.defined()) out.params[n + ".bias"] = from_torch(t.bias);
    if (t.running_mean.defined()) {
      out.params[n + ".running_mean"] = from_torch(t.running_mean);
      out.params[n + ".running_var"] = from_torch(t.running_var);
    }
  }
  return out;
}

torch::Device select_device(const std::string& request, int gpu) {
  if (request == "cpu") return torch::kCPU;
  if (request == "cuda" || request == "auto") {
    if (torch::cuda::is_available())
      return torch::Device(torch::kCUDA, torch::DeviceIndex(gpu % std::max<int64_t>(1, int64_t(torch::cuda::device_count()))));
    if (request == "cuda") {
      throw Error("--device cuda: no CUDA device is usable (this LibTorch was built without CUDA or sees no GPU); "
                  "build against a CUDA LibTorch via CMAKE_PREFIX_PATH, or use --device cpu");
    }
    return torch::kCPU;
  }
  throw Error("--device must be auto, cpu or cuda (got '" + request + "')");
}

torch::Tensor dataset_images(const Dataset& data, torch::Device device) {
  const int64_t n = int64_t(data.size());
  auto bytes = torch::from_blob(const_cast<uint8_t*>(data.images.data()), {n, 1, data.rows, data.cols}, torch::kUInt8);
  return bytes.to(torch::kFloat32).div_(255.f).to(device);
}

torch::Tensor dataset_labels(const Dataset& data, torch::Device device) {
  auto bytes = torch::from_blob(const_cast<uint8_t*>(data.labels.data()), {int64_t(data.size())}, torch::kUInt8);
  return bytes.to(torch::kInt64).to(device);
}

}  // namespace digitlab
