#include "canvas.h"

#include <algorithm>
#include <cmath>

namespace digitlab {

DrawingCanvas::DrawingCanvas(int side) : side_(side), raster_(size_t(side) * side, 0.f) {}

void DrawingCanvas::begin_stroke(Point p, float width) {
  strokes_.push_back(Stroke{{p}, width});
  rasterise_segment(p, p, width);
}

void DrawingCanvas::extend_stroke(Point p) {
  if (strokes_.empty()) return;
  Stroke& s = strokes_.back();
  const Point last = s.points.back();
  if (std::hypot(p.x - last.x, p.y - last.y) < 0.5f) return;  // ignore sub-pixel jitter
  s.points.push_back(p);
  rasterise_segment(last, p, s.width);
}

void DrawingCanvas::undo() {
  if (strokes_.empty()) return;
  strokes_.pop_back();
  std::fill(raster_.begin(), raster_.end(), 0.f);
  for (const Stroke& s : strokes_) {
    rasterise_segment(s.points[0], s.points[0], s.width);
    for (size_t i = 1; i < s.points.size(); ++i) rasterise_segment(s.points[i - 1], s.points[i], s.width);
  }
}

void DrawingCanvas::clear() {
  strokes_.clear();
  std::fill(raster_.begin(), raster_.end(), 0.f);
}

// A capsule (segment with round caps) of the pen's width; coverage falls off over one pixel at the
// edge for anti-aliasing. Max-blending makes the result independent of drawing order.
void DrawingCanvas::rasterise_segment(Point a, Point b, float width) {
  const float r = width / 2;
  const int x0 = std::max(0, int(std::floor(std::min(a.x, b.x) - r - 1)));
  const int x1 = std::min(side_ - 1, int(std::ceil(std::max(a.x, b.x) + r + 1)));
  const int y0 = std::max(0, int(std::floor(std::min(a.y, b.y) - r - 1)));
  const int y1 = std::min(side_ - 1, int(std::ceil(std::max(a.y, b.y) + r + 1)));
  const float dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      const float px = x + 0.5f - a.x, py = y + 0.5f - a.y;
      const float t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.f, 1.f) : 0.f;
      const float d = std::hypot(px - t * dx, py - t * dy);
      const float coverage = std::clamp(r + 0.5f - d, 0.f, 1.f);
      float& v = raster_[size_t(y) * side_ + x];
      v = std::max(v, coverage);
    }
}

}  // namespace digitlab
