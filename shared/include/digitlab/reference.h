// Plain, readable forward passes of every layer kind, in the style of llm.c: one function per layer,
// tensor shapes in the comment above it, NCHW layout as in PyTorch. Slow on purpose: this is the
// oracle that the LibTorch and XNNPACK backends are tested against.
#pragma once
#include <vector>

#include "digitlab/model.h"

namespace digitlab {

// inp (B, C, H, W), weight (OC, C/groups, K, K), bias (OC) or null -> out (B, OC, OH, OW)
// OH = (H + 2*pad - dilation*(K-1) - 1) / stride + 1, likewise OW; zero padding.
void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int C, int H, int W,
                    int OC, int K, int stride, int pad, int dilation, int groups);

// inp (B, C, H*W) -> out (B, C, H*W); y = gamma * (x - mean) / sqrt(var + eps) + beta per channel
void batch_norm2d_forward(float* out, const float* inp, const float* gamma, const float* beta, const float* mean,
                          const float* var, float eps, int B, int C, int HW);

// inp (N) -> out (N); out may equal inp
void relu_forward(float* out, const float* inp, int N);

// inp (B, C, H, W) -> out (B, C, (H-K)/stride+1, (W-K)/stride+1); windows never cross the border
void max_pool2d_forward(float* out, const float* inp, int B, int C, int H, int W, int K, int stride);

// inp (B, C, H, W) -> out (B, C)
void global_avg_pool_forward(float* out, const float* inp, int B, int C, int H, int W);

// inp (B, IN), weight (OUT, IN), bias (OUT) or null -> out (B, OUT)
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int B, int IN, int OUT);

// logits (B, V) -> probs (B, V), numerically stable
void softmax_forward(float* probs, const float* logits, int B, int V);

// The index of the largest of v[0..n) (the first one on ties): a network's answer from its logits.
int argmax(const float* v, int n);

// pixels (B, input.c, input.h, input.w) in [0, 1] -> logits (B, num_classes). Normalises with
// model.norm, then runs every layer (dropout is the identity at inference).
std::vector<float> reference_forward(const Model& model, const float* pixels, int B);

}  // namespace digitlab
