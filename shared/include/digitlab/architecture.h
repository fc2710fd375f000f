// Architectures as data: a small layer vocabulary, shape inference, parameter naming and the JSON
// form stored in weight files. Every backend (LibTorch trainer, XNNPACK engine, reference forward)
// builds its network from an Architecture and names its parameters with parameter_specs(), so weight
// files move between them. The named architectures themselves are defined in presets.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace digitlab {

enum class LayerKind { conv2d, batch_norm2d, relu, max_pool2d, global_avg_pool, flatten, linear, dropout };

// One layer. Only the fields used by its kind are meaningful; the rest keep their defaults.
struct Layer {
  LayerKind kind = LayerKind::relu;
  std::string name;  // parameter prefix, e.g. "conv1" owns "conv1.weight"; empty for parameter-free kinds

  // conv2d: weight (out, in/groups, kernel, kernel), bias (out). max_pool2d: kernel, stride.
  int in_channels = 0, out_channels = 0;
  int kernel = 0, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;  // conv2d, linear

  int features = 0;    // batch_norm2d: channel count
  float eps = 1e-5f;   // batch_norm2d

  int in_features = 0, out_features = 0;  // linear: weight (out, in) row-major, bias (out)

  float p = 0.f;  // dropout probability (identity at inference)
};

// Activation shape of one image, PyTorch order (channels, height, width). After flatten, global
// average pooling or a linear layer it is (features, 1, 1).
struct Shape {
  int c = 0, h = 0, w = 0;
  int64_t size() const { return int64_t(c) * h * w; }
  bool operator==(const Shape& o) const { return c == o.c && h == o.h && w == o.w; }
};

struct Architecture {
  std::string name;
  std::string description;
  Shape input{1, 28, 28};
  int num_classes = 10;
  std::vector<Layer> layers;
};

// A named parameter tensor. Running statistics of batch norm are buffers: stored and loaded like
// parameters, but never trained.
struct ParameterSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool trainable = true;
  int64_t numel() const;
};

// Output shape after each layer (same length as arch.layers). Throws Error naming the first layer
// whose input does not fit (channel mismatch, kernel larger than input, linear size mismatch, ...).
std::vector<Shape> infer_shapes(const Architecture& arch);

std::vector<ParameterSpec> parameter_specs(const Architecture& arch);
int64_t parameter_count(const Architecture& arch);  // trainable parameters only
int64_t multiply_adds(const Architecture& arch);     // per image, conv and linear layers

const char* layer_kind_name(LayerKind kind);
std::string describe(const Layer& layer);  // one line, e.g. "conv2d conv1 1->32 k3 s1 p1 d1 g1"

// JSON form stored in weight files. Parsing validates every field and bounds every size so that a
// hostile file cannot ask for absurd allocations; the result also passes infer_shapes().
std::string architecture_to_json(const Architecture& arch);
Architecture architecture_from_json(const std::string& json_text);

// Builders for the presets (presets.cpp) and tests.
Layer conv2d(const std::string& name, int in, int out, int kernel, int padding = 0, int stride = 1,
             int dilation = 1, int groups = 1, bool bias = true);
Layer batch_norm2d(const std::string& name, int features);
Layer linear(const std::string& name, int in, int out);
Layer relu();
Layer max_pool2d(int kernel);
Layer global_avg_pool();
Layer flatten();
Layer dropout(float p);
// Depthwise-separable convolution = depthwise conv (groups = in) + pointwise 1x1 conv, no activation
// between them (as in Keras' SeparableConv2D). Names: "<name>.depthwise", "<name>.pointwise".
std::vector<Layer> separable_conv2d(const std::string& name, int in, int out, int kernel, int padding,
                                    int dilation = 1);

}  // namespace digitlab
