// Reads a picture of a digit (PNG, PGM/PPM, JPEG, BMP: whatever Debian's stb_image decodes) as a
// grayscale ink raster in [0, 1], ink = 1, whichever way round the file draws it.
#pragma once
#include <string>
#include <vector>

namespace digitlab {

struct InkImage {
  int width = 0, height = 0;
  std::vector<float> ink;  // row-major, 1 = full ink
  bool inverted = false;   // the file had dark ink on a light background
};

// Throws Error for an unreadable or undecodable file, or one larger than 4096 x 4096.
InkImage load_ink_image(const std::string& path);

}  // namespace digitlab
