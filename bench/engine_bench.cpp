// The engine's figures, native and under node (wasm SIMD), printed with their baselines from the
// same run: the reference forward pass, and a FLOP-bound estimate from a measured SIMD multiply-add
// peak of this runtime. Then fine-tuning throughput of the tail trainer and a whole fine-tuning
// session (200 samples x 20 epochs) as the page runs it. Uses the shipped models in models/.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "digitlab/file_io.h"
#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"
#include "fine_tuner.h"
#include "tail_trainer.h"
#include "pthreadpool_runner.h"
#include "task_runner.h"
#include "xnn_engine.h"
#include "xnn_int8_engine.h"

using namespace digitlab;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kRoot = DIGITLAB_SOURCE_DIR;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Timing {
  double median_us, p95_us;
};

template <typename F>
Timing time_us(F&& f, int runs, int warmup) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t(static_cast<size_t>(runs));
  for (double& x : t) {
    const auto a = Clock::now();
    f();
    x = seconds_since(a) * 1e6;
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[std::min(t.size() - 1, t.size() * 95 / 100)]};
}

// Peak f32 multiply-add rate of this runtime's SIMD: C independent accumulator chains (enough to
// hide each multiply-add's latency; the best of 8, 12 and 16 is kept, since how many fit in registers
// depends on how V8 maps wasm onto the CPU). wasm: 128-bit f32x4 mul + add (wasm SIMD has no fused
// multiply-add). Native: 256-bit AVX2 FMA when the CPU has it, as XNNPACK uses.
template <int C, typename V>
double peak_loop(V a, V b, long iters, int flops_per_op) {
  V c[C];
  for (int j = 0; j < C; ++j) c[j] = a * (0.5f + 0.05f * float(j));
  const auto t0 = Clock::now();
  for (long it = 0; it < iters; ++it)
    for (int j = 0; j < C; ++j) c[j] = c[j] * a + b;
  const double s = seconds_since(t0);
  V sum = c[0];
  for (int j = 1; j < C; ++j) sum += c[j];
  volatile float sink = sum[0];
  (void)sink;
  return double(iters) * C * double(sizeof(V) / sizeof(float)) * flops_per_op / s / 1e9;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) double peak_avx2_fma(long iters) {
  volatile float va = 0.999f, vb = 1e-4f;
  const __m256 a = _mm256_set1_ps(va), b = _mm256_set1_ps(vb);
  __m256 c[8];
  for (int i = 0; i < 8; ++i) c[i] = _mm256_set1_ps(0.5f + 0.1f * float(i));
  const auto t0 = Clock::now();
  for (long it = 0; it < iters; ++it) {
    c[0] = _mm256_fmadd_ps(c[0], a, b); c[1] = _mm256_fmadd_ps(c[1], a, b);
    c[2] = _mm256_fmadd_ps(c[2], a, b); c[3] = _mm256_fmadd_ps(c[3], a, b);
    c[4] = _mm256_fmadd_ps(c[4], a, b); c[5] = _mm256_fmadd_ps(c[5], a, b);
    c[6] = _mm256_fmadd_ps(c[6], a, b); c[7] = _mm256_fmadd_ps(c[7], a, b);
  }
  const double s = seconds_since(t0);
  __m256 sum = c[0];
  for (int i = 1; i < 8; ++i) sum = _mm256_add_ps(sum, c[i]);
  volatile float sink = _mm256_cvtss_f32(sum);
  (void)sink;
  return double(iters) * 8 * 8 * 2 / s / 1e9;
}
#endif

double simd_peak_once(std::string* what);

// Best of many short calls: V8 first runs wasm in its baseline compiler and swaps in optimised code
// only for later calls (a single long call would measure the baseline compiler).
double simd_peak_gflops(std::string* what) {
  double best = 0;
  for (int round = 0; round < 40; ++round) best = std::max(best, simd_peak_once(what));
  return best;
}

double simd_peak_once(std::string* what) {
  typedef float v4 __attribute__((vector_size(16)));
  const long iters = 2'000'000;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    *what = "256-bit AVX2 FMA";
    return peak_avx2_fma(iters);
  }
#endif
  *what = "128-bit multiply + add";
  volatile float va = 0.999f, vb = 1e-4f;
  const v4 a{va, va, va, va}, b{vb, vb, vb, vb};
  return std::max({peak_loop<8>(a, b, iters, 2), peak_loop<12>(a, b, iters, 2), peak_loop<16>(a, b, iters, 2)});
}

Model load_or_init(const std::string& name) {
  const std::string path = kRoot + "/models/" + name + ".safetensors";
  if (file_exists(path)) return load_model_file(path);
  std::printf("(models/%s.safetensors missing: random weights, same cost)\n", name.c_str());
  return init_model(preset(name), 1);
}

void bench_inference(const std::string& name, double peak_gflops) {
  const Model m = load_or_init(name);
  XnnEngine engine(m);
  const double mflop = 2.0 * double(multiply_adds(m.arch)) / 1e6;
  std::vector<float> pixels(64 * 784), logits(64 * 10);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = float((i * 2654435761u) % 256) / 255.f;
  const Timing b1 = time_us([&] { engine.forward(pixels.data(), 1, logits.data()); }, 1000, 50);
  const Timing b64 = time_us([&] { engine.forward(pixels.data(), 64, logits.data()); }, 30, 3);
  // Fewer operations: Winograd F(2x2,3x3) / F(4x4,3x3) for the multi-channel 3x3 convolutions, pools fused.
  XnnEngine winograd(m, {XnnEngine::Convolutions::winograd});
  const Timing w1 = time_us([&] { winograd.forward(pixels.data(), 1, logits.data()); }, 1000, 50);
  const Timing w64 = time_us([&] { winograd.forward(pixels.data(), 64, logits.data()); }, 30, 3);
  // The faster path: int8 where it pays, calibrated on 256 replay digits as the page does.
  const Dataset replay = load_dataset(kRoot + "/models/mnist-replay-1000-images.idx.gz", kRoot + "/models/mnist-replay-1000-labels.idx.gz");
  std::vector<float> calibration(256 * 784);
  for (size_t i = 0; i < calibration.size(); ++i) calibration[i] = float(replay.images[i]) / 255.f;
  XnnInt8Engine int8(m, calibration.data(), 256);
  const Timing q1 = time_us([&] { int8.forward(pixels.data(), 1, logits.data()); }, 1000, 50);
  const Timing q64 = time_us([&] { int8.forward(pixels.data(), 64, logits.data()); }, 30, 3);
  const std::vector<double> per_step = int8.profile(pixels.data(), 1, 300);
  std::string steps_text;
  for (size_t i = 0; i < per_step.size(); ++i) {
    char one[96];
    std::snprintf(one, sizeof one, "%s%s %.0f", i ? ", " : "", int8.plan()[i].c_str(), per_step[i]);
    steps_text += one;
  }
  auto f32_steps_text = [&](XnnEngine& e) {
    const std::vector<double> us = e.profile(pixels.data(), 1, 300);
    const std::vector<XnnEngine::StepInfo> info = e.steps();
    std::string text;
    for (size_t i = 0; i < us.size(); ++i) {
      char one[160];
      std::snprintf(one, sizeof one, "%s%s %.0f", i ? ", " : "", info[i].description.c_str(), us[i]);
      text += one;
    }
    return text;
  };
  const std::string direct_steps = f32_steps_text(engine), winograd_steps = f32_steps_text(winograd);
  const Timing r1 = time_us([&] { reference_forward(m, pixels.data(), 1); }, 20, 2);
  const Timing r64 = time_us([&] { reference_forward(m, pixels.data(), 64); }, 3, 1);
  const double bound_us = mflop / peak_gflops * 1e3;  // MFLOP / (GFLOP/s) = ms
  std::printf("\n%s: %.2f MFLOP per image (%lld parameters)\n", name.c_str(), mflop, (long long)parameter_count(m.arch));
  std::printf("  %-30s %12s %12s %14s\n", "", "b1 median", "b1 p95", "b64 img/s");
  std::printf("  %-30s %10.1f us %10.1f us %14.0f\n", "XNNPACK engine", b1.median_us, b1.p95_us, 64e6 / b64.median_us);
  std::printf("  %-30s %10.1f us %10.1f us %14.0f   (%.2fx the f32 engine at b1)\n", "Winograd, f32", w1.median_us,
              w1.p95_us, 64e6 / w64.median_us, b1.median_us / w1.median_us);
  std::printf("  %-30s %10.1f us %10.1f us %14.0f   (%.2fx the f32 engine at b1)\n", "int8 path (XNNPACK qs8)", q1.median_us,
              q1.p95_us, 64e6 / q64.median_us, b1.median_us / q1.median_us);
  std::printf("    f32 per step, b1, us: %s\n", direct_steps.c_str());
  std::printf("    Winograd per step, b1, us: %s\n", winograd_steps.c_str());
  std::printf("    int8 path per step, b1, us: %s\n", steps_text.c_str());
  std::printf("  %-30s %10.1f us %10.1f us %14.0f\n", "reference forward (baseline)", r1.median_us, r1.p95_us,
              64e6 / r64.median_us);
  std::printf("  %-30s %10.1f us %13s %14.0f\n", "FLOP bound at the SIMD peak", bound_us, "", 1e6 / bound_us);
  std::printf("  engine vs reference: %.0fx (b1), %.0fx (b64); fraction of the FLOP bound: %.0f%% (b1), %.0f%% (b64)\n",
              r1.median_us / b1.median_us, r64.median_us / b64.median_us, 100 * bound_us / b1.median_us,
              100 * bound_us * 64 / b64.median_us);
}

double bench_tail(const Model& folded, const std::string& what, size_t first, TaskRunner* runner = nullptr) {
  TailTrainer t(folded, first, OptimizerOptions{}, 1);
  t.set_runner(runner);
  const int B = 32;
  std::vector<float> x(size_t(B) * size_t(t.input_size()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 40503u) % 1000) / 500.f;
  std::vector<uint8_t> y(B);
  for (int i = 0; i < B; ++i) y[size_t(i)] = uint8_t(i % 10);
  const Timing s = time_us([&] { t.train_step(x.data(), y.data(), B); }, 50, 20);
  std::printf("  %-46s %9.3f ms/step %8.0f steps/s %9.0f samples/s  (%zu parameters)\n", what.c_str(), s.median_us / 1e3,
              1e6 / s.median_us, 32e6 / s.median_us, t.num_parameters());
  return s.median_us;
}

// Median time of each of fs, timed in turns (one run of each per round), so that a slower or faster
// spell of this machine (a VM's neighbours) falls on every one alike and their ratios hold. After
// each run its pool's threads are put to sleep (their spin would take the cores from the next).
std::vector<double> interleaved_median_us(const std::vector<std::function<void()>>& fs,
                                          const std::vector<std::unique_ptr<PthreadpoolRunner>>& pools, int rounds, int warmup) {
  std::vector<std::vector<double>> t(fs.size());
  for (int r = 0; r < warmup + rounds; ++r)
    for (size_t i = 0; i < fs.size(); ++i) {
      const auto a = Clock::now();
      fs[i]();
      if (r >= warmup) t[i].push_back(seconds_since(a) * 1e6);
      pools[i]->rest();
    }
  std::vector<double> medians;
  for (std::vector<double>& v : t) {
    std::sort(v.begin(), v.end());
    medians.push_back(v[v.size() / 2]);
  }
  return medians;
}

// Whole-network steps with the products on 1, 2 and 4 threads (the worker's pthreadpool,
// pthreadpool_runner.h), then batch-64 and single-digit inference with XNNPACK's operators on the
// same pool; each against 1 thread, timed in turns in this run. Only where threads can start:
// natively, or a -pthread wasm build.
void bench_threads(const Model& folded, const std::string& name) {
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
  // The baseline the -pthread build's figures are compared with (./run bench engine prints both).
  bench_tail(folded, name + " every layer, single-threaded build", 0);
#else
  const char* over = " (more threads than cores: oversubscribed)";
  const int cores = int(std::thread::hardware_concurrency());
  const std::vector<int> counts = {1, 2, 4};
  std::vector<std::unique_ptr<PthreadpoolRunner>> pools;
  for (int n : counts) pools.push_back(std::make_unique<PthreadpoolRunner>(n));

  const int B = 32;
  std::vector<std::unique_ptr<TailTrainer>> trainers;
  std::vector<float> x;
  std::vector<uint8_t> y(B);
  for (int i = 0; i < B; ++i) y[size_t(i)] = uint8_t(i % 10);
  std::vector<std::function<void()>> steps;
  for (auto& pool : pools) {
    trainers.push_back(std::make_unique<TailTrainer>(folded, 0, OptimizerOptions{}, 1));
    trainers.back()->set_runner(pool.get());
    if (x.empty()) {
      x.resize(size_t(B) * size_t(trainers.back()->input_size()));
      for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 40503u) % 1000) / 500.f;
    }
    steps.push_back([&, t = trainers.back().get()] { t->train_step(x.data(), y.data(), B); });
  }
  const std::vector<double> step_us = interleaved_median_us(steps, pools, 40, 10);
  for (size_t i = 0; i < counts.size(); ++i) {
    std::printf("  %-46s %9.3f ms/step %8.0f samples/s\n", (name + " every layer, " + std::to_string(counts[i]) + " thread(s)").c_str(),
                step_us[i] / 1e3, 32e6 / step_us[i]);
    if (i) std::printf("    -> %.2fx the 1-thread step [goal at 2 threads: <= 0.60x]%s\n", step_us[i] / step_us[0], counts[i] > cores ? over : "");
  }

  XnnEngine engine(folded);
  std::vector<float> pixels(64 * 784), logits(64 * 10);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = float((i * 2654435761u) % 256) / 255.f;
  std::vector<std::function<void()>> batch64, single;
  for (auto& pool : pools) {
    batch64.push_back([&, p = pool->pool()] { const ScopedXnnThreadpool s(p); engine.forward(pixels.data(), 64, logits.data()); });
    single.push_back([&, p = pool->pool()] {
      const ScopedXnnThreadpool s(p);
      for (int k = 0; k < 20; ++k) engine.forward(pixels.data(), 1, logits.data());
    });
  }
  const std::vector<double> b64 = interleaved_median_us(batch64, pools, 30, 3), b1 = interleaved_median_us(single, pools, 30, 3);
  for (size_t i = 0; i < counts.size(); ++i) {
    std::printf("  %-46s %9.0f digits/s at batch 64 %8.1f us per single digit\n",
                (name + " inference, " + std::to_string(counts[i]) + " thread(s)").c_str(), 64e6 / b64[i], b1[i] / 20);
    if (i) std::printf("    -> batch 64 %.2fx the 1-thread throughput [goal at 2 threads: >= 1.7x]; single digit %.2fx the 1-thread time%s\n",
                       b64[0] / b64[i], b1[i] / b1[0], counts[i] > cores ? over : "");
  }
#endif
}

// holdout 0 and no probe: every sample trains for the whole budget (the figures of earlier runs);
// the page holds out 20% (early stopping) and measures the 500 probe digits before and after.
double bench_session(const Model& m, const Dataset& samples, const Dataset& replay, TrainableLayers trainable, int threads = 1,
                     const Dataset& probe = Dataset{}, float holdout = 0.f) {
  FineTuneConfig c;
  c.trainable = trainable;
  c.threads = threads;
  c.large_slices = true;  // as the page's worker runs it
  c.holdout = holdout;
  const auto t0 = Clock::now();
  FineTuner tuner(m, replay, probe, c);
  tuner.start(samples);
  // The page interleaves slices with frames: the longest single slice bounds the frame time.
  double longest_ms = 0, t_prepare = 0;
  while (tuner.status().busy()) {
    const auto s0 = Clock::now();
    tuner.advance(1);
    longest_ms = std::max(longest_ms, seconds_since(s0) * 1e3);
    if (t_prepare == 0 && tuner.status().state != FineTuneStatus::State::preparing) t_prepare = seconds_since(t0);
  }
  const double total = seconds_since(t0);
  std::printf("  %-11s features + before %.2f s, %d steps + after %.2f s = %.2f s; %d slices, longest %.1f ms; %d thread(s)%s%s\n",
              trainable_layers_name(trainable), t_prepare, tuner.status().step, total - t_prepare, total, tuner.status().work_total, longest_ms,
              tuner.status().threads, tuner.status().threads_note.empty() ? "" : ": ", tuner.status().threads_note.c_str());
  return total;
}

}  // namespace

// `engine_bench inference` prints only the inference figures, `engine_bench steps` only the
// fine-tuning steps (each a minute or more less under node), `engine_bench threads` only the
// whole-network steps on 1, 2 and 4 threads.
int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
#if defined(__EMSCRIPTEN_PTHREADS__)
  std::printf("runtime: wasm32 SIMD128 (Emscripten), -pthread build\n");
#elif defined(__EMSCRIPTEN__)
  std::printf("runtime: wasm32 SIMD128 (Emscripten), 1 thread\n");
#else
  std::printf("runtime: native, 1 thread\n");
#endif
  std::string peak_kind;
  const double peak = simd_peak_gflops(&peak_kind);
  std::printf("SIMD multiply-add peak (%s, 1 thread): %.1f GFLOP/s\n", peak_kind.c_str(), peak);
  if (only != "steps" && only != "threads") {
    bench_inference("digitlab-cnn", peak);
    bench_inference("seed-cnn", peak);
  }
  if (only == "inference") return 0;

  if (only != "threads") {
    std::printf("\nfine-tuning steps, batch 32, on cached trunk features (all layers: on the images):\n");
    for (const char* name : {"digitlab-cnn", "seed-cnn"}) {
      const Model folded = fold_batch_norm(load_or_init(name));
      for (TrainableLayers t : kTrainableLayerChoices)
        bench_tail(folded, std::string(name) + " " + trainable_layers_description(t), first_trainable_layer(folded.arch, t));
    }
  }
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
  std::printf("\nwhole-network steps, batch 32, this single-threaded build (the threaded build's baseline):\n");
#else
  std::printf("\nwhole-network steps, batch 32, matrix products split over threads (%u cores here):\n",
              std::thread::hardware_concurrency());
#endif
  for (const char* name : {"seed-cnn", "digitlab-cnn"}) bench_threads(fold_batch_norm(load_or_init(name)), name);

  if (only == "steps") return 0;
  const std::string replay_images = kRoot + "/models/mnist-replay-1000-images.idx.gz";
  if (!file_exists(replay_images)) {
    std::printf("\n(models/mnist-replay-1000-*.idx.gz missing: no session figures)\n");
    return 0;
  }
  const Dataset replay = load_dataset(replay_images, kRoot + "/models/mnist-replay-1000-labels.idx.gz");
  const Dataset samples = replay.slice(0, 200);
  const Model m = load_or_init("digitlab-cnn");
  if (only == "threads") {
#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
    std::printf("\nwhole-network session, digitlab-cnn, 200 samples, 1,000 replay digits, on 1 and 2 threads:\n");
    const double t1 = bench_session(m, samples, replay, TrainableLayers::all, 1);
    const double t2 = bench_session(m, samples, replay, TrainableLayers::all, 2);
    std::printf("    -> %.2fx the 1-thread session [goal: <= 0.60x]\n", t2 / t1);
    const std::string probe_images = kRoot + "/models/mnist-test-500-images.idx.gz";
    if (file_exists(probe_images)) {
      const Dataset probe = load_dataset(probe_images, kRoot + "/models/mnist-test-500-labels.idx.gz");
      std::printf("the same as the page runs it: 20%% held out (early stopping), 500 MNIST probe digits measured before and after:\n");
      const double p1 = bench_session(m, samples, replay, TrainableLayers::all, 1, probe, 0.2f);
      const double p2 = bench_session(m, samples, replay, TrainableLayers::all, 2, probe, 0.2f);
      std::printf("    -> %.2fx the 1-thread session [goal (in the page): <= 0.60x]\n", p2 / p1);
    }
#endif
    return 0;
  }
  std::printf("\nfine-tuning session, digitlab-cnn, 200 samples x 20 epochs, 1,000 replay digits (as in the page):\n");
  for (TrainableLayers t : kTrainableLayerChoices) bench_session(m, samples, replay, t);
  return 0;
}
