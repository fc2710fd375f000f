// Classification metrics for the ten digit classes: accuracy, per-class precision/recall/F1 and the
// confusion matrix, as the trainer prints them after eval and training.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace digitlab {

struct ConfusionMatrix {
  std::array<std::array<int64_t, 10>, 10> counts{};  // [true label][predicted label]

  void add(int label, int predicted) { counts[size_t(label)][size_t(predicted)] += 1; }
  int64_t total() const;
  double accuracy() const;  // 0 when empty
  double precision(int c) const;
  double recall(int c) const;
  double f1(int c) const;
  std::string report() const;  // per-class table, then the matrix
};

}  // namespace digitlab
