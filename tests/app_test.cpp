// The page's logic without a window: sample store, model library, the fine-tuning driver's state
// machine and the app's flows (draw -> predict, label, fine-tune, persist, revert, pick and load
// models), with the shipped models and real files in a scratch folder. Runs natively and under node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "app.h"
#include "fine_tune/messages.h"
#include "digitlab/file_io.h"
#include "digitlab/safetensors.h"
#include "test_support.h"

namespace digitlab {
namespace {

using testing::output_path;
namespace fs = std::filesystem;

const std::string kModels = std::string(DIGITLAB_SOURCE_DIR) + "/models";

// A scratch storage folder, empty at the start of each test.
std::string fresh_dir(const std::string& name) {
  const std::string dir = output_path("app_test/" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Draws a stroke through points (canvas pixels, 280x280 pad) as the pointer would.
void stroke(AppState& app, std::initializer_list<Point> points, float width = 18.f) {
  app_set_pen_width(app, width);
  app_begin_stroke(app, *points.begin());
  app_extend_stroke(app, std::vector<Point>(points.begin() + 1, points.end()));
}

bool start(AppState& app, const std::string& dir, int* persists = nullptr) {
  app.storage_dir = dir;
  if (persists) app.persist = [persists] { ++*persists; };
  ShippedFiles files;
  files.models_dir = kModels;
  files.default_id = "digitlab-cnn";
  files.replay_images = kModels + "/mnist-replay-1000-images.idx.gz";
  files.replay_labels = kModels + "/mnist-replay-1000-labels.idx.gz";
  files.probe_images = kModels + "/mnist-test-500-images.idx.gz";
  files.probe_labels = kModels + "/mnist-test-500-labels.idx.gz";
  return app_start(app, files);
}

// A copy of a safetensors file with the first value of one tensor set to NaN.
std::vector<uint8_t> with_nan_in(std::vector<uint8_t> bytes, const std::string& tensor) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + long(n));
  const size_t at = 8 + size_t(n) + header.at(tensor).at("data_offsets")[0].get<size_t>();
  const float nan = NAN;
  std::memcpy(&bytes[at], &nan, sizeof nan);
  return bytes;
}

std::vector<float> ink(float value) { return std::vector<float>(784, value); }

TEST(SampleStore, EveryChangeIsWrittenThroughAndSurvivesReopening) {
  const std::string dir = fresh_dir("store");
  int persists = 0;
  SampleStore s;
  EXPECT_EQ(s.open(dir, [&] { ++persists; }), "");
  s.add(ink(0.5f).data(), 3);
  s.add(ink(1.0f).data(), 3);
  s.add(ink(0.2f).data(), 8);
  s.relabel(1, 4);
  s.remove(0);
  EXPECT_EQ(persists, 5);
  SampleStore again;
  EXPECT_EQ(again.open(dir), "");
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again.label(0), 4);
  EXPECT_EQ(again.label(1), 8);
  EXPECT_EQ(again.image(0)[100], 255);
  EXPECT_EQ(again.image(1)[100], 51);  // 0.2 * 255, rounded
  const auto c = again.counts();
  EXPECT_EQ(c[4], 1);
  EXPECT_EQ(c[8], 1);
  EXPECT_EQ(c[3], 0);
}

TEST(SampleStore, BadRequestsChangeNothing) {
  SampleStore s;
  s.open(fresh_dir("store-bad"));
  s.add(ink(1.f).data(), 1);
  EXPECT_ERROR_CONTAINS(s.add(ink(1.f).data(), 10), "not a digit");
  EXPECT_ERROR_CONTAINS(s.relabel(0, -1), "not a digit");
  EXPECT_ERROR_CONTAINS(s.relabel(5, 2), "no sample 5");
  EXPECT_ERROR_CONTAINS(s.remove(1), "no sample 1");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s.label(0), 1);
}

TEST(SampleStore, ExportedPairImportsIntoAnotherStoreAndBadPairsAreRefused) {
  SampleStore a;
  a.open(fresh_dir("store-a"));
  for (int d = 0; d < 10; ++d) a.add(ink(float(d) / 10.f).data(), d);
  const std::string a_images = output_path("app_test/a-images.idx"), a_labels = output_path("app_test/a-labels.idx");
  a.export_pair(a_images, a_labels);
  SampleStore b;
  b.open(fresh_dir("store-b"));
  b.add(ink(1.f).data(), 7);
  EXPECT_EQ(b.import_pair(a_images, a_labels), 10u);
  ASSERT_EQ(b.size(), 11u);
  EXPECT_EQ(b.label(10), 9);
  EXPECT_EQ(b.image(5)[0], a.image(4)[0]);
  // Images and labels of different sets, a truncated file, a missing file: refused, nothing added.
  SampleStore c;
  c.open(fresh_dir("store-c"));
  c.add(ink(1.f).data(), 2);
  const std::string c_images = output_path("app_test/c-images.idx"), c_labels = output_path("app_test/c-labels.idx");
  c.export_pair(c_images, c_labels);
  EXPECT_ERROR_CONTAINS(b.import_pair(a_images, c_labels), "10 images but label file holds 1");
  std::vector<uint8_t> bytes = read_file_bytes(a_images);
  bytes.resize(bytes.size() / 2);
  write_file_atomically(output_path("app_test/truncated.idx"), bytes);
  EXPECT_ERROR_CONTAINS(b.import_pair(output_path("app_test/truncated.idx"), a_labels), "truncated.idx': IDX dimensions promise more data than the file holds");
  EXPECT_ERROR_CONTAINS(b.import_pair(output_path("app_test/missing.idx"), a_labels), "missing.idx");
  EXPECT_EQ(b.size(), 11u);
  SampleStore again;  // and what b holds is what it wrote
  again.open(output_path("app_test/store-b"));
  EXPECT_EQ(again.data().images, b.data().images);
  EXPECT_EQ(again.data().labels, b.data().labels);
}

// The cost of a change is one chunk, at 10 samples as at 10,000: what storage writes is measured, not timed.
TEST(SampleStore, AChangeRewritesOneChunkWhateverTheSetsSize) {
  const size_t one_chunk = SampleStore::kChunk * 785 + 16;  // a full chunk file, header included
  SampleStore s;
  const std::string dir = fresh_dir("store-scale");
  s.open(dir);
  for (int i = 0; i < 10; ++i) s.add(ink(float(i) / 10.f).data(), i % 10);
  const size_t small = s.last_write_bytes();
  EXPECT_LE(small, one_chunk);
  Dataset many;
  for (int i = 0; i < 10000; ++i) {
    many.images.insert(many.images.end(), 784, uint8_t(i % 251));
    many.labels.push_back(uint8_t(i % 10));
  }
  save_dataset(many, output_path("app_test/many-images.idx"), output_path("app_test/many-labels.idx"), false);
  ASSERT_EQ(s.import_pair(output_path("app_test/many-images.idx"), output_path("app_test/many-labels.idx")), 10000u);
  s.add(ink(0.7f).data(), 3);
  EXPECT_LE(s.last_write_bytes(), one_chunk) << "adding to 10,010 samples";
  s.relabel(5000, 9);
  EXPECT_LE(s.last_write_bytes(), one_chunk);
  s.remove(1234);
  EXPECT_LE(s.last_write_bytes(), one_chunk);
  ASSERT_EQ(s.size(), 10010u);
  SampleStore again;
  EXPECT_EQ(again.open(dir), "");
  EXPECT_EQ(again.data().images, s.data().images);
  EXPECT_EQ(again.data().labels, s.data().labels);
  EXPECT_EQ(again.label(4999), 9);  // the relabelled one, one place earlier after the removal
}

TEST(SampleStore, DamagedSavedFilesAreKeptAsideNotOverwritten) {
  const std::string dir = fresh_dir("store-damaged");
  SampleStore good;
  good.open(dir);
  for (int i = 0; i < 300; ++i) good.add(ink(1.f).data(), i % 10);  // two chunks: 256 + 44
  std::vector<uint8_t> second = read_file_bytes(dir + "/samples/chunk-000002.idx");
  second.resize(second.size() - 10);  // cut short, as a crash in the middle of a write elsewhere might
  write_file_atomically(dir + "/samples/chunk-000002.idx", second);
  SampleStore s;
  const std::string why = s.open(dir);
  EXPECT_NE(why.find("could not all be read"), std::string::npos) << why;
  EXPECT_EQ(s.size(), SampleStore::kChunk);  // the intact chunk
  EXPECT_TRUE(file_exists(dir + "/samples/chunk-000002.idx.damaged"));
  s.add(ink(1.f).data(), 5);  // goes on; the damaged bytes stay as they were
  EXPECT_EQ(read_file_bytes(dir + "/samples/chunk-000002.idx.damaged").size(), second.size());
}

// Samples saved as one IDX pair, as the page did before chunks, are kept (as chunks).
TEST(SampleStore, TheSinglePairOfEarlierVersionsBecomesChunks) {
  const std::string dir = fresh_dir("store-legacy");
  Dataset old;
  for (int i = 0; i < 300; ++i) {
    old.images.insert(old.images.end(), 784, uint8_t(i));
    old.labels.push_back(uint8_t(i % 10));
  }
  save_dataset(old, dir + "/samples-images.idx", dir + "/samples-labels.idx", false);
  SampleStore s;
  EXPECT_EQ(s.open(dir), "");
  EXPECT_EQ(s.data().images, old.images);
  EXPECT_FALSE(file_exists(dir + "/samples-images.idx"));
  SampleStore again;
  again.open(dir);
  EXPECT_EQ(again.data().labels, old.labels);

  const std::string bad = fresh_dir("store-legacy-bad");
  write_file_atomically(bad + "/samples-images.idx", {0, 0, 8, 3, 0, 0});
  write_file_atomically(bad + "/samples-labels.idx", {1, 2, 3});
  SampleStore d;
  EXPECT_NE(d.open(bad).find("could not be read"), std::string::npos);
  EXPECT_TRUE(file_exists(bad + "/samples-images.idx.damaged"));
}

TEST(ModelLibrary, ListsShippedModelsWithTheirRecordedAccuracy) {
  ModelLibrary lib;
  lib.open(kModels, fresh_dir("library"), "digitlab-cnn");
  ASSERT_GE(lib.entries().size(), 2u);
  const ModelEntry& first = lib.entries()[0];
  EXPECT_EQ(first.id, "digitlab-cnn");  // the default sorts first
  EXPECT_EQ(first.parameters, 186538);
  EXPECT_NEAR(first.test_accuracy, 0.9963, 1e-9);
  const int seed = lib.find("seed-cnn");
  ASSERT_GE(seed, 0);
  EXPECT_EQ(lib.entries()[size_t(seed)].parameters, 421642);
  EXPECT_TRUE(lib.problems().empty());
}

TEST(ModelLibrary, AnUnreadableShippedFileIsReportedAndSkipped) {
  const std::string shipped = fresh_dir("library-shipped");
  fs::copy_file(kModels + "/seed-cnn.safetensors", shipped + "/seed-cnn.safetensors");
  write_file_atomically(shipped + "/broken.safetensors", {1, 2, 3, 4, 5, 6, 7, 8, 9});
  ModelLibrary lib;
  lib.open(shipped, fresh_dir("library-storage"), "seed-cnn");
  ASSERT_EQ(lib.entries().size(), 1u);
  ASSERT_EQ(lib.problems().size(), 1u);
  EXPECT_NE(lib.problems()[0].find("broken.safetensors"), std::string::npos);
}

TEST(App, DrawnOneIsClassifiedAndTheInputIsCentred) {
  AppState app;
  ASSERT_TRUE(start(app, fresh_dir("app-draw"))) << app.model_error;
  EXPECT_EQ(app.model_name, "digitlab-cnn");
  EXPECT_FALSE(app.prediction.valid);  // nothing drawn yet
  stroke(app, {{60, 40}, {62, 120}, {64, 200}});  // off-centre: preprocessing centres it
  ASSERT_TRUE(app.prediction.valid);
  EXPECT_EQ(app.prediction.label, 1);
  ASSERT_EQ(app.prediction.probabilities.size(), 10u);
  float mass = 0, cx = 0;
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) mass += app.input[y * 28 + x], cx += float(x) * app.input[y * 28 + x];
  EXPECT_NEAR(cx / mass, 14.0, 1.0);
  app_undo_stroke(app);
  EXPECT_FALSE(app.prediction.valid);
  EXPECT_EQ(app.canvas.strokes().size(), 0u);
}

// window.app.state() is the page's contract with its tests and embedders (web/README.md): built
// here from the app's state, so its fields are checked without a browser.
TEST(App, StateJsonReportsWhatThePageShows) {
  AppState app;
  ASSERT_TRUE(start(app, fresh_dir("app-state")));
  nlohmann::json s = nlohmann::json::parse(app_state_json(app));
  EXPECT_EQ(s["model"], "digitlab-cnn");
  EXPECT_TRUE(s["top"].is_null());
  EXPECT_TRUE(s["probabilities"].is_null());
  EXPECT_EQ(s["trainable"], "head");
  EXPECT_EQ(s["fineTune"]["state"], "idle");
  EXPECT_EQ(s["modelParameters"], 186538);
  ASSERT_GE(s["models"].size(), 2u);
  EXPECT_EQ(s["models"][0]["id"], "digitlab-cnn");
  EXPECT_EQ(s["models"][0]["selected"], true);
  const std::string engine = s["perf"]["engine"];
  EXPECT_TRUE(engine == "f32" || engine == "winograd" || engine == "int8") << engine;
  EXPECT_GT(s["perf"][engine == "f32" ? "f32Us" : engine == "winograd" ? "winogradUs" : "int8Us"].get<double>(), 0);

  stroke(app, {{140, 40}, {140, 220}});
  s = nlohmann::json::parse(app_state_json(app));
  EXPECT_EQ(s["top"], 1);
  EXPECT_EQ(s["hasInk"], true);
  EXPECT_EQ(s["strokes"], 1);
  ASSERT_EQ(s["probabilities"].size(), 10u);
  double sum = 0;
  for (const auto& p : s["probabilities"]) sum += p.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-4);
  EXPECT_GT(s["perf"]["inferenceMs"].get<double>(), 0);

  ASSERT_TRUE(app_add_sample(app, 1));
  app.trainable = TrainableLayers::all;
  ASSERT_TRUE(app_start_fine_tune(app));
  s = nlohmann::json::parse(app_state_json(app));
  EXPECT_EQ(s["sampleTotal"], 1);
  EXPECT_EQ(s["samples"][1], 1);
  EXPECT_EQ(s["sampleLabels"], nlohmann::json::array({1}));
  EXPECT_EQ(s["trainable"], "all");
  EXPECT_EQ(s["fineTune"]["state"], "preparing");
  EXPECT_EQ(s["fineTune"]["runsIn"], "main thread");
  EXPECT_EQ(s["fineTune"]["heldoutBefore"], -1);  // nothing to measure yet: -1, not NaN (JSON has none)
  EXPECT_TRUE(s["notice"].is_null());
  app_cancel_fine_tune(app);
  s = nlohmann::json::parse(app_state_json(app));
  EXPECT_EQ(s["fineTune"]["state"], "idle");
  EXPECT_NE(s["notice"].get<std::string>().find("cancelled"), std::string::npos);
}

TEST(App, SamplesNeedInkAndAValidLabel) {
  AppState app;
  ASSERT_TRUE(start(app, fresh_dir("app-samples")));
  EXPECT_FALSE(app_add_sample(app, 3));  // empty canvas
  EXPECT_NE(app.notice.find("draw a digit first"), std::string::npos);
  stroke(app, {{140, 40}, {140, 220}});
  EXPECT_FALSE(app_add_sample(app, 12));
  EXPECT_TRUE(app.canvas.strokes().size() == 1);  // kept for another try
  EXPECT_TRUE(app_add_sample(app, 1));
  EXPECT_TRUE(app.canvas.empty());
  EXPECT_TRUE(app_relabel_sample(app, 0, 7));
  EXPECT_FALSE(app_relabel_sample(app, 3, 7));
  EXPECT_EQ(app.samples.counts()[7], 1);
  EXPECT_TRUE(app_start_fine_tune(app));  // one sample is enough to start
  app_cancel_fine_tune(app);
  EXPECT_TRUE(app_delete_sample(app, 0));
  EXPECT_FALSE(app_start_fine_tune(app));  // none left
  EXPECT_NE(app.notice.find("label a few digits"), std::string::npos);
}

// A person who writes their sevens as a bare vertical bar: the shipped model reads it as 1. After
// labelling a dozen of them and fine-tuning in the page, the model reads such a bar as 7, keeps
// that across a restart, and revert brings back the shipped behaviour.
TEST(App, FineTuningLearnsAPersonsStylePersistsAndReverts) {
  const std::string dir = fresh_dir("app-tune");
  int persists = 0;
  AppState app;
  ASSERT_TRUE(start(app, dir, &persists));
  for (int i = 0; i < 12; ++i) {
    const float x = 110.f + 5.f * float(i), slant = float(i % 5) * 4.f - 8.f;
    stroke(app, {{x - slant, 40.f + float(i % 3) * 6.f}, {x + slant, 230.f - float(i % 4) * 5.f}}, 14.f + float(i % 4) * 3.f);
    ASSERT_TRUE(app_add_sample(app, 7));
  }
  stroke(app, {{150, 50}, {147, 215}});
  ASSERT_EQ(app.prediction.label, 1);
  const float p7_before = app.prediction.probabilities[7];

  // The state machine: preparing (trunk features, "before"), running (steps, "after"), done.
  ASSERT_TRUE(app_start_fine_tune(app)) << app.notice;
  EXPECT_EQ(app.tuning->status().state, FineTuneStatus::State::preparing);
  app_tick(app, 0.0);  // a zero budget still does one slice, and only one
  EXPECT_EQ(app.tuning->status().work_done, 1);
  EXPECT_EQ(app.tuning->status().state, FineTuneStatus::State::preparing);
  // Zero-budget ticks: one slice each, so every state is seen in order.
  std::vector<FineTuneStatus::State> seen{FineTuneStatus::State::preparing};
  int ticks = 1;
  while (app.tuning->active() && ticks < 100000) {
    app_tick(app, 0.0);
    if (app.tuning->status().state != seen.back()) seen.push_back(app.tuning->status().state);
    ++ticks;
  }
  ASSERT_EQ(app.tuning->status().state, FineTuneStatus::State::done) << app.tuning->status().message;
  const std::vector<FineTuneStatus::State> expected{FineTuneStatus::State::preparing, FineTuneStatus::State::running,
                                                    FineTuneStatus::State::done};
  EXPECT_EQ(seen, expected);
  const FineTuneStatus& s = app.tuning->status();
  EXPECT_LE(ticks, s.work_total);  // one slice per tick (early stopping skips the rest), the last one ends it
  std::printf("steps %d of %d (best %d, %s), loss %.3f -> %.3f, held-out %.2f -> %.2f, MNIST test %.3f -> %.3f\n", s.step,
              s.total_steps, s.best_step, fine_tune_ending_name(s.ending), s.loss_history.front(), s.loss_history.back(),
              s.heldout_before, s.heldout_after, s.mnist_before, s.mnist_after);
  EXPECT_EQ(s.work_done, s.work_total);
  EXPECT_EQ(s.heldout_samples, 2);  // 20% of 12
  EXPECT_EQ(s.mnist_digits, 500);
  EXPECT_GE(s.loss_history.size(), 1u);
  EXPECT_EQ(s.accuracy_history.size(), s.loss_history.size());
  EXPECT_EQ(s.heldout_history.size(), s.loss_history.size());
  // MNIST is mostly kept (on test digits that never trained): what it loses are ones that now look
  // like this person's sevens.
  EXPECT_GE(s.mnist_after, 0.85);
  EXPECT_TRUE(app.tuned);
  EXPECT_EQ(app.model_name, "digitlab-cnn (fine-tuned)");
  EXPECT_TRUE(file_exists(dir + "/digitlab-cnn.fine-tuned.safetensors"));
  EXPECT_GT(persists, 12);
  // The prediction on the canvas was refreshed with the new model.
  ASSERT_TRUE(app.prediction.valid);
  EXPECT_EQ(app.prediction.label, 7);
  EXPECT_GT(app.prediction.probabilities[7], p7_before + 0.3f);
  // Direct f32 predicts at once; the tuned model's faster paths are built a piece per frame, and
  // then the path measured fastest for the shipped model predicts again, with the same answer.
  EXPECT_EQ(app.predictor.path(), InferencePath::f32);
  int frames = 0;
  while (app.predictor.pending() && frames < 100) app_tick(app, 8.0), ++frames;
  EXPECT_LE(frames, 1 + Predictor::kCalibrationImages / Predictor::kCalibrationSlice);
  EXPECT_EQ(app.predictor.path(), app.predictor.preferred());
  app_refresh(app);
  EXPECT_EQ(app.prediction.label, 7);

  AppState reopened;  // a reload
  ASSERT_TRUE(start(reopened, dir));
  EXPECT_TRUE(reopened.tuned);
  EXPECT_EQ(reopened.samples.size(), 12u);
  stroke(reopened, {{150, 50}, {147, 215}});
  EXPECT_EQ(reopened.prediction.label, 7);

  app_revert(reopened);
  EXPECT_FALSE(reopened.tuned);
  EXPECT_FALSE(file_exists(dir + "/digitlab-cnn.fine-tuned.safetensors"));
  EXPECT_EQ(reopened.prediction.label, 1);

  // The gallery's marks: what the fine-tuned model reads in each of the 12 samples (all sevens),
  // scored at the end of the session; a deletion moves the later ones up with their samples.
  ASSERT_EQ(app.readings.digits.size(), 12u);
  EXPECT_EQ(app.readings.digits, s.sample_predictions);
  EXPECT_GE(std::count(app.readings.digits.begin(), app.readings.digits.end(), 7), 11);  // learnt (held-out ones too)
  EXPECT_GE(app.readings.shipped, 0.0);
  const std::vector<uint8_t> read = app.readings.digits;
  ASSERT_TRUE(app_relabel_sample(app, 3, 1));  // a label changed: the sample now counts as misread (the model reads it as a 7)
  EXPECT_EQ(app.readings.misread(3, app.samples.label(3)), read[3] != 1);
  const nlohmann::json state = nlohmann::json::parse(app_state_json(app));
  EXPECT_EQ(state["readings"]["checked"], 12);
  bool listed = false;
  for (const auto& m : state["readings"]["misread"]) listed |= m["index"] == 3 && m["reads"] == read[3];
  EXPECT_EQ(listed, read[3] != 1);
  ASSERT_TRUE(app_delete_sample(app, 0));
  EXPECT_EQ(app.readings.digits, std::vector<uint8_t>(read.begin() + 1, read.end()));
  EXPECT_FALSE(app.readings.misread(11, 0));  // past the samples scored: no reading, no mark
  app_revert(app);  // another model in use: the marks were the fine-tuned one's
  EXPECT_TRUE(app.readings.digits.empty());
}

TEST(App, CancelledFineTuningLeavesTheModelAlone) {
  const std::string dir = fresh_dir("app-cancel");
  AppState app;
  ASSERT_TRUE(start(app, dir));
  stroke(app, {{140, 40}, {140, 220}});
  ASSERT_TRUE(app_add_sample(app, 4));
  ASSERT_TRUE(app_start_fine_tune(app));
  app_tick(app, 0.0);
  EXPECT_TRUE(app.tuning->active());
  app_cancel_fine_tune(app);
  EXPECT_FALSE(app.tuning->active());
  EXPECT_EQ(app.tuning->status().state, FineTuneStatus::State::idle);
  for (int i = 0; i < 10; ++i) app_tick(app, 5.0);  // nothing left to run
  EXPECT_FALSE(app.tuned);
  EXPECT_FALSE(file_exists(dir + "/digitlab-cnn.fine-tuned.safetensors"));
}

TEST(App, PickerSwitchesModelsAndRemembersTheChoice) {
  const std::string dir = fresh_dir("app-picker");
  AppState app;
  ASSERT_TRUE(start(app, dir));
  const int seed = app.models.find("seed-cnn");
  ASSERT_GE(seed, 0);
  stroke(app, {{140, 40}, {140, 220}});
  ASSERT_TRUE(app_select_model(app, seed));
  EXPECT_EQ(app.model_name, "seed-cnn");
  EXPECT_EQ(app.model_parameters, 421642);
  EXPECT_EQ(app.prediction.label, 1);  // the drawing is re-read by the new model
  EXPECT_FALSE(app_select_model(app, 99));
  EXPECT_EQ(app.model_name, "seed-cnn");
  AppState reopened;
  ASSERT_TRUE(start(reopened, dir));
  EXPECT_EQ(reopened.model_name, "seed-cnn");
}

TEST(App, LoadedWeightFilesAreValidatedKeptAndSelected) {
  const std::string dir = fresh_dir("app-load");
  AppState app;
  ASSERT_TRUE(start(app, dir));
  stroke(app, {{140, 40}, {140, 220}});
  const Prediction before = app.prediction;
  // Corrupt bytes, a truncated file, NaN weights: refused with a reason, the model in use stays.
  std::vector<uint8_t> good = read_file_bytes(kModels + "/seed-cnn.safetensors");
  std::vector<uint8_t> truncated(good.begin(), good.begin() + long(good.size() / 2));
  EXPECT_FALSE(app_load_model(app, truncated.data(), truncated.size(), "half.safetensors"));
  EXPECT_NE(app.model_error.find("half.safetensors"), std::string::npos);
  const std::vector<uint8_t> nan_bytes = with_nan_in(good, "fc2.bias");
  EXPECT_FALSE(app_load_model(app, nan_bytes.data(), nan_bytes.size(), "nan.safetensors"));
  EXPECT_EQ(app.model_name, "digitlab-cnn");
  EXPECT_EQ(app.prediction.label, before.label);
  EXPECT_FLOAT_EQ(app.prediction.probabilities[1], before.probabilities[1]);
  // A good file: used, listed in the picker under its name, and still there after a restart.
  ASSERT_TRUE(app_load_model(app, good.data(), good.size(), "my-seed.safetensors")) << app.model_error;
  EXPECT_EQ(app.model_name, "my-seed.safetensors");
  EXPECT_TRUE(app.model_error.empty());
  AppState reopened;
  ASSERT_TRUE(start(reopened, dir));
  EXPECT_EQ(reopened.model_name, "my-seed.safetensors");
  EXPECT_EQ(reopened.models.entries().back().label, "my-seed.safetensors");
}

}  // namespace
}  // namespace digitlab
