// IDX files (the MNIST format), plain or gzip-compressed, and image/label dataset pairs.
// User sample sets use the same pair of files, so the trainer reads what the browser exports.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace digitlab {

// An unsigned-byte IDX array (type 0x08), the only type MNIST and our sample sets use.
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

// Accepts plain or gzip bytes. Throws Error for a wrong magic, another element type, dimensions
// that disagree with the byte count (truncated file or trailing bytes), or an oversized inflation.
IdxArray decode_idx(const uint8_t* bytes, size_t size);
std::vector<uint8_t> encode_idx(const IdxArray& array, bool gzip);

struct Dataset {
  int rows = 28, cols = 28;
  std::vector<uint8_t> images;  // size() * rows * cols bytes, ink = 255
  std::vector<uint8_t> labels;  // 0..9
  size_t size() const { return labels.size(); }
  size_t image_size() const { return size_t(rows) * size_t(cols); }
  const uint8_t* image(size_t i) const { return images.data() + i * image_size(); }
  Dataset slice(size_t first, size_t count) const;  // images [first, first + count); throws Error past the end
};

// Images as the networks take them: pixels in [0, 1] (byte / 255), image after image.
std::vector<float> dataset_pixels(const Dataset& data, size_t first, size_t count);
std::vector<float> dataset_pixels(const Dataset& data, const std::vector<uint32_t>& which);

// Checks that images are N x rows x cols, labels are N, counts agree and labels are digits.
Dataset dataset_from_idx(const IdxArray& images, const IdxArray& labels);
Dataset load_dataset(const std::string& images_path, const std::string& labels_path);
void save_dataset(const Dataset& dataset, const std::string& images_path, const std::string& labels_path, bool gzip);

enum class MnistSplit { train, test };
// Reads train-images-idx3-ubyte[.gz] / t10k-... from dir (gzip or plain, whichever is present).
Dataset load_mnist(const std::string& dir, MnistSplit split);
// Where MNIST is for a checkout at repo_root: ../shared/data/mnist beside it (developers and CI),
// else data/mnist in it (where `./run data` downloads and verifies it); "" when neither holds all
// four files. Every tool and test looks here; only `./run data` downloads.
std::string find_mnist_dir(const std::string& repo_root);

}  // namespace digitlab
