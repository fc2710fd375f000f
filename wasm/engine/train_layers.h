// Forward/backward pairs for the layers that fine-tune in the browser, llm.c style: plain loops over
// contiguous float buffers, shapes in the comment above each pair, gradients accumulated (+=) into
// buffers that mirror the parameters. No XNNPACK here on purpose: at the sizes of a classifier head
// the loops are as fast as an operator call, and it keeps this code linkable next to LibTorch, which
// the gradient tests compare it against (Debian's LibTorch must not share a binary with XNNPACK).
#pragma once
#include <cstdint>

namespace digitlab {

// inp (B, C), weight (OC, C) row-major as in PyTorch, bias (OC) or null -> out (B, OC)
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int C, int OC);
// dout (B, OC) -> dinp (B, C) (skipped when null), dweight (OC, C) +=, dbias (OC) += (skipped when null)
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int B, int C, int OC);

// inp (N) -> out (N); backward uses the forward output (relu's gradient is out > 0)
void relu_forward(float* out, const float* inp, int64_t N);
void relu_backward(float* dinp, const float* dout, const float* out, int64_t N);

// Inverted dropout: mask (N) holds 0 or 1/(1-p), drawn from rng_state; out = inp * mask.
void dropout_forward(float* out, float* mask, const float* inp, int64_t N, float p, uint64_t* rng_state);
void dropout_backward(float* dinp, const float* dout, const float* mask, int64_t N);

// logits (B, V), targets (B) -> probs (B, V); returns the mean cross-entropy over the batch
float softmax_cross_entropy_forward(float* probs, const float* logits, const uint8_t* targets, int B, int V);
// dlogits (B, V) = (probs - onehot(targets)) / B: the gradient of the mean loss
void softmax_cross_entropy_backward(float* dlogits, const float* probs, const uint8_t* targets, int B, int V);

}  // namespace digitlab
