// The drawing surface: strokes in canvas pixels, rasterised into an anti-aliased intensity image that
// preprocess_drawing() turns into the network's 28x28 input. No ImGui or browser code here, so it is
// tested natively.
#pragma once
#include <vector>

namespace digitlab {

struct Point {
  float x, y;
};

struct Stroke {
  std::vector<Point> points;
  float width;
};

class DrawingCanvas {
 public:
  explicit DrawingCanvas(int side = 280);

  void begin_stroke(Point p, float width);
  void extend_stroke(Point p);  // rasterises only the new segment
  void undo();                  // removes the last stroke and re-rasterises
  void clear();

  int side() const { return side_; }
  const std::vector<Stroke>& strokes() const { return strokes_; }
  const std::vector<float>& raster() const { return raster_; }  // side x side, ink = 1
  bool empty() const { return strokes_.empty(); }

 private:
  void rasterise_segment(Point a, Point b, float width);
  int side_;
  std::vector<Stroke> strokes_;
  std::vector<float> raster_;
};

}  // namespace digitlab
