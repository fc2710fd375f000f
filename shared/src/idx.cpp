#include "digitlab/idx.h"

#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/gzip.h"

namespace digitlab {

namespace {

constexpr size_t kMaxIdxBytes = size_t(1) << 30;
constexpr int kMaxIdxDims = 4;

const char* idx_type_name(uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

std::string hex(uint8_t v) {
  const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[v >> 4] + digits[v & 15];
}

}  // namespace

IdxArray decode_idx(const uint8_t* bytes, size_t size) {
  std::vector<uint8_t> inflated;
  if (is_gzip(bytes, size)) {
    inflated = gunzip(bytes, size, kMaxIdxBytes);
    bytes = inflated.data();
    size = inflated.size();
  }
  if (size < 4) throw Error("IDX data is " + std::to_string(size) + " bytes, shorter than its 4-byte magic");
  if (bytes[0] != 0 || bytes[1] != 0)
    throw Error("not an IDX file: magic starts with " + hex(bytes[0]) + " " + hex(bytes[1]) + ", expected 0x00 0x00");
  if (bytes[2] != 0x08)
    throw Error("IDX element type " + hex(bytes[2]) + " (" + idx_type_name(bytes[2]) +
                ") is not supported; expected 0x08 (unsigned byte)");
  const int ndim = bytes[3];
  if (ndim < 1 || ndim > kMaxIdxDims) throw Error("IDX file has " + std::to_string(ndim) + " dimensions, expected 1 to 4");
  const size_t header = 4 + 4 * size_t(ndim);
  if (size < header) throw Error("IDX header is truncated: " + std::to_string(size) + " bytes");
  IdxArray out;
  size_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint8_t* p = bytes + 4 + 4 * d;
    const uint32_t dim = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    out.dims.push_back(dim);
    // Checked against the real byte count as we go, so the product cannot overflow.
    if (dim != 0 && count > (size - header) / dim)
      throw Error("IDX dimensions promise more data than the file holds (file truncated or dimensions wrong)");
    count *= dim;
  }
  const size_t have = size - header;
  if (have < count)
    throw Error("IDX data is truncated: dimensions promise " + std::to_string(count) + " bytes, the file holds " +
                std::to_string(have));
  if (have > count)
    throw Error("IDX file has " + std::to_string(have - count) + " bytes beyond what its dimensions describe");
  out.data.assign(bytes + header, bytes + size);
  return out;
}

std::vector<uint8_t> encode_idx(const IdxArray& array, bool gzip) {
  if (array.dims.empty() || array.dims.size() > size_t(kMaxIdxDims)) throw Error("IDX arrays have 1 to 4 dimensions");
  size_t count = 1;
  for (uint32_t d : array.dims) count *= d;
  if (count != array.data.size()) throw Error("IDX dimensions do not match the data size");
  std::vector<uint8_t> out = {0, 0, 0x08, uint8_t(array.dims.size())};
  for (uint32_t d : array.dims)
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(d >> s));
  out.insert(out.end(), array.data.begin(), array.data.end());
  return gzip ? gzip_compress(out.data(), out.size()) : out;
}

Dataset Dataset::slice(size_t first, size_t count) const {
  if (first > size() || count > size() - first)
    throw Error("images " + std::to_string(first) + ".." + std::to_string(first + count) + " are past the end of a set of " +
                std::to_string(size()));
  Dataset d;
  d.rows = rows;
  d.cols = cols;
  d.images.assign(image(first), image(first) + count * image_size());
  d.labels.assign(labels.begin() + long(first), labels.begin() + long(first + count));
  return d;
}

std::vector<float> dataset_pixels(const Dataset& data, const std::vector<uint32_t>& which) {
  const size_t n = data.image_size();
  std::vector<float> out(which.size() * n);
  for (size_t i = 0; i < which.size(); ++i) {
    if (which[i] >= data.size()) throw Error("no image " + std::to_string(which[i]) + " in a set of " + std::to_string(data.size()));
    const uint8_t* img = data.image(which[i]);
    for (size_t p = 0; p < n; ++p) out[i * n + p] = float(img[p]) / 255.f;
  }
  return out;
}

std::vector<float> dataset_pixels(const Dataset& data, size_t first, size_t count) {
  if (first > data.size() || count > data.size() - first) throw Error("images past the end of the set");
  std::vector<uint32_t> which(count);
  for (size_t i = 0; i < count; ++i) which[i] = uint32_t(first + i);
  return dataset_pixels(data, which);
}

Dataset dataset_from_idx(const IdxArray& images, const IdxArray& labels) {
  if (images.dims.size() != 3)
    throw Error("image file has " + std::to_string(images.dims.size()) + " dimensions, expected 3 (count, rows, cols)");
  if (labels.dims.size() != 1)
    throw Error("label file has " + std::to_string(labels.dims.size()) + " dimensions, expected 1 (count)");
  if (images.dims[0] != labels.dims[0])
    throw Error("image file holds " + std::to_string(images.dims[0]) + " images but label file holds " +
                std::to_string(labels.dims[0]) + " labels");
  if (images.dims[1] < 1 || images.dims[2] < 1 || images.dims[1] > 1024 || images.dims[2] > 1024)
    throw Error("images must be between 1x1 and 1024x1024 pixels");
  for (size_t i = 0; i < labels.data.size(); ++i)
    if (labels.data[i] > 9)
      throw Error("label " + std::to_string(i) + " is " + std::to_string(labels.data[i]) + ", not a digit 0-9");
  Dataset d;
  d.rows = int(images.dims[1]);
  d.cols = int(images.dims[2]);
  d.images = images.data;
  d.labels = labels.data;
  return d;
}

Dataset load_dataset(const std::string& images_path, const std::string& labels_path) {
  auto load = [](const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxIdxBytes);
    try {
      return decode_idx(bytes.data(), bytes.size());
    } catch (const Error& e) {
      throw Error("'" + path + "': " + e.what());
    }
  };
  const IdxArray images = load(images_path);
  const IdxArray labels = load(labels_path);
  try {
    return dataset_from_idx(images, labels);
  } catch (const Error& e) {
    throw Error("'" + images_path + "' + '" + labels_path + "': " + e.what());
  }
}

void save_dataset(const Dataset& d, const std::string& images_path, const std::string& labels_path, bool gzip) {
  if (d.images.size() != d.size() * size_t(d.rows) * size_t(d.cols)) throw Error("dataset images and labels disagree");
  IdxArray images{{uint32_t(d.size()), uint32_t(d.rows), uint32_t(d.cols)}, d.images};
  IdxArray labels{{uint32_t(d.size())}, d.labels};
  const std::vector<uint8_t> image_bytes = encode_idx(images, gzip);
  const std::vector<uint8_t> label_bytes = encode_idx(labels, gzip);
  write_file_atomically(images_path, image_bytes);
  write_file_atomically(labels_path, label_bytes);
}

Dataset load_mnist(const std::string& dir, MnistSplit split) {
  const std::string prefix = split == MnistSplit::train ? "train" : "t10k";
  auto pick = [&](const std::string& base) {
    const std::string plain = dir + "/" + base;
    if (file_exists(plain + ".gz")) return plain + ".gz";
    if (file_exists(plain)) return plain;
    throw Error("MNIST file '" + base + "[.gz]' not found in '" + dir + "' (run `./run data` to download MNIST)");
  };
  return load_dataset(pick(prefix + "-images-idx3-ubyte"), pick(prefix + "-labels-idx1-ubyte"));
}

std::string find_mnist_dir(const std::string& repo_root) {
  for (const std::string& dir : {repo_root + "/../shared/data/mnist", repo_root + "/data/mnist"}) {
    bool all = true;
    for (const char* base : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                             "t10k-labels-idx1-ubyte"})
      all = all && (file_exists(dir + "/" + base + ".gz") || file_exists(dir + "/" + base));
    if (all) return dir;
  }
  return "";
}

}  // namespace digitlab
