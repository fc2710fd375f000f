// One XNNPACK convolution built from a shared conv2d layer, following XNNPACK's operator lifecycle:
// create (packs the weights once) -> reshape (per input size) -> setup (binds buffers) -> run -> delete.
// The first building block of the XNNPACK engine; activations are NHWC, as XNNPACK wants them.
#pragma once
#include "digitlab/architecture.h"
#include "xnn_support.h"

namespace digitlab {

// Initialises XNNPACK once per process. Throws Error if the CPU or runtime is unsupported
// (e.g. a browser without wasm SIMD).
void xnn_ensure_initialized();

class XnnConv2d {
 public:
  // weight in PyTorch OIHW layout (converted to XNNPACK's OHWI here, once); bias may be null.
  XnnConv2d(const Layer& conv, const float* weight_oihw, const float* bias, bool fuse_relu);
  ~XnnConv2d();
  XnnConv2d(const XnnConv2d&) = delete;
  XnnConv2d& operator=(const XnnConv2d&) = delete;

  // in (batch, h, w, in_channels) -> out (batch, oh, ow, out_channels). Reshapes only when the input
  // size changes, so repeated calls at one size do no allocation.
  void run(const float* in_nhwc, float* out_nhwc, int batch, int h, int w);
  int output_height() const { return out_h_; }
  int output_width() const { return out_w_; }

 private:
  xnn_operator_t op_ = nullptr;
  int batch_ = 0, h_ = 0, w_ = 0, out_h_ = 0, out_w_ = 0;
  XnnWorkspace workspace_;
};

// Layout conversions between PyTorch's NCHW and XNNPACK's NHWC.
void nchw_to_nhwc(const float* in, float* out, int B, int C, int H, int W);
void nhwc_to_nchw(const float* in, float* out, int B, int C, int H, int W);

}  // namespace digitlab
