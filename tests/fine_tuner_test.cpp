// Fine-tuning in the engine (native and wasm): on ~60 digits written in one consistent unusual style,
// the shipped model gets much better at that style and stays as good on ordinary MNIST digits.
#include <cmath>
#include <set>

#include "digitlab/presets.h"
#include "digitlab/safetensors.h"
#include "fine_tune/messages.h"
#include "fine_tuner.h"
#include "test_support.h"

namespace digitlab {
namespace {

const std::string kModels = std::string(DIGITLAB_SOURCE_DIR) + "/models";
const std::string kShipped = kModels + "/digitlab-cnn.safetensors";
const std::string kReplayImages = kModels + "/mnist-replay-1000-images.idx.gz", kReplayLabels = kModels + "/mnist-replay-1000-labels.idx.gz";
const std::string kProbeImages = kModels + "/mnist-test-500-images.idx.gz", kProbeLabels = kModels + "/mnist-test-500-labels.idx.gz";

// The "style": strokes thickened by a 3x3 dilation, then the digit rotated 30 degrees about its centre.
Dataset styled(const Dataset& src, size_t first, size_t count) {
  Dataset d;
  const int side = 28;
  for (size_t i = first; i < first + count; ++i) {
    const uint8_t* img = src.image(i);
    std::vector<float> thick(side * side);
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        uint8_t m = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            const int yy = y + dy, xx = x + dx;
            if (yy >= 0 && xx >= 0 && yy < side && xx < side) m = std::max(m, img[yy * side + xx]);
          }
        thick[size_t(y * side + x)] = m;
      }
    const float a = 30.f * 3.14159265f / 180.f, c = std::cos(a), s = std::sin(a), mid = 13.5f;
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        // inverse rotation: where in the thick image does output (x, y) come from
        const float sx = c * (x - mid) + s * (y - mid) + mid, sy = -s * (x - mid) + c * (y - mid) + mid;
        const int x0 = int(std::floor(sx)), y0 = int(std::floor(sy));
        const float fx = sx - x0, fy = sy - y0;
        auto at = [&](int xx, int yy) { return xx >= 0 && yy >= 0 && xx < side && yy < side ? thick[size_t(yy * side + xx)] : 0.f; };
        const float v = (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
        d.images.push_back(uint8_t(std::lround(std::min(255.f, v))));
      }
    d.labels.push_back(src.labels[i]);
  }
  return d;
}

// The digit the model reads in each image, as the page's f32 inference reads it.
std::vector<uint8_t> engine_reads(const Model& m, const Dataset& d) {
  XnnEngine engine(m);
  std::vector<uint8_t> reads;
  std::vector<float> pixels(64 * 784), logits(64 * 10);
  for (size_t b = 0; b < d.size(); b += 64) {
    const int n = int(std::min<size_t>(64, d.size() - b));
    for (size_t p = 0; p < size_t(n) * 784; ++p) pixels[p] = d.images[b * 784 + p] / 255.f;
    engine.forward(pixels.data(), n, logits.data());
    for (int i = 0; i < n; ++i) reads.push_back(uint8_t(argmax(&logits[size_t(i) * 10], 10)));
  }
  return reads;
}

double engine_accuracy(const Model& m, const Dataset& d) {
  const std::vector<uint8_t> reads = engine_reads(m, d);
  size_t right = 0;
  for (size_t i = 0; i < d.size(); ++i) right += reads[i] == d.labels[i];
  return double(right) / double(d.size());
}

// trainable: last-block (the page's stronger choice) or all (every layer).
void learns_a_consistent_style(TrainableLayers trainable) {
  DIGITLAB_REQUIRE_MNIST(dir);
  if (!file_exists(kShipped)) GTEST_SKIP() << "no shipped model at " << kShipped;
  const Model base = load_model_file(kShipped);
  const Dataset train = load_mnist(dir, MnistSplit::train), test = load_mnist(dir, MnistSplit::test);
  const Dataset samples = styled(test, 5000, 60);       // what a person labels in the page
  const Dataset style_test = styled(test, 6000, 500);   // more digits in that style, never trained on
  const Dataset plain_test = test.slice(0, 2000);
  const Dataset replay = train.slice(0, 1000);

  FineTuneConfig config;
  config.holdout = 0.f;
  config.trainable = trainable;
  FineTuner tuner(base, replay, Dataset{}, config);
  tuner.start(samples);
  while (tuner.status().busy()) tuner.run(25);
  ASSERT_EQ(tuner.status().state, FineTuneStatus::State::done) << tuner.status().message;
  EXPECT_EQ(tuner.status().epoch, config.epochs);
  EXPECT_LT(tuner.status().loss_history.back(), tuner.status().loss_history.front());

  const Model tuned = tuner.tuned_model();
  const double style_before = engine_accuracy(base, style_test), style_after = engine_accuracy(tuned, style_test);
  const double plain_before = engine_accuracy(base, plain_test), plain_after = engine_accuracy(tuned, plain_test);
  std::printf("%s: styled digits: %.3f -> %.3f; plain MNIST test: %.4f -> %.4f\n", trainable_layers_name(trainable), style_before, style_after,
              plain_before, plain_after);
  EXPECT_LE(1 - style_after, 0.7 * (1 - style_before));  // at least 30% fewer errors on the person's style
  EXPECT_GE(plain_after, plain_before - 0.01);  // within one point on ordinary digits
  // What the gallery marks: the digit the result reads in each sample, as the page's inference reads
  // it, and the shares read right before and after.
  const FineTuneStatus& s = tuner.status();
  EXPECT_EQ(s.sample_predictions, engine_reads(tuned, samples));
  // Before: the session scores with the base model batch norm folded, this engine unfolded (a sample
  // on the edge may round the other way).
  EXPECT_NEAR(s.samples_before, engine_accuracy(base, samples), 1.5 / 60);
  EXPECT_DOUBLE_EQ(s.samples_after, engine_accuracy(tuned, samples));
  // The style is learnt: at least half the misread samples are read right now.
  EXPECT_LE(1 - s.samples_after, 0.5 * (1 - s.samples_before));
  EXPECT_EQ(s.work_done, s.work_total);  // the scoring is part of the progress bar
  // The exported model is a valid weight file carrying its provenance.
  const std::vector<uint8_t> bytes = encode_model(tuned);
  const Model back = decode_model(bytes.data(), bytes.size());
  EXPECT_EQ(back.provenance.at("finetune_samples"), "60");
  EXPECT_EQ(back.params.at("fc.weight").data, tuned.params.at("fc.weight").data);
}

TEST(FineTuner, LearnsAConsistentStyleWithoutForgettingMnist) { learns_a_consistent_style(TrainableLayers::last_block); }
TEST(FineTuner, TrainingEveryLayerLearnsTheStyleToo) { learns_a_consistent_style(TrainableLayers::all); }

TEST(FineTuner, HeldOutAccuracyIsMeasuredBeforeAndAfter) {
  const Model base = init_model(preset("dsconv"), 3);
  Dataset samples;
  for (int i = 0; i < 20; ++i) {
    std::vector<uint8_t> img(784, 0);
    for (int p = 0; p < 784; ++p) img[size_t(p)] = uint8_t((p * (i % 10 + 3)) % 251);
    samples.images.insert(samples.images.end(), img.begin(), img.end());
    samples.labels.push_back(uint8_t(i % 10));
  }
  FineTuneConfig config;
  config.epochs = 3;
  config.patience = 0;  // every planned step runs
  FineTuner tuner(base, Dataset{}, Dataset{}, config);
  tuner.start(samples);
  EXPECT_EQ(tuner.status().train_samples, 16);
  EXPECT_EQ(tuner.status().heldout_samples, 4);
  EXPECT_EQ(tuner.status().total_steps, 3 * 3);  // 16 samples x 5 shifted copies = 80 = 3 batches of 32
  tuner.run(4);
  EXPECT_EQ(tuner.status().step, 4);
  EXPECT_EQ(tuner.status().state, FineTuneStatus::State::running);
  tuner.run(1000);
  EXPECT_EQ(tuner.status().state, FineTuneStatus::State::done);
  EXPECT_EQ(tuner.status().ending, FineTuneStatus::Ending::budget);
  EXPECT_FALSE(std::isnan(tuner.status().heldout_after));
  EXPECT_TRUE(std::isnan(tuner.status().mnist_after));  // no probe digits given
  EXPECT_EQ(tuner.status().heldout_history.size(), tuner.status().loss_history.size());
}

// The page's schedule: 20 samples and 5,000 samples both end within the step budget, and the
// bigger set is not trained for 20 epochs.
TEST(FineTuner, TheStepBudgetBoundsASessionWhateverTheSampleCount) {
  const Model base = load_model_file(kShipped);
  const Dataset replay = load_dataset(kReplayImages, kReplayLabels);
  Dataset many;
  for (int k = 0; k < 5; ++k) {  // 5,000 samples, the replay digits five times
    many.images.insert(many.images.end(), replay.images.begin(), replay.images.end());
    many.labels.insert(many.labels.end(), replay.labels.begin(), replay.labels.end());
  }
  for (size_t n : {size_t(20), size_t(5000)}) {
    const FineTuneConfig config = page_fine_tune_config(TrainableLayers::head, n);
    FineTuner tuner(base, replay, Dataset{}, config);
    tuner.start(many.slice(0, n));
    EXPECT_LE(tuner.status().total_steps, config.max_steps) << n;
    if (n == 20) {
      EXPECT_LT(tuner.status().total_steps, config.max_steps) << "20 epochs of 20 samples fit the budget";
    }
    while (tuner.status().busy()) tuner.run(100);
    EXPECT_EQ(tuner.status().state, FineTuneStatus::State::done) << tuner.status().message;
    EXPECT_LE(tuner.status().step, config.max_steps);
    std::printf("[ fine-tuner ] %zu samples, head: %d steps of %d planned (%s), held-out %.3f -> %.3f\n", n,
                tuner.status().step, tuner.status().total_steps, fine_tune_ending_name(tuner.status().ending),
                tuner.status().heldout_before, tuner.status().heldout_after);
  }
}

// Training that stops helping ends early: here nothing can improve (a learning rate of 1e-12), so
// after `patience` checks without a better held-out loss it ends, and the result is the best
// weights seen, the base model's.
TEST(FineTuner, NoImprovementOnTheHeldOutSamplesEndsTrainingWithTheBestWeights) {
  const Model base = load_model_file(kShipped);
  const Dataset digits = load_dataset(kReplayImages, kReplayLabels);
  FineTuneConfig config = page_fine_tune_config(TrainableLayers::head, 200);
  config.optimizer.lr = 1e-12f;
  FineTuner tuner(base, digits.slice(0, 300), Dataset{}, config);
  tuner.start(digits.slice(500, 200));
  while (tuner.status().busy()) tuner.run(50);
  const FineTuneStatus& s = tuner.status();
  ASSERT_EQ(s.state, FineTuneStatus::State::done) << s.message;
  EXPECT_EQ(s.ending, FineTuneStatus::Ending::no_improvement);
  EXPECT_EQ(s.step, config.patience * s.points_every);
  EXPECT_LT(s.step, s.total_steps);
  EXPECT_EQ(s.best_step, 0);
  EXPECT_EQ(s.heldout_after, s.heldout_before);  // the base model's weights, scored the same way
}

TEST(FineTuner, StopEndsTrainingNowAndKeepsTheBestSoFar) {
  const Model base = load_model_file(kShipped);
  const Dataset digits = load_dataset(kReplayImages, kReplayLabels);
  FineTuneConfig config = page_fine_tune_config(TrainableLayers::last_block, 100);
  config.patience = 0;
  FineTuner tuner(base, digits.slice(0, 300), Dataset{}, config);
  tuner.start(digits.slice(500, 100));
  tuner.run(40);
  ASSERT_EQ(tuner.status().state, FineTuneStatus::State::running);
  tuner.stop();
  while (tuner.status().busy()) tuner.advance(1);
  const FineTuneStatus& s = tuner.status();
  EXPECT_EQ(s.state, FineTuneStatus::State::done);
  EXPECT_EQ(s.ending, FineTuneStatus::Ending::stopped);
  EXPECT_LE(s.step, 41);
  EXPECT_LE(s.best_step, s.step);
  EXPECT_FALSE(std::isnan(s.heldout_after));
  EXPECT_EQ(tuner.tuned_model().provenance.at("finetune_steps"), std::to_string(s.best_step));
  // The weights kept are the best check's: scored again they give that check's held-out accuracy.
  if (s.best_step > 0) {
    EXPECT_NEAR(s.heldout_after, s.heldout_history[size_t(s.best_step / s.points_every) - 1], 1e-6);
  }
}

// The forgetting measure's digits never train: every batch the trainer gets is made of the person's
// samples and replay digits only, checked on every input of every step.
TEST(FineTuner, TheMnistDigitsThatMeasureForgettingNeverReachTraining) {
  const Model base = load_model_file(kShipped);
  const Dataset replay = load_dataset(kReplayImages, kReplayLabels);
  const Dataset probe = load_dataset(kProbeImages, kProbeLabels);
  ASSERT_EQ(probe.size(), 500u);
  // The shipped sets are disjoint: the probe comes from MNIST's test set, the replay from training.
  std::set<std::vector<uint8_t>> replay_images;
  for (size_t i = 0; i < replay.size(); ++i) replay_images.insert(std::vector<uint8_t>(replay.image(i), replay.image(i) + 784));
  for (size_t i = 0; i < probe.size(); ++i)
    ASSERT_EQ(replay_images.count(std::vector<uint8_t>(probe.image(i), probe.image(i) + 784)), 0u) << "probe digit " << i;
  // Every training input, normalised as the whole network trains on them, against every probe digit.
  const Model folded = fold_batch_norm(base);
  std::set<std::vector<float>> probe_inputs;
  const std::vector<float> pixels = dataset_pixels(probe, 0, probe.size());
  for (size_t i = 0; i < probe.size(); ++i) {
    std::vector<float> x(pixels.begin() + long(i * 784), pixels.begin() + long((i + 1) * 784));
    for (float& v : x) v = (v - folded.norm.mean) / folded.norm.std;
    probe_inputs.insert(x);
  }
  FineTuneConfig config = page_fine_tune_config(TrainableLayers::all, 20);
  config.max_steps = 12;
  FineTuner tuner(base, replay, probe, config);
  size_t inputs = 0, from_probe = 0;
  tuner.observe_training([&](const float* x, int n) {
    for (int k = 0; k < n; ++k, ++inputs) from_probe += probe_inputs.count(std::vector<float>(x + size_t(k) * 784, x + size_t(k + 1) * 784));
  });
  tuner.start(replay.slice(0, 20));
  while (tuner.status().busy()) tuner.run(100);
  EXPECT_EQ(tuner.status().state, FineTuneStatus::State::done) << tuner.status().message;
  EXPECT_GT(inputs, 200u);
  EXPECT_EQ(from_probe, 0u);
  EXPECT_EQ(tuner.status().mnist_digits, 500);
  EXPECT_GE(tuner.status().mnist_before, 0.98);  // the shipped model on MNIST test digits
  EXPECT_FALSE(std::isnan(tuner.status().mnist_after));
}

TEST(FineTuner, RefusesEmptyOrMisshapenSamplesAndBadSettings) {
  const Model base = init_model(preset("keras-cnn"), 1);
  FineTuner tuner(base, Dataset{}, Dataset{}, FineTuneConfig{});
  EXPECT_ERROR_CONTAINS(tuner.start(Dataset{}), "no samples");
  Dataset small;
  small.rows = small.cols = 14;
  small.images.assign(196, 0);
  small.labels = {3};
  EXPECT_ERROR_CONTAINS(tuner.start(small), "14x14");
  FineTuneConfig bad;
  bad.replay_per_batch = 40;
  EXPECT_ERROR_CONTAINS(FineTuner(base, Dataset{}, Dataset{}, bad), "replay");
  for (int threads : {0, -3, 65}) {
    FineTuneConfig odd;
    odd.threads = threads;
    EXPECT_ERROR_CONTAINS(FineTuner(base, Dataset{}, Dataset{}, odd), "threads must be between 1 and 64");
  }
}

}  // namespace
}  // namespace digitlab
