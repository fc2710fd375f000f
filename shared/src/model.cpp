#include "digitlab/model.h"

#include <cmath>
#include <set>

#include "digitlab/error.h"
#include "digitlab/random.h"

namespace digitlab {

namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

struct Rng {
  uint64_t state;
  uint64_t next() { return splitmix64_next(state); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() >> 40) / float(1ull << 24); }
};

}  // namespace

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Model init_model(const Architecture& arch, uint64_t seed) {
  infer_shapes(arch);
  Model m;
  m.arch = arch;
  Rng rng{seed};
  for (const Layer& l : arch.layers) {
    auto put = [&](const std::string& name, std::vector<int64_t> shape, auto fill) {
      Tensor t;
      t.shape = std::move(shape);
      t.data.resize(size_t(t.numel()));
      for (float& v : t.data) v = fill();
      m.params[l.name + "." + name] = std::move(t);
    };
    if (l.kind == LayerKind::conv2d || l.kind == LayerKind::linear) {
      const bool conv = l.kind == LayerKind::conv2d;
      const int fan_in = conv ? (l.in_channels / l.groups) * l.kernel * l.kernel : l.in_features;
      // kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as does the bias.
      const float bound = 1.f / std::sqrt(float(fan_in));
      if (conv)
        put("weight", {l.out_channels, l.in_channels / l.groups, l.kernel, l.kernel}, [&] { return rng.uniform(-bound, bound); });
      else
        put("weight", {l.out_features, l.in_features}, [&] { return rng.uniform(-bound, bound); });
      if (l.bias) put("bias", {conv ? l.out_channels : l.out_features}, [&] { return rng.uniform(-bound, bound); });
    } else if (l.kind == LayerKind::batch_norm2d) {
      put("weight", {l.features}, [] { return 1.f; });
      put("bias", {l.features}, [] { return 0.f; });
      put("running_mean", {l.features}, [] { return 0.f; });
      put("running_var", {l.features}, [] { return 1.f; });
    }
  }
  return m;
}

void validate_parameters(const Architecture& arch, const TensorMap& params) {
  std::set<std::string> expected;
  for (const ParameterSpec& spec : parameter_specs(arch)) {
    expected.insert(spec.name);
    auto it = params.find(spec.name);
    if (it == params.end())
      throw Error("weights lack tensor '" + spec.name + "' needed by architecture '" + arch.name + "'");
    const Tensor& t = it->second;
    if (t.shape != spec.shape)
      throw Error("tensor '" + spec.name + "' has shape " + shape_string(t.shape) + " but architecture '" +
                  arch.name + "' needs " + shape_string(spec.shape));
    if (int64_t(t.data.size()) != spec.numel())
      throw Error("tensor '" + spec.name + "' holds " + std::to_string(t.data.size()) + " values, expected " +
                  std::to_string(spec.numel()));
    const bool is_var = spec.name.size() > 12 && spec.name.compare(spec.name.size() - 12, 12, ".running_var") == 0;
    for (size_t i = 0; i < t.data.size(); ++i) {
      if (!std::isfinite(t.data[i]))
        throw Error("tensor '" + spec.name + "' holds a non-finite value (" + std::to_string(t.data[i]) +
                    ") at index " + std::to_string(i));
      if (is_var && t.data[i] < 0.f) throw Error("tensor '" + spec.name + "' holds a negative variance");
    }
  }
  for (const auto& [name, tensor] : params)
    if (!expected.count(name))
      throw Error("weights hold tensor '" + name + "' that architecture '" + arch.name + "' does not use");
}

Model fold_batch_norm(const Model& model) {
  Model out;
  out.norm = model.norm;
  out.provenance = model.provenance;
  out.arch = model.arch;
  out.arch.layers.clear();
  for (size_t i = 0; i < model.arch.layers.size(); ++i) {
    const Layer& l = model.arch.layers[i];
    auto copy = [&](const std::string& n) {
      auto it = model.params.find(n);
      if (it != model.params.end()) out.params[n] = it->second;
    };
    if (l.kind == LayerKind::batch_norm2d) {
      if (out.arch.layers.empty() || out.arch.layers.back().kind != LayerKind::conv2d)
        throw Error("cannot fold batch norm '" + l.name + "': it does not directly follow a convolution");
      Layer& conv = out.arch.layers.back();
      const Tensor& gamma = model.params.at(l.name + ".weight");
      const Tensor& beta = model.params.at(l.name + ".bias");
      const Tensor& mean = model.params.at(l.name + ".running_mean");
      const Tensor& var = model.params.at(l.name + ".running_var");
      Tensor& w = out.params.at(conv.name + ".weight");
      Tensor b;
      b.shape = {conv.out_channels};
      b.data.assign(size_t(conv.out_channels), 0.f);
      if (conv.bias) b = out.params.at(conv.name + ".bias");
      const int64_t per_out = w.numel() / conv.out_channels;
      for (int o = 0; o < conv.out_channels; ++o) {
        const float scale = gamma.data[o] / std::sqrt(var.data[o] + l.eps);
        for (int64_t k = 0; k < per_out; ++k) w.data[size_t(o * per_out + k)] *= scale;
        b.data[o] = (b.data[o] - mean.data[o]) * scale + beta.data[o];
      }
      conv.bias = true;
      out.params[conv.name + ".bias"] = std::move(b);
      continue;
    }
    out.arch.layers.push_back(l);
    if (!l.name.empty()) {
      copy(l.name + ".weight");
      copy(l.name + ".bias");
    }
  }
  out.provenance["batch_norm"] = "folded";
  return out;
}

}  // namespace digitlab
