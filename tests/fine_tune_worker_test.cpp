// The page's fine-tuning worker protocol (native and under node): a session sent to the worker as
// bytes (fine_tune/messages.h), run there (FineTuneWorker) and reported back through
// WorkerFineTuneDriver ends exactly as the same session run on the page's thread; stale messages of
// a cancelled session, a lost worker and bad bytes from it end cleanly. The loopback link below does
// what web/static/fine_tune_worker.js does with each message; web/tests/ run the real Web Worker.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "digitlab/error.h"
#include "digitlab/idx.h"
#include "digitlab/safetensors.h"
#include "fine_tune/worker.h"
#include "fine_tune/worker_driver.h"
#include "test_support.h"

namespace digitlab {
namespace {

const std::string kModels = std::string(DIGITLAB_SOURCE_DIR) + "/models";

struct Fixture {
  Model base = load_model_file(kModels + "/seed-cnn.safetensors");
  Dataset digits = load_dataset(kModels + "/mnist-replay-1000-images.idx.gz", kModels + "/mnist-replay-1000-labels.idx.gz");
  Dataset replay = digits.slice(0, 120), samples = digits.slice(900, 30), probe = digits.slice(500, 40);
  FineTuneData data() const { return {base, replay, probe, samples}; }
  FineTuneData with_samples(const Dataset& s) const { return {base, replay, probe, s}; }
  FineTuneConfig config = [] {
    FineTuneConfig c;
    c.trainable = TrainableLayers::last_block;
    c.epochs = 3;
    c.batch = 16;
    c.replay_per_batch = 4;
    return c;
  }();
};

// The worker, in-process: each pump() is one chunk of the worker's loop and the message it posts.
class LoopbackLink : public FineTuneWorkerLink {
 public:
  bool is_available = true, is_ready = true;
  int starts = 0, cancels = 0, stops = 0;
  FineTuneWorker worker;
  int session = 0;
  bool running = false;
  std::string refused_status;  // a start the worker refused, posted on the next pump

  bool available() const override { return is_available; }
  bool ready() const override { return is_ready; }
  void start(int s, const FineTuneRequest& request) override {
    ++starts;
    session = s;
    running = worker.start(request);
    if (!running) refused_status = worker.status_json();
  }
  void cancel(int s) override {
    ++cancels;
    if (s == session) worker.cancel(), running = false;
  }
  void stop(int s) override {
    ++stops;
    if (s == session) worker.stop();
  }
  // Delivers one message to the driver; false when the worker has nothing more to say.
  bool pump(WorkerFineTuneDriver& d, double budget_ms = 5) {
    if (!refused_status.empty()) {
      d.on_status(session, refused_status);
      refused_status.clear();
      return false;
    }
    if (!running) return false;
    const FineTuneDriver::Event e = worker.advance(budget_ms);
    if (e == FineTuneDriver::Event::finished) {
      const std::vector<uint8_t> model = worker.result_bytes();
      d.on_finished(session, worker.status_json(), model.data(), model.size());
    } else {
      d.on_status(session, worker.status_json());
    }
    running = e == FineTuneDriver::Event::none;
    return running;
  }
};

struct Wired {
  LoopbackLink* link;
  std::unique_ptr<WorkerFineTuneDriver> driver;
};
Wired wired() {
  auto link = std::make_unique<LoopbackLink>();
  LoopbackLink* raw = link.get();
  return {raw, std::make_unique<WorkerFineTuneDriver>(std::move(link))};
}

void expect_same_params(const Model& a, const Model& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  for (const auto& [name, t] : a.params) {
    const Tensor& u = b.params.at(name);
    ASSERT_EQ(t.shape, u.shape) << name;
    EXPECT_EQ(0, std::memcmp(t.data.data(), u.data.data(), t.data.size() * sizeof(float))) << name << " differs";
  }
}

TEST(FineTuneWorker, ASessionInTheWorkerEndsExactlyAsOnThePagesThread) {
  Fixture f;
  SlicedFineTuneDriver here;
  here.start(f.data(), f.config);
  while (here.tick(50) == FineTuneDriver::Event::none) {
  }
  ASSERT_EQ(here.status().state, FineTuneStatus::State::done) << here.status().message;

  Wired w = wired();
  w.driver->start(f.data(), f.config);
  EXPECT_STREQ(w.driver->runs_in(), "worker");
  EXPECT_EQ(w.link->starts, 1);
  EXPECT_TRUE(w.driver->active());
  EXPECT_EQ(w.driver->status().state, FineTuneStatus::State::preparing);
  int events = 0, messages = 0;
  float last_progress = 0;
  double worker_ms = 0;  // the worker's time in its chunks of work, all of them
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool more = w.link->pump(*w.driver);
    worker_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ++messages;
    EXPECT_GE(w.driver->status().progress(), last_progress);
    last_progress = w.driver->status().progress();
    const FineTuneDriver::Event e = w.driver->tick(0);
    if (e != FineTuneDriver::Event::none) {
      ++events;
      EXPECT_EQ(e, FineTuneDriver::Event::finished) << w.driver->status().message;
    }
    if (!more) break;
  }
  EXPECT_GT(messages, 3);  // progress arrived in pieces
  EXPECT_EQ(events, 1);
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::none);  // reported once
  EXPECT_FALSE(w.driver->active());
  const FineTuneStatus& s = w.driver->status();
  ASSERT_EQ(s.state, FineTuneStatus::State::done);
  EXPECT_EQ(s.step, here.status().step);
  EXPECT_EQ(s.loss_history, here.status().loss_history);
  EXPECT_EQ(s.accuracy_history, here.status().accuracy_history);
  EXPECT_EQ(s.heldout_samples, here.status().heldout_samples);
  EXPECT_EQ(s.heldout_before, here.status().heldout_before);
  EXPECT_EQ(s.heldout_after, here.status().heldout_after);
  EXPECT_EQ(s.mnist_before, here.status().mnist_before);
  EXPECT_EQ(s.mnist_after, here.status().mnist_after);
  EXPECT_EQ(s.heldout_history, here.status().heldout_history);
  EXPECT_EQ(s.best_step, here.status().best_step);
  EXPECT_EQ(s.ending, here.status().ending);
  // The page learns how long the worker's longest uninterrupted piece of work was, as the worker
  // measured it: part of its chunks, never more than all of them.
  double reported = -1;
  fine_tune_status_from_json(w.link->worker.status_json(), &reported);
  EXPECT_EQ(w.driver->longest_slice_ms(), reported);
  EXPECT_GT(reported, 0);
  EXPECT_LT(reported, worker_ms);
  expect_same_params(w.driver->result(), here.result());
}

// The same whole-network session on 1 thread here and on 2 and 4 in the worker: the same model, bit
// for bit (the products split by a fixed rule, XNNPACK's operators tile only over outputs). The
// single-threaded wasm build cannot start threads: its session runs on one and says why.
TEST(FineTuneWorker, ASessionOnThreadsMakesTheSameModelAsOnOne) {
  Fixture f;
  f.config.trainable = TrainableLayers::all;
  f.config.epochs = 1;
  f.config.large_slices = true;  // as the worker runs every session (worker.cpp)
  SlicedFineTuneDriver here;
  here.start(f.data(), f.config);
  while (here.tick(50) == FineTuneDriver::Event::none) {
  }
  ASSERT_EQ(here.status().state, FineTuneStatus::State::done) << here.status().message;
  EXPECT_EQ(here.status().threads, 1);
  for (int threads : {2, 4}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    f.config.threads = threads;
    Wired w = wired();
    w.driver->start(f.data(), f.config);
    while (w.link->pump(*w.driver, 50)) w.driver->tick(0);
    EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::finished);
    const FineTuneStatus& s = w.driver->status();
    ASSERT_EQ(s.state, FineTuneStatus::State::done) << s.message;
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
    EXPECT_EQ(s.threads, 1);
    EXPECT_EQ(s.threads_note, "this module is single-threaded");
#else
    EXPECT_EQ(s.threads, threads) << s.threads_note;
    EXPECT_EQ(s.threads_note, "");
#endif
    EXPECT_EQ(s.step, here.status().step);
    EXPECT_EQ(s.loss_history, here.status().loss_history);
    EXPECT_EQ(s.heldout_after, here.status().heldout_after);
    EXPECT_EQ(s.mnist_after, here.status().mnist_after);
    // Every sample scored on the pool (the gallery's marks), read the same as on one thread.
    EXPECT_EQ(s.sample_predictions.size(), f.samples.size());
    EXPECT_EQ(s.sample_predictions, here.status().sample_predictions);
    EXPECT_EQ(s.samples_after, here.status().samples_after);
    expect_same_params(w.driver->result(), here.result());
  }
}

TEST(FineTuneWorker, CancelIgnoresTheOldSessionsMessagesAndANewSessionRuns) {
  Fixture f;
  Wired w = wired();
  w.driver->start(f.data(), f.config);
  const int first_session = w.driver->session();
  w.link->pump(*w.driver);
  const std::string in_flight = w.link->worker.status_json();  // posted before the cancel arrived
  w.driver->cancel();
  EXPECT_EQ(w.link->cancels, 1);
  EXPECT_FALSE(w.driver->active());
  EXPECT_EQ(w.driver->status().state, FineTuneStatus::State::idle);
  w.driver->on_status(first_session, in_flight);
  EXPECT_EQ(w.driver->status().state, FineTuneStatus::State::idle);
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::none);
  EXPECT_THROW(w.driver->result(), Error);

  w.driver->start(f.data(), f.config);
  EXPECT_GT(w.driver->session(), first_session);
  w.driver->on_status(first_session, in_flight);  // late, from the old session: ignored
  EXPECT_EQ(w.driver->status().work_done, 0);
  while (w.link->pump(*w.driver)) {
  }
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::finished);
}

TEST(FineTuneWorker, TheWarmUpSessionRunsInTheWorkerAndNobodySeesIt) {
  Fixture f;
  Wired w = wired();
  w.driver->warm_up(f.base, f.replay);
  EXPECT_EQ(w.link->starts, 1);
  EXPECT_EQ(w.link->session, WorkerFineTuneDriver::kWarmUpSession);
  EXPECT_FALSE(w.driver->active());
  int messages = 0;
  while (w.link->pump(*w.driver)) ++messages;
  EXPECT_GT(messages, 0);
  EXPECT_EQ(fine_tune_status_from_json(w.link->worker.status_json(), nullptr).state, FineTuneStatus::State::done);
  EXPECT_EQ(w.driver->status().state, FineTuneStatus::State::idle);  // the page saw nothing
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::none);
  EXPECT_THROW(w.driver->result(), Error);
  // A session started during the warm-up replaces it.
  w.driver->warm_up(f.base, f.replay);
  w.link->pump(*w.driver);
  w.driver->start(f.data(), f.config);
  while (w.link->pump(*w.driver)) {
  }
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::finished);
  w.driver->warm_up(f.base, f.replay);  // after that, with nothing running: fine, still unseen
  EXPECT_EQ(w.driver->status().state, FineTuneStatus::State::done);
}

TEST(FineTuneWorker, AWarmUpWaitsForTheWorkerOrRunsHereWhenThereIsNone) {
  Fixture f;
  Wired w = wired();
  w.link->is_ready = false;  // still loading: the model is kept until it is ready
  w.driver->warm_up(f.base, f.replay);
  EXPECT_EQ(w.link->starts, 0);
  w.link->is_ready = true;
  w.driver->on_worker_ready();
  EXPECT_EQ(w.link->starts, 1);
  EXPECT_EQ(w.link->session, WorkerFineTuneDriver::kWarmUpSession);
  w.driver->on_worker_ready();  // once only
  EXPECT_EQ(w.link->starts, 1);

  // A worker that fails while loading: this thread warms up instead, and sessions run here.
  Wired lost = wired();
  lost.link->is_ready = false;
  lost.driver->warm_up(f.base, f.replay);
  lost.link->is_available = false;
  lost.driver->on_worker_lost("the fine-tuning worker failed: no wasm");
  lost.driver->on_worker_ready();
  EXPECT_EQ(lost.link->starts, 0);
  EXPECT_EQ(lost.driver->status().state, FineTuneStatus::State::idle);  // warming up shows nothing
  lost.driver->start(f.data(), f.config);
  EXPECT_STREQ(lost.driver->runs_in(), "main thread");
}

TEST(FineTuneWorker, WithoutAReadyWorkerTheSessionRunsOnThePagesThread) {
  Fixture f;
  Wired w = wired();
  w.link->is_ready = false;
  w.driver->start(f.data(), f.config);
  EXPECT_STREQ(w.driver->runs_in(), "main thread");
  EXPECT_EQ(w.link->starts, 0);
  int ticks = 0;
  FineTuneDriver::Event e = FineTuneDriver::Event::none;
  while ((e = w.driver->tick(50)) == FineTuneDriver::Event::none && ++ticks < 100000) {
  }
  EXPECT_EQ(e, FineTuneDriver::Event::finished) << w.driver->status().message;
  EXPECT_NO_THROW(w.driver->result());
  // The next session goes to the worker once it is ready.
  w.link->is_ready = true;
  w.driver->start(f.data(), f.config);
  EXPECT_STREQ(w.driver->runs_in(), "worker");
  EXPECT_EQ(w.link->starts, 1);
}

TEST(FineTuneWorker, RefusedSessionsThrowAtStartAndNothingIsSent) {
  Fixture f;
  Wired w = wired();
  EXPECT_THROW(w.driver->start(f.with_samples(Dataset{}), f.config), Error);
  FineTuneConfig bad = f.config;
  bad.epochs = 0;
  EXPECT_ERROR_CONTAINS(w.driver->start(f.data(), bad), "epochs must be between 1 and 1000");
  EXPECT_EQ(w.link->starts, 0);
  EXPECT_FALSE(w.driver->active());
}

TEST(FineTuneWorker, AModelTheTrainerCannotTakeFailsAMessageLaterWithTheReason) {
  Fixture f;
  // A valid model without a convolution: it has no "last conv block" to train.
  Architecture mlp;
  mlp.name = "mlp";
  Layer flatten, fc;
  flatten.kind = LayerKind::flatten;
  fc.kind = LayerKind::linear;
  fc.name = "fc";
  fc.in_features = 784;
  fc.out_features = 10;
  mlp.layers = {flatten, fc};
  const Model untrainable = init_model(mlp, 3);
  Wired w = wired();
  w.driver->start({untrainable, f.replay, f.probe, f.samples}, f.config);  // settings and samples are fine
  EXPECT_TRUE(w.driver->active());
  w.link->pump(*w.driver);
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::failed);
  EXPECT_FALSE(w.driver->active());
  EXPECT_NE(w.driver->status().message.find("no convolution to train"), std::string::npos) << w.driver->status().message;
}

TEST(FineTuneWorker, ALostWorkerOrBadBytesFromItFailTheSessionWithAReason) {
  Fixture f;
  Wired w = wired();
  w.driver->start(f.data(), f.config);
  w.driver->on_worker_lost("the fine-tuning worker stopped: out of memory");
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::failed);
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::none);
  EXPECT_FALSE(w.driver->active());
  EXPECT_EQ(w.driver->status().state, FineTuneStatus::State::failed);
  EXPECT_NE(w.driver->status().message.find("out of memory"), std::string::npos);

  w.driver->start(f.data(), f.config);
  std::vector<uint8_t> truncated = encode_model(f.base);
  truncated.resize(100);
  w.driver->on_finished(w.driver->session(), w.link->worker.status_json(), truncated.data(), truncated.size());
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::failed);
  EXPECT_NE(w.driver->status().message.find("could not be read"), std::string::npos) << w.driver->status().message;
  EXPECT_THROW(w.driver->result(), Error);

  w.driver->start(f.data(), f.config);
  w.driver->on_status(w.driver->session(), "{\"state\": \"dancing\"}");
  EXPECT_EQ(w.driver->tick(0), FineTuneDriver::Event::failed);
  EXPECT_NE(w.driver->status().message.find("bad status"), std::string::npos) << w.driver->status().message;
}

TEST(FineTuneWorker, TheWorkerRefusesABadRequestWithAFailedStatus) {
  Fixture f;
  FineTuneRequest r = make_fine_tune_request(f.data(), f.config);
  r.parts[FineTuneRequest::sample_labels].pop_back();  // a truncated part
  FineTuneWorker worker;
  EXPECT_FALSE(worker.start(r));
  EXPECT_FALSE(worker.active());
  double longest = -1;
  const FineTuneStatus s = fine_tune_status_from_json(worker.status_json(), &longest);
  EXPECT_EQ(s.state, FineTuneStatus::State::failed);
  EXPECT_NE(s.message.find("samples"), std::string::npos) << s.message;
  EXPECT_EQ(longest, 0);
}

TEST(FineTuneMessages, RequestsAndStatusesSurviveTheTripAndBadOnesAreNamed) {
  Fixture f;
  FineTuneConfig c = f.config;
  c.optimizer.kind = "sgd";
  c.optimizer.lr = 0.0125f;
  c.optimizer.clip_grad_norm = 2.5f;
  c.holdout = 0.f;
  c.shifted_copies = false;
  c.seed = 1234567890123ull;
  c.threads = 6;
  const Dataset none;
  const DecodedFineTuneRequest d = decode_fine_tune_request(make_fine_tune_request({f.base, none, f.probe, f.samples}, c));
  EXPECT_EQ(d.replay.size(), 0u);
  EXPECT_EQ(d.probe.images, f.probe.images);
  EXPECT_EQ(d.samples.images, f.samples.images);
  EXPECT_EQ(d.samples.labels, f.samples.labels);
  EXPECT_EQ(fine_tune_config_to_json(d.config), fine_tune_config_to_json(c));
  EXPECT_EQ(d.config.seed, c.seed);
  EXPECT_EQ(d.config.threads, 6);
  expect_same_params(d.base, f.base);

  FineTuneRequest r = make_fine_tune_request(f.data(), c);
  r.parts[FineTuneRequest::model].resize(64);
  try {
    decode_fine_tune_request(r);
    FAIL() << "a truncated model was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the model to fine-tune"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fine_tune_config_from_json("{\"epochs\": \"many\"}"), Error);
  EXPECT_ERROR_CONTAINS(fine_tune_config_from_json("{\"trainable\": \"everything\"}"), "'head', 'last-block' or 'all'");
  EXPECT_THROW(fine_tune_config_from_json("[1, 2]"), Error);
  EXPECT_THROW(fine_tune_config_from_json("{\"optimizer\": 3}"), Error);
  EXPECT_THROW(fine_tune_config_from_json("not json"), Error);

  FineTuneStatus s;
  s.state = FineTuneStatus::State::running;
  s.step = 7;
  s.total_steps = 40;
  s.work_done = 19;
  s.work_total = 60;
  s.loss_history = {2.5f, NAN, 0.25f};
  s.accuracy_history = {0.5f, 0.75f, 1.f};
  s.heldout_before = NAN;
  s.mnist_before = 0.985;
  s.ending = FineTuneStatus::Ending::no_improvement;
  s.heldout_history = {0.5f, NAN};
  s.eta_seconds = 12.5;
  s.message = "a \"quoted\" message";
  s.threads = 3;
  s.threads_note = "threads could not start: pthreadpool_create(4)";
  s.samples_before = 0.25;
  s.samples_after = NAN;
  s.sample_predictions = {3, 0, 9};
  double longest = 0;
  const FineTuneStatus back = fine_tune_status_from_json(fine_tune_status_to_json(s, 4.5), &longest);
  EXPECT_EQ(back.state, s.state);
  EXPECT_EQ(back.step, 7);
  EXPECT_EQ(back.total_steps, 40);
  EXPECT_FLOAT_EQ(back.progress(), s.progress());
  ASSERT_EQ(back.loss_history.size(), 3u);
  EXPECT_TRUE(std::isnan(back.loss_history[1]));
  EXPECT_EQ(back.accuracy_history, s.accuracy_history);
  EXPECT_TRUE(std::isnan(back.heldout_before));
  EXPECT_DOUBLE_EQ(back.mnist_before, 0.985);
  EXPECT_EQ(back.ending, FineTuneStatus::Ending::no_improvement);
  ASSERT_EQ(back.heldout_history.size(), 2u);
  EXPECT_TRUE(std::isnan(back.heldout_history[1]));
  EXPECT_DOUBLE_EQ(back.eta_seconds, 12.5);
  EXPECT_EQ(back.message, s.message);
  EXPECT_EQ(back.threads, 3);
  EXPECT_EQ(back.threads_note, s.threads_note);
  EXPECT_DOUBLE_EQ(back.samples_before, 0.25);
  EXPECT_TRUE(std::isnan(back.samples_after));
  EXPECT_EQ(back.sample_predictions, s.sample_predictions);
  for (const char* bad : {"[10]", "[-1]", "[1.5]", "\"7\"", "7"})
    EXPECT_ERROR_CONTAINS(fine_tune_status_from_json(std::string("{\"state\": \"done\", \"ending\": \"\", \"predictions\": ") + bad + "}", nullptr),
                          "predictions");
  EXPECT_EQ(longest, 4.5);
  EXPECT_THROW(fine_tune_status_from_json("{\"state\": 3}", nullptr), Error);
  EXPECT_THROW(fine_tune_status_from_json("{\"state\": \"running\", \"loss\": 1}", nullptr), Error);
}

}  // namespace
}  // namespace digitlab
