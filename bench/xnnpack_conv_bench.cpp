// Times the first two convolutions of seed-cnn through XNNPACK against the reference loop (the
// baseline, measured in the same run) and prints the figures. Built natively and for wasm (node).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "digitlab/architecture.h"
#include "digitlab/model.h"
#include "digitlab/presets.h"
#include "digitlab/reference.h"
#include "xnn_conv2d.h"

using namespace digitlab;
using Clock = std::chrono::steady_clock;

template <typename F>
double median_us(F&& f, int runs) {
  std::vector<double> t;
  for (int i = 0; i < 3; ++i) f();  // warm-up
  for (int i = 0; i < runs; ++i) {
    const auto a = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

int main() {
  const Model m = init_model(preset("seed-cnn"), 1);
  struct Case {
    int layer, h, batch;
  } cases[] = {{0, 28, 1}, {3, 14, 1}, {0, 28, 64}, {3, 14, 64}};
  std::printf("%-34s %8s %14s %14s %8s\n", "convolution (seed-cnn)", "batch", "reference us", "XNNPACK us", "speedup");
  for (const Case& c : cases) {
    const Layer& l = m.arch.layers[size_t(c.layer)];
    const float* w = m.params.at(l.name + ".weight").data.data();
    const float* b = m.params.at(l.name + ".bias").data.data();
    std::vector<float> x(size_t(c.batch) * l.in_channels * c.h * c.h, 0.5f), y(size_t(c.batch) * l.out_channels * c.h * c.h);
    XnnConv2d op(l, w, b, false);
    op.reshape(c.batch, c.h, c.h);
    const int runs = c.batch == 1 ? 200 : 10;
    const double ref = median_us([&] { conv2d_forward(y.data(), x.data(), w, b, c.batch, l.in_channels, c.h, c.h,
                                                      l.out_channels, 3, 1, 1, 1, 1); }, runs);
    const double xnn = median_us([&] { op.run(x.data(), y.data()); }, runs);
    std::printf("%-34s %8d %14.1f %14.1f %7.1fx\n", describe(l).c_str(), c.batch, ref, xnn, ref / xnn);
  }
  return 0;
}
