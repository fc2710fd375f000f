// A one-line progress bar for long loops (epochs, evaluation): done/total, rate, ETA. Redrawn in
// place on a terminal; on a pipe or a CI log it stays silent until finish(), so logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace digitlab {

class ProgressBar {
 public:
  // visible: false keeps it silent (every rank of a data-parallel job but rank 0).
  ProgressBar(std::string label, int64_t total, std::string unit = "img", bool visible = true);
  void update(int64_t done, const std::string& extra = "");  // throttled to ~10 redraws a second
  void finish();                                               // clears the live line
  double seconds() const;

 private:
  std::string label_, unit_;
  int64_t total_;
  bool live_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);  // "42 s", "3 min 05 s"

}  // namespace digitlab
