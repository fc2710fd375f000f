// The int8 inference path against the f32 engine: on all 10,000 MNIST test digits the shipped models'
// predictions agree on >= 99.9% and accuracy moves by <= 0.1 point (calibrated, as in the page, on
// 256 of the shipped replay digits); every preset runs with logits close to f32; the plan keeps the
// one-channel first convolution in f32. Native and under node.
#include <cmath>
#include <cstdio>

#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"
#include "test_support.h"
#include "xnn_engine.h"
#include "xnn_int8_engine.h"

namespace digitlab {
namespace {

const std::string kModels = std::string(DIGITLAB_SOURCE_DIR) + "/models";

std::vector<float> pixels_of(const Dataset& d) {
  std::vector<float> p(d.images.size());
  for (size_t i = 0; i < p.size(); ++i) p[i] = float(d.images[i]) / 255.f;
  return p;
}

Dataset replay_digits() {
  return load_dataset(kModels + "/mnist-replay-1000-images.idx.gz", kModels + "/mnist-replay-1000-labels.idx.gz");
}

template <typename Engine>
std::vector<int> predictions(Engine& e, const std::vector<float>& pixels, size_t n) {
  std::vector<int> out;
  std::vector<float> logits(64 * 10);
  for (size_t b = 0; b < n; b += 64) {
    const int k = int(std::min<size_t>(64, n - b));
    e.forward(pixels.data() + b * 784, k, logits.data());
    for (int i = 0; i < k; ++i) out.push_back(int(std::max_element(&logits[size_t(i) * 10], &logits[size_t(i) * 10] + 10) - &logits[size_t(i) * 10]));
  }
  return out;
}

TEST(XnnInt8Engine, ShippedModelsAgreeWithF32OnMnistTest) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const Dataset test = load_mnist(dir, MnistSplit::test);
  const std::vector<float> pixels = pixels_of(test), calibration = pixels_of(replay_digits());
  for (const char* name : {"digitlab-cnn", "seed-cnn"}) {
    SCOPED_TRACE(name);
    const Model m = load_model_file(kModels + "/" + name + ".safetensors");
    XnnEngine f32(m);
    XnnInt8Engine int8(m, calibration.data(), 256);  // as the page calibrates
    EXPECT_GE(int8.int8_steps(), 3);
    const std::vector<int> a = predictions(f32, pixels, test.size()), b = predictions(int8, pixels, test.size());
    size_t agree = 0, right_f32 = 0, right_int8 = 0;
    for (size_t i = 0; i < test.size(); ++i) {
      agree += a[i] == b[i];
      right_f32 += a[i] == test.labels[i];
      right_int8 += b[i] == test.labels[i];
    }
    const double n = double(test.size());
    std::printf("%s: int8 agrees with f32 on %zu of %zu; accuracy f32 %.2f%%, int8 %.2f%%\n", name, agree, test.size(),
                100.0 * right_f32 / n, 100.0 * right_int8 / n);
    EXPECT_GE(double(agree) / n, 0.999);
    EXPECT_LE(std::fabs(double(right_int8) - double(right_f32)) / n, 0.001);
  }
}

TEST(XnnInt8Engine, KeepsTheOneChannelConvolutionAndTheLogitsInF32) {
  const Model m = load_model_file(kModels + "/digitlab-cnn.safetensors");
  const std::vector<float> calibration = pixels_of(replay_digits());
  XnnInt8Engine e(m, calibration.data(), 256);
  const std::vector<std::string> plan = e.plan();
  ASSERT_GE(plan.size(), 4u);
  EXPECT_EQ(plan[0], "conv1 f32");
  EXPECT_EQ(plan[2], "quantize to int8");
  EXPECT_EQ(plan[3], "conv2 int8");
  EXPECT_EQ(plan.back(), "fc f32");
}

TEST(XnnInt8Engine, EveryPresetRunsCloseToF32) {
  const std::vector<float> calibration = pixels_of(replay_digits());
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const Model m = init_model(preset(name), 3);
    XnnEngine f32(m);
    XnnInt8Engine int8(m, calibration.data(), 128);
    const std::vector<float> x(calibration.begin() + 500 * 784, calibration.begin() + 532 * 784);
    const std::vector<float> a = f32.forward(x.data(), 32), b = int8.forward(x.data(), 32);
    EXPECT_LE(testing::relative_error(b, a), 0.08) << "int8 logits far from f32";
  }
}

TEST(XnnInt8Engine, RefusesAnEmptyCalibrationSet) {
  const Model m = init_model(preset("seed-cnn"), 1);
  EXPECT_ERROR_CONTAINS(XnnInt8Engine(m, nullptr, 0), "calibration");
}

}  // namespace
}  // namespace digitlab
