#include "xnn_conv2d.h"

#include <xnnpack.h>

#include <cmath>
#include <vector>

#include "digitlab/error.h"
#include "network_layout.h"

namespace digitlab {

XnnConv2d::XnnConv2d(const Layer& l, const float* weight_oihw, const float* bias, bool fuse_relu) {
  if (l.kind != LayerKind::conv2d) throw Error("XnnConv2d needs a conv2d layer, got " + describe(l));
  if (!weight_oihw) throw Error("convolution " + l.name + " has no weights");
  xnn_ensure_initialized();
  const std::vector<float> ohwi = oihw_to_ohwi(weight_oihw, l);
  const float out_min = fuse_relu ? 0.f : -INFINITY;
  xnn_operator_t op = nullptr;
  xnn_check(xnn_create_convolution2d_nhwc_f32(l.padding, l.padding, l.padding, l.padding, l.kernel, l.kernel, l.stride,
                                              l.stride, l.dilation, l.dilation, l.groups, l.in_channels / l.groups,
                                              l.out_channels / l.groups, l.in_channels, l.out_channels, ohwi.data(),
                                              bias, out_min, INFINITY, /*flags=*/0, nullptr, nullptr, &op),
            "convolution create");
  op_.reset(op);
}

void XnnConv2d::reshape(int batch, int h, int w) {
  reshaped_ = false;  // stays false if XNNPACK refuses the size
  size_t workspace_size = 0, workspace_alignment = 0, oh = 0, ow = 0;
  xnn_check(xnn_reshape_convolution2d_nhwc_f32(op_.get(), size_t(batch), size_t(h), size_t(w), &workspace_size,
                                               &workspace_alignment, &oh, &ow, xnn_threadpool()),
            "convolution reshape");
  workspace_.resize(workspace_size, workspace_alignment);
  out_h_ = int(oh), out_w_ = int(ow);
  reshaped_ = true;
}

void XnnConv2d::run(const float* in, float* out) {
  if (!reshaped_) throw Error("convolution run before reshape");
  xnn_check(xnn_setup_convolution2d_nhwc_f32(op_.get(), workspace_.data(), in, out), "convolution setup");
  xnn_check(xnn_run_operator(op_.get(), xnn_threadpool()), "convolution run");
}

}  // namespace digitlab
