// Our engine as the browser benchmark (bench/web, `./run bench web`) calls it: a small wasm module
// with plain C entry points, so the bench page times it with the same performance.now() harness and
// the same "Float32Array of pixels in, Float32Array of logits out" contract as the peer libraries.
// It exposes what the page runs: the XNNPACK engine's forward pass, the trunk features before the
// classifier head, and one fine-tuning step of that head (TailTrainer, as FineTuner runs it).
// Errors are caught here and kept for wb_error(): an exception must not cross into JavaScript.
#include <emscripten.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "digitlab/error.h"
#include "digitlab/fine_tuning.h"
#include "digitlab/safetensors.h"
#include "tail_trainer.h"
#include "xnn_engine.h"
#include "xnn_int8_engine.h"

using namespace digitlab;

namespace {

struct Loaded {
  Model folded;  // batch norm folded: what the engine runs and the head trainer starts from
  std::unique_ptr<XnnEngine> engine;
  std::unique_ptr<XnnInt8Engine> int8;  // when set, wb_forward runs the int8 path
  std::unique_ptr<XnnEngine> winograd;  // when set, wb_forward runs Winograd convolutions
  std::unique_ptr<TailTrainer> head;
  std::unique_ptr<TailTrainer> full;  // every layer (issue 8's full-model fine-tuning)
  std::vector<float> normalised;      // a batch of images as the full trainer takes them
};

std::vector<std::unique_ptr<Loaded>> g_models;
std::string g_error;

Loaded* get(int handle) {
  if (handle < 0 || size_t(handle) >= g_models.size()) throw Error("no model with handle " + std::to_string(handle));
  return g_models[size_t(handle)].get();
}

template <typename F>
auto guarded(F&& f, decltype(f()) on_error) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    g_error = e.what();
    return on_error;
  }
}

// (Re)starts a trainer from layer `first` of the shipped weights: SGD with momentum (PyTorch's rule,
// as tfjs' momentum optimizer and ConvNetJS's trainer apply it), the matrix products the page uses.
std::unique_ptr<TailTrainer> sgd_trainer(const Loaded& m, size_t first, float lr, float momentum) {
  OptimizerOptions o;
  o.kind = "sgd";
  o.lr = lr;
  o.momentum = momentum;
  return std::make_unique<TailTrainer>(m.folded, first, o, 1);
}

}  // namespace

// (Re)starts one of the trainers from the shipped weights (see sgd_trainer).
static int reset_trainer(int handle, std::unique_ptr<TailTrainer> Loaded::*trainer, TrainableLayers layers, float lr, float momentum) {
  return guarded([&] {
    Loaded* m = get(handle);
    m->*trainer = sgd_trainer(*m, first_trainable_layer(m->folded.arch, layers), lr, momentum);
    return 0;
  }, -1);
}

extern "C" {

EMSCRIPTEN_KEEPALIVE const char* wb_error() { return g_error.c_str(); }

// A digitlab model file's bytes -> a handle (>= 0), or -1 (see wb_error).
EMSCRIPTEN_KEEPALIVE int wb_load(const uint8_t* bytes, int size) {
  return guarded([&] {
    auto m = std::make_unique<Loaded>();
    m->folded = fold_batch_norm(decode_model(bytes, size_t(size)));
    m->engine = std::make_unique<XnnEngine>(m->folded);
    g_models.push_back(std::move(m));
    return int(g_models.size() - 1);
  }, -1);
}

// pixels (batch, 28*28) in [0, 1] -> logits (batch, 10). 0 on success.
EMSCRIPTEN_KEEPALIVE int wb_forward(int handle, const float* pixels, int batch, float* logits) {
  return guarded([&] {
    Loaded* m = get(handle);
    if (m->int8) m->int8->forward(pixels, batch, logits);
    else if (m->winograd) m->winograd->forward(pixels, batch, logits);
    else m->engine->forward(pixels, batch, logits);
    return 0;
  }, -1);
}

// Switches wb_forward to the int8 path, calibrated on count images (28x28 in [0, 1]). 0 on success.
EMSCRIPTEN_KEEPALIVE int wb_use_int8(int handle, const float* calibration, int count) {
  return guarded([&] {
    Loaded* m = get(handle);
    m->int8 = std::make_unique<XnnInt8Engine>(m->folded, calibration, count);
    return 0;
  }, -1);
}

// Switches wb_forward to Winograd convolutions (same f32 results to rounding). 0 on success.
EMSCRIPTEN_KEEPALIVE int wb_use_winograd(int handle) {
  return guarded([&] {
    Loaded* m = get(handle);
    m->winograd = std::make_unique<XnnEngine>(m->folded, XnnEngine::Options{XnnEngine::Convolutions::winograd});
    return 0;
  }, -1);
}

// Values per image of the classifier head's input, in PyTorch's (c, h, w) order.
EMSCRIPTEN_KEEPALIVE int wb_head_input_size(int handle) {
  return guarded([&] { Loaded* m = get(handle); return m->engine->feature_size(first_trainable_layer(m->folded.arch, TrainableLayers::head)); }, -1);
}

EMSCRIPTEN_KEEPALIVE int wb_head_features(int handle, const float* pixels, int batch, float* features) {
  return guarded([&] {
    Loaded* m = get(handle);
    m->engine->features_before(first_trainable_layer(m->folded.arch, TrainableLayers::head), pixels, batch, features);
    return 0;
  }, -1);
}

EMSCRIPTEN_KEEPALIVE int wb_head_reset(int handle, float lr, float momentum) {
  return reset_trainer(handle, &Loaded::head, TrainableLayers::head, lr, momentum);
}

// One optimizer step on a batch of head inputs; returns the batch's mean loss (NaN on error).
EMSCRIPTEN_KEEPALIVE float wb_head_step(int handle, const float* features, const uint8_t* labels, int batch) {
  return guarded([&] {
    Loaded* m = get(handle);
    if (!m->head) throw Error("wb_head_reset first");
    return m->head->train_step(features, labels, batch).loss;
  }, __builtin_nanf(""));
}

// Every layer (batch norm folded).
EMSCRIPTEN_KEEPALIVE int wb_full_reset(int handle, float lr, float momentum) {
  return reset_trainer(handle, &Loaded::full, TrainableLayers::all, lr, momentum);
}

// One optimizer step of the whole network on a batch of images in [0, 1]; the batch's mean loss.
EMSCRIPTEN_KEEPALIVE float wb_full_step(int handle, const float* pixels, const uint8_t* labels, int batch) {
  return guarded([&] {
    Loaded* m = get(handle);
    if (!m->full) throw Error("wb_full_reset first");
    m->normalised.resize(size_t(batch) * m->folded.arch.input.size());
    m->engine->features_before(0, pixels, batch, m->normalised.data());  // (x - mean) / std
    return m->full->train_step(m->normalised.data(), labels, batch).loss;
  }, __builtin_nanf(""));
}

}  // extern "C"
