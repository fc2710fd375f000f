#include "xnn_conv2d.h"

#include <xnnpack.h>

#include <cmath>
#include <string>

#include "digitlab/error.h"
#include "xnn_support.h"

namespace digitlab {

void xnn_ensure_initialized() {
  static const xnn_status status = xnn_initialize(nullptr);
  if (status != xnn_status_success)
    throw Error("XNNPACK could not initialise (status " + std::to_string(int(status)) +
                "): this CPU or browser lacks the required SIMD support");
}

XnnConv2d::XnnConv2d(const Layer& l, const float* weight_oihw, const float* bias, bool fuse_relu) {
  if (l.kind != LayerKind::conv2d) throw Error("XnnConv2d needs a conv2d layer, got " + describe(l));
  xnn_ensure_initialized();
  const int gin = l.in_channels / l.groups, gout = l.out_channels / l.groups, K = l.kernel;
  // OIHW -> OHWI: XNNPACK reads, per output channel, the kernel window with input channels innermost.
  std::vector<float> ohwi(size_t(l.out_channels) * K * K * gin);
  for (int o = 0; o < l.out_channels; ++o)
    for (int i = 0; i < gin; ++i)
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw)
          ohwi[((size_t(o) * K + kh) * K + kw) * gin + i] = weight_oihw[((size_t(o) * gin + i) * K + kh) * K + kw];
  const float out_min = fuse_relu ? 0.f : -INFINITY;
  xnn_check(xnn_create_convolution2d_nhwc_f32(l.padding, l.padding, l.padding, l.padding, K, K, l.stride, l.stride,
                                              l.dilation, l.dilation, l.groups, gin, gout, l.in_channels,
                                              l.out_channels, ohwi.data(), bias, out_min, INFINITY, /*flags=*/0,
                                              nullptr, nullptr, &op_),
            "convolution create");
}

XnnConv2d::~XnnConv2d() {
  if (op_) xnn_delete_operator(op_);
}

void XnnConv2d::run(const float* in, float* out, int batch, int h, int w) {
  if (batch != batch_ || h != h_ || w != w_) {
    size_t workspace_size = 0, workspace_alignment = 0, oh = 0, ow = 0;
    xnn_check(xnn_reshape_convolution2d_nhwc_f32(op_, size_t(batch), size_t(h), size_t(w), &workspace_size,
                                                 &workspace_alignment, &oh, &ow, nullptr),
              "convolution reshape");
    workspace_.resize(workspace_size, workspace_alignment);
    batch_ = batch, h_ = h, w_ = w, out_h_ = int(oh), out_w_ = int(ow);
  }
  xnn_check(xnn_setup_convolution2d_nhwc_f32(op_, workspace_.data(), in, out), "convolution setup");
  xnn_check(xnn_run_operator(op_, nullptr), "convolution run");
}

void nchw_to_nhwc(const float* in, float* out, int B, int C, int H, int W) {
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c)
      for (int p = 0; p < H * W; ++p) out[(size_t(b) * H * W + p) * C + c] = in[(size_t(b) * C + c) * H * W + p];
}

void nhwc_to_nchw(const float* in, float* out, int B, int C, int H, int W) {
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c)
      for (int p = 0; p < H * W; ++p) out[(size_t(b) * C + c) * H * W + p] = in[(size_t(b) * H * W + p) * C + c];
}

}  // namespace digitlab
