#include "digitlab/presets.h"
#include "digitlab/safetensors.h"

#include "digitlab/error.h"
#include "digitlab/reference.h"
#include "malformed_inputs.h"
#include "test_support.h"

namespace digitlab {
namespace {

using namespace testing;  // random_vector, max_abs_diff, ...

TEST(Safetensors, RoundTripKeepsTensorsAndMetadataExactly) {
  TensorMap t;
  t["a"] = Tensor{{2, 3}, {1, 2, 3, 4, 5, 6}};
  t["b.bias"] = Tensor{{1}, {-0.5f}};
  t["empty"] = Tensor{{0, 4}, {}};
  const std::vector<uint8_t> bytes = encode_safetensors(t, {{"k", "v"}});
  const uint64_t header_len = bytes[0] | (uint64_t(bytes[1]) << 8);
  EXPECT_EQ((8 + header_len) % 8, 0u) << "data section should be 8-byte aligned";
  const SafetensorsContents back = decode_safetensors(bytes.data(), bytes.size());
  ASSERT_EQ(back.tensors.size(), 3u);
  EXPECT_EQ(back.tensors.at("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(back.tensors.at("a").data, t["a"].data);
  EXPECT_EQ(back.tensors.at("b.bias").data, t["b.bias"].data);
  EXPECT_TRUE(back.tensors.at("empty").data.empty());
  EXPECT_EQ(back.metadata.at("k"), "v");
}

// The layout other tools write: a hand-assembled file in the published format must be readable.
TEST(Safetensors, ReadsAHandWrittenFileInThePublishedFormat) {
  const std::string header = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::vector<uint8_t> bytes = testing::with_header(header, 8);
  const float values[2] = {1.5f, -2.25f};
  std::memcpy(bytes.data() + 8 + header.size(), values, 8);
  const SafetensorsContents c = decode_safetensors(bytes.data(), bytes.size());
  EXPECT_EQ(c.tensors.at("w").data, (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(c.metadata.at("format"), "pt");
}

TEST(Safetensors, EveryMalformedFileGivesAClearError) {
  for (const auto& c : testing::malformed_safetensors()) {
    SCOPED_TRACE(c.name);
    EXPECT_ERROR_CONTAINS(decode_safetensors(c.bytes.data(), c.bytes.size()), c.expected_error);
  }
}

TEST(Safetensors, EveryTruncationOfAValidModelIsRejected) {
  const std::vector<uint8_t> good = testing::small_model_bytes();
  for (size_t n = 0; n < good.size(); n += 1 + n / 7) EXPECT_THROW(decode_model(good.data(), n), Error) << n;
}

TEST(ModelFile, ModelsThatDoNotFitTheirArchitectureAreRejected) {
  for (const auto& c : testing::malformed_models()) {
    SCOPED_TRACE(c.name);
    EXPECT_ERROR_CONTAINS(decode_model(c.bytes.data(), c.bytes.size()), c.expected_error);
  }
}

TEST(ModelFile, SaveAndLoadGiveIdenticalOutputsForEveryPreset) {
  const std::vector<float> pixels = random_vector(3 * 784, 11, 0.f, 1.f);
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    Model m = init_model(preset(name), 3);
    m.norm = Normalization{0.2f, 0.25f};
    m.provenance["trained_by"] = "test";
    const std::string path = testing::output_path(name + ".safetensors");
    save_model_file(m, path);
    const Model back = load_model_file(path);
    EXPECT_EQ(back.arch.name, name);
    EXPECT_EQ(back.norm.mean, 0.2f);
    EXPECT_EQ(back.provenance.at("trained_by"), "test");
    EXPECT_EQ(reference_forward(back, pixels.data(), 3), reference_forward(m, pixels.data(), 3));
  }
}

TEST(ModelFile, FailedSaveKeepsTheOldFile) {
  const std::string path = testing::output_path("keep.safetensors");
  Model good = init_model(preset("dsconv"), 1);
  save_model_file(good, path);
  Model bad = good;
  bad.params.at("fc.bias").data[0] = INFINITY;
  EXPECT_ERROR_CONTAINS(save_model_file(bad, path), "non-finite");
  EXPECT_EQ(load_model_file(path).params.at("fc.bias").data, good.params.at("fc.bias").data);
  EXPECT_ERROR_CONTAINS(load_model_file(testing::output_path("missing.safetensors")), "cannot open");
}

TEST(ModelFile, BatchNormFoldingKeepsTheOutputs) {
  Model m = init_model(preset("digitlab-cnn"), 5);
  // Non-trivial statistics, as after training.
  for (auto& [name, t] : m.params) {
    const bool var = name.find("running_var") != std::string::npos;
    if (name.rfind("bn", 0) == 0)
      for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = var ? 0.5f + 0.1f * float(i % 7) : 0.1f * float(i % 5) - 0.2f;
  }
  const Model folded = fold_batch_norm(m);
  for (const Layer& l : folded.arch.layers) EXPECT_NE(l.kind, LayerKind::batch_norm2d);
  EXPECT_NO_THROW(validate_parameters(folded.arch, folded.params));
  const std::vector<float> pixels = random_vector(2 * 784, 3, 0.f, 1.f);
  EXPECT_LT(max_abs_diff(reference_forward(folded, pixels.data(), 2), reference_forward(m, pixels.data(), 2)), 1e-4f);
}

}  // namespace
}  // namespace digitlab
