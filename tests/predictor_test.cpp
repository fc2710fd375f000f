// The Predictor (wasm/engine/predictor.h): live prediction on whichever of direct f32, Winograd and
// int8 it measured fastest. Whatever it picks, a person sees the same answers; a fine-tuned copy
// predicts at once and gets its faster paths a piece at a time. Runs natively and under node.
#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"
#include "predictor.h"
#include "xnn_engine.h"
#include "test_support.h"

namespace digitlab {
namespace {

const std::string kModels = std::string(DIGITLAB_SOURCE_DIR) + "/models";

struct Digits {
  Dataset set = load_dataset(kModels + "/mnist-replay-1000-images.idx.gz", kModels + "/mnist-replay-1000-labels.idx.gz");
  std::vector<float> pixels = dataset_pixels(set, 0, set.size());
  const float* image(size_t i) const { return pixels.data() + i * 784; }
};

// Top-1 answers on the path in use, for n digits, and how many match the reference forward pass.
int agreements_with_reference(Predictor& p, const Model& m, const Digits& d, int n) {
  int same = 0;
  std::vector<float> probs(10);
  for (int i = 0; i < n; ++i) {
    p.predict(d.image(size_t(i)), probs.data());
    const std::vector<float> ref = reference_forward(m, d.image(size_t(i)), 1);
    same += argmax(probs.data(), 10) == argmax(ref.data(), 10);
  }
  return same;
}

// The page's setup: the shipped model, calibrated on the first replay digits.
struct Shipped {
  Digits d;
  Model m = load_model_file(kModels + "/digitlab-cnn.safetensors");
  Predictor p{dataset_pixels(d.set, 0, Predictor::kCalibrationImages)};
};

TEST(Predictor, MeasuresEveryPathAndAnswersAsTheReferenceDoes) {
  Shipped s;
  const Digits& d = s.d;
  const Model& m = s.m;
  Predictor& p = s.p;
  EXPECT_ERROR_CONTAINS(p.predict(d.image(0), std::vector<float>(10).data()), "no model");
  p.load(m, Predictor::Choice::measure);
  EXPECT_TRUE(p.has(InferencePath::f32));
  EXPECT_TRUE(p.has(InferencePath::winograd));
  EXPECT_TRUE(p.has(InferencePath::int8));
  EXPECT_FALSE(p.pending());
  EXPECT_EQ(p.num_classes(), 10);
  std::printf("[ predictor ] digitlab-cnn: f32 %.0f us, Winograd %.0f us, int8 %.0f us -> %s\n", p.timings().f32_us,
              p.timings().winograd_us, p.timings().int8_us, inference_path_name(p.path()));
  EXPECT_TRUE(p.has(p.path()));
  EXPECT_EQ(p.path(), p.preferred());
  // Whichever path won, the answers are the reference's (int8 may differ on a rare borderline digit).
  EXPECT_GE(agreements_with_reference(p, m, d, 300), 299);
  std::vector<float> probs(10);
  p.predict(d.image(0), probs.data());
  float sum = 0;
  for (float v : probs) sum += v;
  EXPECT_NEAR(sum, 1.f, 1e-5);
}

TEST(Predictor, AFineTunedCopyPredictsAtOnceAndGetsTheChosenPathAPieceAtATime) {
  Shipped s;
  const Digits& d = s.d;
  const Model& m = s.m;
  Predictor& p = s.p;
  p.load(m, Predictor::Choice::measure);
  const InferencePath verdict = p.preferred();  // timed, so any of the three
  p.load(fold_batch_norm(m), Predictor::Choice::keep_verdict);  // the same network, as a session returns it
  EXPECT_EQ(p.path(), InferencePath::f32);
  EXPECT_FALSE(p.has(InferencePath::int8));
  EXPECT_FALSE(p.has(InferencePath::winograd));
  EXPECT_EQ(p.pending(), verdict != InferencePath::f32);  // nothing to build when f32 won
  EXPECT_GE(agreements_with_reference(p, m, d, 50), 50);  // predicting meanwhile
  int pieces = 0;
  while (p.advance()) ++pieces;
  // Only the verdict's path is built: the Winograd engine an operator a piece, or int8's calibration
  // slices and then its engine.
  const int winograd_operators = int(XnnEngine(m, XnnEngine::Options{XnnEngine::Convolutions::winograd}).steps().size());
  const int expected = verdict == InferencePath::winograd ? winograd_operators
                       : verdict == InferencePath::int8   ? Predictor::kCalibrationImages / Predictor::kCalibrationSlice + 1
                                                          : 0;
  EXPECT_EQ(pieces, expected) << inference_path_name(verdict);
  EXPECT_FALSE(p.pending());
  EXPECT_EQ(p.path(), verdict);
  EXPECT_TRUE(p.has(verdict));
  for (InferencePath other : {InferencePath::winograd, InferencePath::int8})
    if (other != verdict) EXPECT_FALSE(p.has(other)) << inference_path_name(other);
  EXPECT_GE(agreements_with_reference(p, m, d, 300), 299);
}

TEST(Predictor, WithoutCalibrationDigitsOrAWinogradLayerItPredictsInF32) {
  const Digits d;
  const Model dsconv = init_model(preset("dsconv"), 4);  // no 3x3 dense convolution with >= 8 inputs
  Predictor p;
  p.load(dsconv, Predictor::Choice::measure);
  EXPECT_FALSE(p.has(InferencePath::winograd));
  EXPECT_FALSE(p.has(InferencePath::int8));  // nothing to calibrate on
  EXPECT_EQ(p.path(), InferencePath::f32);
  EXPECT_EQ(agreements_with_reference(p, dsconv, d, 40), 40);
}

TEST(Predictor, AModelItCannotRunChangesNothing) {
  const Digits d;
  const Model good = load_model_file(kModels + "/seed-cnn.safetensors");
  Predictor p;
  p.load(good, Predictor::Choice::measure);
  Model bad = good;
  bad.params.erase("fc2.bias");
  EXPECT_ERROR_CONTAINS(p.load(bad, Predictor::Choice::measure), "fc2.bias");
  EXPECT_GE(agreements_with_reference(p, good, d, 40), 40);  // still the good model
}

}  // namespace
}  // namespace digitlab
