// Forward/backward pairs for the layers that fine-tune in the browser, llm.c style: contiguous float
// buffers, shapes in the comment above each pair, gradients accumulated (+=) into buffers that mirror
// the parameters. Matrix products run on matmul.h's SIMD loops (no XNNPACK, so the tests that compare
// against LibTorch can link them: Debian's LibTorch must not share a binary with XNNPACK); scratch
// memory and the threads a call may use come from the caller's TrainWorkspace: every loop splits by
// images, channels or rows, so a result is the same bit for bit on any number of threads.
#pragma once
#include <cstdint>

#include "digitlab/reference.h"
#include "matmul.h"

namespace digitlab {

// inp (B, C), weight (OC, C) as in PyTorch, bias (OC) or null -> out (B, OC)
void linear_train_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int C, int OC,
                          TrainWorkspace& ws);
// dout (B, OC) -> dinp (B, C) (skipped when null), dweight (OC, C) +=, dbias (OC) += (skipped when null)
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int B, int C, int OC, TrainWorkspace& ws);

// relu: out = max(inp, 0) as reference.h's relu_forward; backward uses the forward output (the
// gradient passes where out > 0)
void relu_train_forward(float* out, const float* inp, int64_t N, TrainWorkspace& ws);
void relu_backward(float* dinp, const float* dout, const float* out, int64_t N, TrainWorkspace& ws);

// Inverted dropout: mask (N) holds 0 or 1/(1-p), drawn from rng_state; out = inp * mask.
void dropout_forward(float* out, float* mask, const float* inp, int64_t N, float p, uint64_t* rng_state);
void dropout_backward(float* dinp, const float* dout, const float* mask, int64_t N);

// Convolution as im2col + one matrix product per group over the whole batch (B*OH*OW rows).
// Geometry as in conv2d_forward (reference.h).
struct ConvGeometry {
  int C = 0, H = 0, W = 0, OC = 0, K = 1, stride = 1, pad = 0, dilation = 1, groups = 1;
  int OH() const { return (H + 2 * pad - dilation * (K - 1) - 1) / stride + 1; }
  int OW() const { return (W + 2 * pad - dilation * (K - 1) - 1) / stride + 1; }
  int64_t col_size() const { return int64_t(groups) * OH() * OW() * (C / groups) * K * K; }  // per image
};
// inp (B, C, H, W), weight (OC, C/groups, K, K), bias (OC) or null -> out (B, OC, OH, OW). Keeps the
// im2col matrix col (B, col_size) for the backward pass.
void conv2d_train_forward(float* out, float* col, const float* inp, const float* weight, const float* bias,
                          const ConvGeometry& g, int B, TrainWorkspace& ws);
// dout (B, OC, OH, OW) -> dinp (B, C, H, W) (skipped when null), dweight (OC, C/groups, K, K) +=,
// dbias (OC) += (skipped when null).
void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* col,
                     const float* weight, const ConvGeometry& g, int B, TrainWorkspace& ws);

// inp (B, C, H, W) -> out (B, C, OH, OW), argmax (B, C, OH, OW) = flat index into the input plane
void max_pool2d_train_forward(float* out, int32_t* argmax, const float* inp, int B, int C, int H, int W, int K, int stride,
                              TrainWorkspace& ws);
// dout (B, C, OH, OW) -> dinp (B, C, H, W) (zeroed first, then routed to each window's maximum)
void max_pool2d_backward(float* dinp, const float* dout, const int32_t* argmax, int B, int C, int H, int W, int OH, int OW,
                         TrainWorkspace& ws);

// dout (B, C) -> dinp (B, C, H, W) = dout / (H*W) everywhere
void global_avg_pool_backward(float* dinp, const float* dout, int B, int C, int H, int W);

// logits (B, V), targets (B) -> probs (B, V); returns the mean cross-entropy over the batch
float softmax_cross_entropy_forward(float* probs, const float* logits, const uint8_t* targets, int B, int V);
// dlogits (B, V) = (probs - onehot(targets)) / B: the gradient of the mean loss
void softmax_cross_entropy_backward(float* dlogits, const float* probs, const uint8_t* targets, int B, int V);

}  // namespace digitlab
