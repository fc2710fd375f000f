#include "digitlab/architecture.h"

#include "digitlab/error.h"
#include "digitlab/presets.h"
#include "test_support.h"

namespace digitlab {
namespace {

// Parameter counts of the source articles' models, as PyTorch / Keras print them.
TEST(Architecture, PresetParameterCountsMatchTheSourceArticles) {
  EXPECT_EQ(parameter_count(preset("seed-cnn")), 421642);
  EXPECT_EQ(parameter_count(preset("dropout-cnn")), 1199882);  // pytorch/examples mnist: 1,199,882
  EXPECT_EQ(parameter_count(preset("keras-cnn")), 93322);      // TensorFlow CNN tutorial: 93,322
  EXPECT_EQ(parameter_count(preset("dsconv")), 13546);
  EXPECT_EQ(parameter_count(preset("digitlab-cnn")), 186538);
}

TEST(Architecture, SeedCnnShapesAndMultiplyAdds) {
  const Architecture a = preset("seed-cnn");
  const std::vector<Shape> s = infer_shapes(a);
  ASSERT_EQ(s.size(), a.layers.size());
  EXPECT_EQ(s[0], (Shape{32, 28, 28}));
  EXPECT_EQ(s[2], (Shape{32, 14, 14}));
  EXPECT_EQ(s[5], (Shape{64, 7, 7}));
  EXPECT_EQ(s[6], (Shape{3136, 1, 1}));
  EXPECT_EQ(s.back(), (Shape{10, 1, 1}));
  EXPECT_EQ(multiply_adds(a), 4241152);  // 28*28*32*9 + 14*14*64*288 + 3136*128 + 128*10
}

TEST(Architecture, ValidPaddingPresetsShrinkAsInTheArticles) {
  EXPECT_EQ(infer_shapes(preset("dropout-cnn"))[4], (Shape{64, 12, 12}));  // 9216 features
  const auto keras = infer_shapes(preset("keras-cnn"));
  EXPECT_EQ(keras[6], (Shape{64, 3, 3}));  // 576 features
}

TEST(Architecture, DsconvUsesDepthwiseAndDilation) {
  const Architecture a = preset("dsconv");
  int depthwise = 0, dilated = 0;
  for (const Layer& l : a.layers)
    if (l.kind == LayerKind::conv2d) {
      depthwise += l.groups == l.in_channels && l.groups > 1;
      dilated += l.dilation > 1;
    }
  EXPECT_EQ(depthwise, 3);
  EXPECT_EQ(dilated, 1);
  EXPECT_EQ(infer_shapes(a).back(), (Shape{10, 1, 1}));
}

TEST(Architecture, ParameterNamesFollowPyTorch) {
  const std::vector<ParameterSpec> specs = parameter_specs(preset("seed-cnn"));
  ASSERT_EQ(specs.size(), 8u);
  EXPECT_EQ(specs[0].name, "conv1.weight");
  EXPECT_EQ(specs[0].shape, (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(specs[5].name, "fc1.bias");
  EXPECT_EQ(specs[6].shape, (std::vector<int64_t>{10, 128}));
  const auto bn = parameter_specs(preset("digitlab-cnn"));
  EXPECT_EQ(bn[1].name, "bn1.weight");
  EXPECT_EQ(bn[3].name, "bn1.running_mean");
  EXPECT_FALSE(bn[3].trainable);
}

TEST(Architecture, EveryPresetSurvivesAJsonRoundTrip) {
  for (const std::string& name : preset_names()) {
    const Architecture a = preset(name);
    const Architecture b = architecture_from_json(architecture_to_json(a));
    EXPECT_EQ(architecture_to_json(b), architecture_to_json(a)) << name;
    EXPECT_EQ(parameter_count(b), parameter_count(a)) << name;
  }
}

TEST(Architecture, UnknownPresetListsTheKnownOnes) {
  EXPECT_ERROR_CONTAINS(preset("lenet"), "known: seed-cnn");
}

TEST(Architecture, InconsistentLayerChainsAreRejectedWithTheLayerNamed) {
  Architecture a = preset("seed-cnn");
  a.layers[3].in_channels = 16;  // conv2 expects 16 channels but receives 32
  EXPECT_ERROR_CONTAINS(infer_shapes(a), "layer 3 (conv2d conv2");
  a = preset("seed-cnn");
  a.layers[7].in_features = 3000;
  EXPECT_ERROR_CONTAINS(infer_shapes(a), "expects 3000 input features but receives 3136");
  a = preset("seed-cnn");
  a.layers.erase(a.layers.begin() + 6);  // no flatten before the linear layer
  EXPECT_ERROR_CONTAINS(infer_shapes(a), "needs a flattened input");
  a = preset("seed-cnn");
  a.layers.pop_back();
  EXPECT_ERROR_CONTAINS(infer_shapes(a), "expected 10 class scores");
  a = preset("keras-cnn");
  a.input = Shape{1, 8, 8};
  EXPECT_ERROR_CONTAINS(infer_shapes(a), "larger than");
}

TEST(Architecture, HostileJsonIsRejectedClearly) {
  const std::string good = architecture_to_json(preset("seed-cnn"));
  EXPECT_ERROR_CONTAINS(architecture_from_json("{"), "not valid JSON");
  EXPECT_ERROR_CONTAINS(architecture_from_json("[]"), "must be an object");
  EXPECT_ERROR_CONTAINS(architecture_from_json(R"({"name":"x","input":[1,28,28],"layers":[{"type":"softmax"}]})"),
                        "unknown layer type 'softmax'");
  EXPECT_ERROR_CONTAINS(
      architecture_from_json(R"({"name":"x","input":[1,28,28],"layers":[{"type":"conv2d","name":"c","in":1,"out":999999,"kernel":3}]})"),
      "outside [1, 4096]");
  EXPECT_ERROR_CONTAINS(
      architecture_from_json(R"({"name":"x","input":[1,28,28],"layers":[{"type":"conv2d","name":"c","in":1,"out":8,"kernel":"3"}]})"),
      "must be an integer");
  EXPECT_ERROR_CONTAINS(
      architecture_from_json(R"({"name":"x","input":[1,28,28],"layers":[{"type":"linear","name":"../x","in":784,"out":10}]})"),
      "may only hold");
  // Two layers sharing a name would make two tensors with one name.
  EXPECT_ERROR_CONTAINS(architecture_from_json(
                            R"({"name":"x","input":[1,28,28],"layers":[{"type":"flatten"},
                            {"type":"linear","name":"fc","in":784,"out":10},{"type":"linear","name":"fc","in":10,"out":10}]})"),
                        "used twice");
  // An enormous dense layer is refused before anything is allocated.
  EXPECT_ERROR_CONTAINS(architecture_from_json(
                            R"({"name":"x","input":[1,1024,1024],"layers":[{"type":"flatten"},
                            {"type":"linear","name":"fc","in":1048576,"out":1048576}]})"),
                        "parameter limit");
  EXPECT_NO_THROW(architecture_from_json(good));
}

}  // namespace
}  // namespace digitlab
