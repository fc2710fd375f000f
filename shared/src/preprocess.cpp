#include "digitlab/preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace digitlab {

namespace {

// Area ("box") resampling weights along one axis: output cell o covers source interval
// [(o - offset) / scale, (o + 1 - offset) / scale); each source pixel contributes the length of its
// overlap with that interval, times scale so that weights of a cell sum to at most 1.
// This is exact anti-aliasing for downscaling and plain interpolation-free placement for upscaling.
std::vector<float> box_weights(int out_size, int src_begin, int src_end, double scale, double offset) {
  const int n = src_end - src_begin;
  std::vector<float> w(size_t(out_size) * size_t(n), 0.f);
  for (int o = 0; o < out_size; ++o) {
    const double lo = (o - offset) / scale + src_begin, hi = (o + 1 - offset) / scale + src_begin;
    const int first = std::max(src_begin, int(std::floor(lo))), last = std::min(src_end, int(std::ceil(hi)));
    for (int s = first; s < last; ++s) {
      const double overlap = std::min(hi, double(s + 1)) - std::max(lo, double(s));
      if (overlap > 0) w[size_t(o) * n + (s - src_begin)] = float(overlap * scale);
    }
  }
  return w;
}

// out (oh x ow) = Wy * crop * Wx^T, separable.
void resample(const float* raster, int width, int x0, int x1, int y0, int y1, double scale, double off_x,
              double off_y, int oh, int ow, float* out) {
  const std::vector<float> wx = box_weights(ow, x0, x1, scale, off_x);
  const std::vector<float> wy = box_weights(oh, y0, y1, scale, off_y);
  const int cw = x1 - x0, ch = y1 - y0;
  std::vector<float> rows(size_t(ch) * ow, 0.f);  // horizontal pass: every crop row -> ow columns
  for (int y = 0; y < ch; ++y) {
    const float* src = raster + size_t(y0 + y) * width + x0;
    for (int o = 0; o < ow; ++o) {
      const float* w = &wx[size_t(o) * cw];
      float acc = 0.f;
      for (int x = 0; x < cw; ++x) acc += w[x] * src[x];
      rows[size_t(y) * ow + o] = acc;
    }
  }
  for (int o = 0; o < oh; ++o) {
    const float* w = &wy[size_t(o) * ch];
    for (int x = 0; x < ow; ++x) {
      float acc = 0.f;
      for (int y = 0; y < ch; ++y) acc += w[y] * rows[size_t(y) * ow + x];
      out[size_t(o) * ow + x] = std::min(1.f, std::max(0.f, acc));
    }
  }
}

}  // namespace

bool preprocess_drawing(const float* raster, int width, int height, float* out, const PreprocessOptions& options) {
  std::fill(out, out + kMnistSide * kMnistSide, 0.f);
  if (!raster || width < 1 || height < 1) return false;

  int x0 = width, x1 = -1, y0 = height, y1 = -1;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      if (raster[size_t(y) * width + x] > options.ink_threshold) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
  if (x1 < 0) return false;  // no ink: nothing to classify
  ++x1;
  ++y1;

  const int cw = x1 - x0, ch = y1 - y0;
  const double scale = double(kMnistDigitBox) / std::max(cw, ch);

  // First pass: the digit scaled into a 20x20 box (top-left aligned) to find its centre of mass.
  float box[kMnistDigitBox * kMnistDigitBox];
  resample(raster, width, x0, x1, y0, y1, scale, 0.0, 0.0, kMnistDigitBox, kMnistDigitBox, box);
  double mass = 0, mx = 0, my = 0;
  for (int y = 0; y < kMnistDigitBox; ++y)
    for (int x = 0; x < kMnistDigitBox; ++x) {
      const double v = box[y * kMnistDigitBox + x];
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  if (mass <= 0) return false;
  mx /= mass;
  my /= mass;

  // Second pass straight from the source, shifted (by a fractional amount) so the centre of mass
  // lands on the centre of pixel (14, 14), where MNIST puts it (the mean centre of mass of the 60,000
  // training digits is pixel (14.007, 13.996)); one resampling keeps the result as sharp as possible.
  const double target = kMnistSide / 2 + 0.5;
  resample(raster, width, x0, x1, y0, y1, scale, target - mx, target - my, kMnistSide, kMnistSide, out);
  return true;
}

}  // namespace digitlab
