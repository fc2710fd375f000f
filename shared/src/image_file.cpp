#include "digitlab/image_file.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO  // decode from memory we read (and size-checked) ourselves
#define STBI_NO_HDR
#include <stb/stb_image.h>

#include "digitlab/error.h"
#include "digitlab/file_io.h"

namespace digitlab {

InkImage load_ink_image(const std::string& path) {
  constexpr int kMaxSide = 4096;
  const std::vector<uint8_t> bytes = read_file_bytes(path, size_t(64) << 20);
  if (bytes.size() > size_t(INT32_MAX)) throw Error(path + ": file too large");
  int w = 0, h = 0, channels = 0;
  const int len = int(bytes.size());
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &channels)) {
    throw Error(path + ": not an image stb_image can read (" + stbi_failure_reason() + ")");
  }
  if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide) {
    throw Error(path + ": image is " + std::to_string(w) + "x" + std::to_string(h) + ", limit is 4096x4096");
  }
  stbi_uc* gray = stbi_load_from_memory(bytes.data(), len, &w, &h, &channels, 1);
  if (!gray) throw Error(path + ": cannot decode image (" + std::string(stbi_failure_reason()) + ")");
  InkImage img;
  img.width = w;
  img.height = h;
  img.ink.resize(size_t(w) * size_t(h));
  double border = 0;
  int border_count = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float v = float(gray[size_t(y) * size_t(w) + size_t(x)]) / 255.f;
      img.ink[size_t(y) * size_t(w) + size_t(x)] = v;
      if (x == 0 || y == 0 || x == w - 1 || y == h - 1) {
        border += v;
        ++border_count;
      }
    }
  }
  stbi_image_free(gray);
  // A light border means dark ink on paper (a scan, a drawing app); MNIST and the model want light ink.
  if (border / border_count > 0.5) {
    img.inverted = true;
    for (float& v : img.ink) v = 1.f - v;
  }
  return img;
}

}  // namespace digitlab
