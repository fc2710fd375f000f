#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace digitlab {

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, bool visible)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), live_(visible && isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  if (!live_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = seconds();
  const double rate = elapsed > 0 ? double(done) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - done) / rate : 0;
  constexpr int kWidth = 28;
  const int filled = total_ > 0 ? int(kWidth * done / total_) : kWidth;
  std::string bar(size_t(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld  %.0f %s/s  ETA %s  %s", label_.c_str(), bar.c_str(),
               (long long)done, (long long)total_, rate, unit_.c_str(), format_duration(eta).c_str(), extra.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (live_) std::fprintf(stderr, "\r\033[K");
}

std::string format_duration(double seconds) {
  char buf[32];
  if (seconds < 60) std::snprintf(buf, sizeof buf, "%.0f s", seconds);
  else if (seconds < 3600) std::snprintf(buf, sizeof buf, "%d min %02d s", int(seconds) / 60, int(seconds) % 60);
  else std::snprintf(buf, sizeof buf, "%d h %02d min", int(seconds) / 3600, int(seconds) % 3600 / 60);
  return buf;
}

}  // namespace digitlab
