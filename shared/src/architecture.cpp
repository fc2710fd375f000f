#include "digitlab/architecture.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "digitlab/error.h"

namespace digitlab {

namespace {

// Bounds for anything read from a file: generous for MNIST-sized models, small enough that shape
// arithmetic cannot overflow and a hostile file cannot request gigabytes.
constexpr int kMaxLayers = 256;
constexpr int kMaxChannels = 4096;
constexpr int kMaxKernel = 15;
constexpr int kMaxSide = 1024;
constexpr int kMaxFeatures = 1 << 20;
constexpr int64_t kMaxParameters = int64_t(1) << 27;  // 512 MiB of f32

std::string where(const Architecture& arch, size_t i) {
  return "architecture '" + arch.name + "', layer " + std::to_string(i) + " (" +
         describe(arch.layers[i]) + ")";
}

}  // namespace

int64_t ParameterSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::conv2d: return "conv2d";
    case LayerKind::batch_norm2d: return "batch_norm2d";
    case LayerKind::relu: return "relu";
    case LayerKind::max_pool2d: return "max_pool2d";
    case LayerKind::global_avg_pool: return "global_avg_pool";
    case LayerKind::flatten: return "flatten";
    case LayerKind::linear: return "linear";
    case LayerKind::dropout: return "dropout";
  }
  return "?";
}

std::string describe(const Layer& l) {
  std::string s = layer_kind_name(l.kind);
  if (!l.name.empty()) s += " " + l.name;
  auto num = [](int v) { return std::to_string(v); };
  switch (l.kind) {
    case LayerKind::conv2d:
      s += " " + num(l.in_channels) + "->" + num(l.out_channels) + " k" + num(l.kernel) + " s" +
           num(l.stride) + " p" + num(l.padding) + " d" + num(l.dilation) + " g" + num(l.groups);
      break;
    case LayerKind::batch_norm2d: s += " " + num(l.features); break;
    case LayerKind::max_pool2d: s += " k" + num(l.kernel) + " s" + num(l.stride); break;
    case LayerKind::linear: s += " " + num(l.in_features) + "->" + num(l.out_features); break;
    case LayerKind::dropout: s += " p=" + std::to_string(l.p).substr(0, 4); break;
    default: break;
  }
  return s;
}

std::vector<Shape> infer_shapes(const Architecture& arch) {
  auto fail = [&](size_t i, const std::string& why) { throw Error(where(arch, i) + ": " + why); };
  if (arch.layers.empty()) throw Error("architecture '" + arch.name + "' has no layers");
  if (arch.layers.size() > size_t(kMaxLayers)) throw Error("architecture '" + arch.name + "' has too many layers");
  if (arch.input.c < 1 || arch.input.h < 1 || arch.input.w < 1 || arch.input.c > kMaxChannels ||
      arch.input.h > kMaxSide || arch.input.w > kMaxSide)
    throw Error("architecture '" + arch.name + "' has an invalid input shape");
  std::vector<Shape> shapes;
  Shape s = arch.input;
  int64_t params = 0;
  for (size_t i = 0; i < arch.layers.size(); ++i) {
    const Layer& l = arch.layers[i];
    switch (l.kind) {
      case LayerKind::conv2d: {
        if (l.in_channels != s.c)
          fail(i, "expects " + std::to_string(l.in_channels) + " input channels but receives " + std::to_string(s.c));
        if (l.out_channels < 1 || l.out_channels > kMaxChannels) fail(i, "output channels out of range");
        if (l.kernel < 1 || l.kernel > kMaxKernel) fail(i, "kernel size out of range");
        if (l.stride < 1 || l.stride > kMaxKernel || l.padding < 0 || l.padding > kMaxKernel ||
            l.dilation < 1 || l.dilation > kMaxKernel)
          fail(i, "stride, padding or dilation out of range");
        if (l.groups < 1 || l.in_channels % l.groups != 0 || l.out_channels % l.groups != 0)
          fail(i, "groups must divide both channel counts");
        const int span = l.dilation * (l.kernel - 1) + 1;
        const int oh = (s.h + 2 * l.padding - span) / l.stride + 1;
        const int ow = (s.w + 2 * l.padding - span) / l.stride + 1;
        if (s.h + 2 * l.padding < span || s.w + 2 * l.padding < span || oh < 1 || ow < 1)
          fail(i, "kernel (span " + std::to_string(span) + ") is larger than its padded " +
                      std::to_string(s.h) + "x" + std::to_string(s.w) + " input");
        params += int64_t(l.out_channels) * (l.in_channels / l.groups) * l.kernel * l.kernel;
        s = Shape{l.out_channels, oh, ow};
        break;
      }
      case LayerKind::batch_norm2d:
        if (l.features != s.c) fail(i, "expects " + std::to_string(l.features) + " channels but receives " + std::to_string(s.c));
        if (!(l.eps > 0.f && l.eps < 1.f)) fail(i, "eps must be in (0, 1)");
        break;
      case LayerKind::relu:
      case LayerKind::dropout:
        if (l.kind == LayerKind::dropout && !(l.p >= 0.f && l.p < 1.f)) fail(i, "dropout p must be in [0, 1)");
        break;
      case LayerKind::max_pool2d: {
        if (l.kernel < 1 || l.kernel > kMaxKernel || l.stride < 1 || l.stride > kMaxKernel) fail(i, "pool size out of range");
        if (s.h < l.kernel || s.w < l.kernel)
          fail(i, "pool window " + std::to_string(l.kernel) + " is larger than its " + std::to_string(s.h) + "x" +
                      std::to_string(s.w) + " input");
        s = Shape{s.c, (s.h - l.kernel) / l.stride + 1, (s.w - l.kernel) / l.stride + 1};
        break;
      }
      case LayerKind::global_avg_pool: s = Shape{s.c, 1, 1}; break;
      case LayerKind::flatten:
        if (s.size() > kMaxFeatures) fail(i, "flattened size too large");
        s = Shape{int(s.size()), 1, 1};
        break;
      case LayerKind::linear:
        if (s.h != 1 || s.w != 1) fail(i, "linear layer needs a flattened input (add flatten or global_avg_pool)");
        if (l.in_features != s.c)
          fail(i, "expects " + std::to_string(l.in_features) + " input features but receives " + std::to_string(s.c));
        if (l.out_features < 1 || l.out_features > kMaxFeatures) fail(i, "output features out of range");
        params += int64_t(l.in_features) * l.out_features;
        s = Shape{l.out_features, 1, 1};
        break;
    }
    if (params > kMaxParameters) fail(i, "model exceeds the parameter limit");
    shapes.push_back(s);
  }
  if (!(s.c == arch.num_classes && s.h == 1 && s.w == 1))
    throw Error("architecture '" + arch.name + "' ends with shape " + std::to_string(s.c) + "x" +
                std::to_string(s.h) + "x" + std::to_string(s.w) + ", expected " + std::to_string(arch.num_classes) +
                " class scores");
  return shapes;
}

std::vector<ParameterSpec> parameter_specs(const Architecture& arch) {
  std::vector<ParameterSpec> specs;
  for (const Layer& l : arch.layers) {
    switch (l.kind) {
      case LayerKind::conv2d:
        specs.push_back({l.name + ".weight", {l.out_channels, l.in_channels / l.groups, l.kernel, l.kernel}});
        if (l.bias) specs.push_back({l.name + ".bias", {l.out_channels}});
        break;
      case LayerKind::batch_norm2d:
        specs.push_back({l.name + ".weight", {l.features}});
        specs.push_back({l.name + ".bias", {l.features}});
        specs.push_back({l.name + ".running_mean", {l.features}, false});
        specs.push_back({l.name + ".running_var", {l.features}, false});
        break;
      case LayerKind::linear:
        specs.push_back({l.name + ".weight", {l.out_features, l.in_features}});
        if (l.bias) specs.push_back({l.name + ".bias", {l.out_features}});
        break;
      default: break;
    }
  }
  return specs;
}

int64_t parameter_count(const Architecture& arch) {
  int64_t n = 0;
  for (const ParameterSpec& p : parameter_specs(arch))
    if (p.trainable) n += p.numel();
  return n;
}

int64_t multiply_adds(const Architecture& arch) {
  const std::vector<Shape> shapes = infer_shapes(arch);
  int64_t macs = 0;
  for (size_t i = 0; i < arch.layers.size(); ++i) {
    const Layer& l = arch.layers[i];
    if (l.kind == LayerKind::conv2d)
      macs += shapes[i].size() * (l.in_channels / l.groups) * l.kernel * l.kernel;
    else if (l.kind == LayerKind::linear)
      macs += int64_t(l.in_features) * l.out_features;
  }
  return macs;
}

// ---- builders

Layer conv2d(const std::string& name, int in, int out, int kernel, int padding, int stride, int dilation,
             int groups, bool bias) {
  Layer l;
  l.kind = LayerKind::conv2d;
  l.name = name;
  l.in_channels = in;
  l.out_channels = out;
  l.kernel = kernel;
  l.padding = padding;
  l.stride = stride;
  l.dilation = dilation;
  l.groups = groups;
  l.bias = bias;
  return l;
}

Layer batch_norm2d(const std::string& name, int features) {
  Layer l;
  l.kind = LayerKind::batch_norm2d;
  l.name = name;
  l.features = features;
  return l;
}

Layer linear(const std::string& name, int in, int out) {
  Layer l;
  l.kind = LayerKind::linear;
  l.name = name;
  l.in_features = in;
  l.out_features = out;
  return l;
}

Layer relu() { return Layer{}; }

Layer max_pool2d(int kernel) {
  Layer l;
  l.kind = LayerKind::max_pool2d;
  l.kernel = kernel;
  l.stride = kernel;
  return l;
}

Layer global_avg_pool() {
  Layer l;
  l.kind = LayerKind::global_avg_pool;
  return l;
}

Layer flatten() {
  Layer l;
  l.kind = LayerKind::flatten;
  return l;
}

Layer dropout(float p) {
  Layer l;
  l.kind = LayerKind::dropout;
  l.p = p;
  return l;
}

std::vector<Layer> separable_conv2d(const std::string& name, int in, int out, int kernel, int padding, int dilation) {
  return {conv2d(name + ".depthwise", in, in, kernel, padding, 1, dilation, /*groups=*/in),
          conv2d(name + ".pointwise", in, out, 1)};
}

// ---- JSON

namespace {

using nlohmann::json;

LayerKind kind_from_name(const std::string& s) {
  for (LayerKind k : {LayerKind::conv2d, LayerKind::batch_norm2d, LayerKind::relu, LayerKind::max_pool2d,
                      LayerKind::global_avg_pool, LayerKind::flatten, LayerKind::linear, LayerKind::dropout})
    if (s == layer_kind_name(k)) return k;
  throw Error("unknown layer type '" + s.substr(0, 40) + "'");
}

int get_int(const json& j, const char* key, int lo, int hi, int fallback, bool required) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) throw Error(std::string("missing field '") + key + "'");
    return fallback;
  }
  if (!it->is_number_integer()) throw Error(std::string("field '") + key + "' must be an integer");
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    throw Error(std::string("field '") + key + "' = " + std::to_string(v) + " is outside [" + std::to_string(lo) +
                ", " + std::to_string(hi) + "]");
  return int(v);
}

float get_float(const json& j, const char* key, float fallback) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_number()) throw Error(std::string("field '") + key + "' must be a number");
  return it->get<float>();
}

bool get_bool(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_boolean()) throw Error(std::string("field '") + key + "' must be true or false");
  return it->get<bool>();
}

std::string get_name(const json& j) {
  auto it = j.find("name");
  if (it == j.end() || !it->is_string()) throw Error("missing string field 'name'");
  const std::string s = it->get<std::string>();
  if (s.empty() || s.size() > 64) throw Error("layer name must have 1 to 64 characters");
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
      throw Error("layer name '" + s + "' may only hold letters, digits, '_' and '.'");
  return s;
}

}  // namespace

std::string architecture_to_json(const Architecture& arch) {
  json layers = json::array();
  for (const Layer& l : arch.layers) {
    json j;
    j["type"] = layer_kind_name(l.kind);
    if (!l.name.empty()) j["name"] = l.name;
    switch (l.kind) {
      case LayerKind::conv2d:
        j["in"] = l.in_channels; j["out"] = l.out_channels; j["kernel"] = l.kernel; j["stride"] = l.stride;
        j["padding"] = l.padding; j["dilation"] = l.dilation; j["groups"] = l.groups; j["bias"] = l.bias;
        break;
      case LayerKind::batch_norm2d: j["features"] = l.features; j["eps"] = l.eps; break;
      case LayerKind::max_pool2d: j["kernel"] = l.kernel; j["stride"] = l.stride; break;
      case LayerKind::linear: j["in"] = l.in_features; j["out"] = l.out_features; j["bias"] = l.bias; break;
      case LayerKind::dropout: j["p"] = l.p; break;
      default: break;
    }
    layers.push_back(j);
  }
  json root;
  root["name"] = arch.name;
  if (!arch.description.empty()) root["description"] = arch.description;
  root["input"] = {arch.input.c, arch.input.h, arch.input.w};
  root["classes"] = arch.num_classes;
  root["layers"] = layers;
  return root.dump();
}

Architecture architecture_from_json(const std::string& text) {
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) throw Error("architecture is not valid JSON");
  if (!root.is_object()) throw Error("architecture JSON must be an object");
  Architecture arch;
  try {
    auto name = root.find("name");
    if (name == root.end() || !name->is_string()) throw Error("missing string field 'name'");
    arch.name = name->get<std::string>().substr(0, 64);
    auto desc = root.find("description");
    if (desc != root.end() && desc->is_string()) arch.description = desc->get<std::string>().substr(0, 512);
    auto input = root.find("input");
    if (input == root.end() || !input->is_array() || input->size() != 3) throw Error("'input' must be [c, h, w]");
    for (const json& v : *input)
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxSide)
        throw Error("'input' entries must be integers in [1, 1024]");
    arch.input = Shape{(*input)[0].get<int>(), (*input)[1].get<int>(), (*input)[2].get<int>()};
    arch.num_classes = get_int(root, "classes", 1, kMaxFeatures, 10, false);
    auto layers = root.find("layers");
    if (layers == root.end() || !layers->is_array()) throw Error("missing array field 'layers'");
    if (layers->size() > size_t(kMaxLayers)) throw Error("too many layers");
    for (size_t i = 0; i < layers->size(); ++i) {
      const json& j = (*layers)[i];
      try {
        if (!j.is_object()) throw Error("must be an object");
        auto type = j.find("type");
        if (type == j.end() || !type->is_string()) throw Error("missing string field 'type'");
        Layer l;
        l.kind = kind_from_name(type->get<std::string>());
        switch (l.kind) {
          case LayerKind::conv2d:
            l.name = get_name(j);
            l.in_channels = get_int(j, "in", 1, kMaxChannels, 0, true);
            l.out_channels = get_int(j, "out", 1, kMaxChannels, 0, true);
            l.kernel = get_int(j, "kernel", 1, kMaxKernel, 0, true);
            l.stride = get_int(j, "stride", 1, kMaxKernel, 1, false);
            l.padding = get_int(j, "padding", 0, kMaxKernel, 0, false);
            l.dilation = get_int(j, "dilation", 1, kMaxKernel, 1, false);
            l.groups = get_int(j, "groups", 1, kMaxChannels, 1, false);
            l.bias = get_bool(j, "bias", true);
            break;
          case LayerKind::batch_norm2d:
            l.name = get_name(j);
            l.features = get_int(j, "features", 1, kMaxChannels, 0, true);
            l.eps = get_float(j, "eps", 1e-5f);
            break;
          case LayerKind::max_pool2d:
            l.kernel = get_int(j, "kernel", 1, kMaxKernel, 0, true);
            l.stride = get_int(j, "stride", 1, kMaxKernel, l.kernel, false);
            break;
          case LayerKind::linear:
            l.name = get_name(j);
            l.in_features = get_int(j, "in", 1, kMaxFeatures, 0, true);
            l.out_features = get_int(j, "out", 1, kMaxFeatures, 0, true);
            l.bias = get_bool(j, "bias", true);
            break;
          case LayerKind::dropout: l.p = get_float(j, "p", 0.f); break;
          default: break;
        }
        arch.layers.push_back(l);
      } catch (const Error& e) {
        throw Error("layer " + std::to_string(i) + ": " + e.what());
      }
    }
  } catch (const json::exception& e) {
    throw Error(std::string("malformed architecture: ") + e.what());
  } catch (const Error& e) {
    throw Error(std::string("malformed architecture: ") + e.what());
  }
  infer_shapes(arch);  // rejects inconsistent layer chains with a message naming the layer
  std::vector<std::string> seen;
  for (const ParameterSpec& p : parameter_specs(arch)) {
    for (const std::string& s : seen)
      if (s == p.name) throw Error("malformed architecture: parameter name '" + p.name + "' is used twice");
    seen.push_back(p.name);
  }
  return arch;
}

}  // namespace digitlab
