// Per-step timing for the engines' profile(): which operator a call spends its time in. Medians over
// runs, so one preempted run on a shared machine does not move the figure.
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

namespace digitlab {

// run_step(i) runs step i of a forward pass (steps in order, each reading the previous one's output);
// returns each step's median time in microseconds over `runs` passes.
template <typename RunStep>
std::vector<double> profile_steps(size_t steps, int runs, RunStep&& run_step) {
  std::vector<std::vector<double>> t(steps);
  for (int r = 0; r < runs; ++r)
    for (size_t i = 0; i < steps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      run_step(i);
      t[i].push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  std::vector<double> median;
  for (auto& v : t) {
    if (v.empty()) return std::vector<double>(steps, 0.0);
    std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
    median.push_back(v[v.size() / 2]);
  }
  return median;
}

}  // namespace digitlab
