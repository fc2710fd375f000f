#include "metrics.h"

#include <cstdio>

namespace digitlab {

int64_t ConfusionMatrix::total() const {
  int64_t t = 0;
  for (const auto& row : counts) for (int64_t v : row) t += v;
  return t;
}

double ConfusionMatrix::accuracy() const {
  int64_t right = 0;
  for (size_t c = 0; c < 10; ++c) right += counts[c][c];
  const int64_t t = total();
  return t ? double(right) / double(t) : 0.0;
}

double ConfusionMatrix::precision(int c) const {
  int64_t predicted = 0;
  for (size_t r = 0; r < 10; ++r) predicted += counts[r][size_t(c)];
  return predicted ? double(counts[size_t(c)][size_t(c)]) / double(predicted) : 0.0;
}

double ConfusionMatrix::recall(int c) const {
  int64_t actual = 0;
  for (int64_t v : counts[size_t(c)]) actual += v;
  return actual ? double(counts[size_t(c)][size_t(c)]) / double(actual) : 0.0;
}

double ConfusionMatrix::f1(int c) const {
  const double p = precision(c), r = recall(c);
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

std::string ConfusionMatrix::report() const {
  std::string out = "class  precision  recall     f1  support\n";
  char line[128];
  for (int c = 0; c < 10; ++c) {
    int64_t support = 0;
    for (int64_t v : counts[size_t(c)]) support += v;
    std::snprintf(line, sizeof line, "%5d  %9.4f  %6.4f  %.4f  %7lld\n", c, precision(c), recall(c), f1(c),
                  (long long)support);
    out += line;
  }
  out += "\nconfusion matrix (rows: true label, columns: predicted)\n     ";
  for (int c = 0; c < 10; ++c) {
    std::snprintf(line, sizeof line, "%6d", c);
    out += line;
  }
  out += "\n";
  for (int r = 0; r < 10; ++r) {
    std::snprintf(line, sizeof line, "%5d", r);
    out += line;
    for (int c = 0; c < 10; ++c) {
      std::snprintf(line, sizeof line, "%6lld", (long long)counts[size_t(r)][size_t(c)]);
      out += line;
    }
    out += "\n";
  }
  return out;
}

}  // namespace digitlab
