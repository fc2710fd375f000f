// One XNNPACK convolution built from a shared conv2d layer, with XNNPACK's operator lifecycle:
// create (packs the weights once) -> reshape (per batch and input size) -> run (setup binds this
// call's buffers, then runs) -> delete. Activations are NHWC, as XNNPACK wants them.
#pragma once
#include "digitlab/architecture.h"
#include "xnn_support.h"

namespace digitlab {

class XnnConv2d {
 public:
  // weight in PyTorch OIHW layout (reordered to XNNPACK's OHWI here, once); bias may be null.
  XnnConv2d(const Layer& conv, const float* weight_oihw, const float* bias, bool fuse_relu);

  // For inputs (batch, h, w, in_channels): sizes the operator and its workspace. Call again only
  // when the batch or input size changes.
  void reshape(int batch, int h, int w);
  // in (batch, h, w, in_channels) -> out (batch, output_height(), output_width(), out_channels), at
  // the size of the last reshape. Throws Error before the first reshape.
  void run(const float* in_nhwc, float* out_nhwc);
  int output_height() const { return out_h_; }
  int output_width() const { return out_w_; }

 private:
  XnnOperator op_;
  XnnWorkspace workspace_;
  bool reshaped_ = false;
  int out_h_ = 0, out_w_ = 0;
};

}  // namespace digitlab
