#include "sample_store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "digitlab/error.h"
#include "digitlab/file_io.h"

namespace digitlab {

std::string SampleStore::open(const std::string& dir, std::function<void()> persist) {
  dir_ = dir;
  persist_ = std::move(persist);
  data_ = Dataset{};
  if (!file_exists(images_path()) && !file_exists(labels_path())) return "";
  try {
    Dataset d = load_dataset(images_path(), labels_path());
    if (d.rows != kSide || d.cols != kSide) throw Error("images are not 28x28");
    data_ = std::move(d);
    return "";
  } catch (const Error& e) {
    // Kept under another name: the person may still want these bytes, and the next save must not
    // overwrite them.
    for (const std::string& p : {images_path(), labels_path()})
      if (file_exists(p)) std::rename(p.c_str(), (p + ".damaged").c_str());
    if (persist_) persist_();
    return std::string("saved samples could not be read (kept as *.damaged): ") + e.what();
  }
}

std::array<int, 10> SampleStore::counts() const {
  std::array<int, 10> c{};
  for (uint8_t l : data_.labels) ++c[l];
  return c;
}

void SampleStore::check_label(int label) {
  if (label < 0 || label > 9) throw Error("label " + std::to_string(label) + " is not a digit");
}

void SampleStore::add(const float* pixels, int label) {
  check_label(label);
  if (size() >= kMaxSamples) throw Error("the sample set is full (" + std::to_string(kMaxSamples) + " samples)");
  Dataset next = data_;
  for (int i = 0; i < kSide * kSide; ++i)
    next.images.push_back(uint8_t(std::lround(std::clamp(pixels[i], 0.f, 1.f) * 255.f)));
  next.labels.push_back(uint8_t(label));
  commit(std::move(next));
}

void SampleStore::remove(size_t i) {
  if (i >= size()) throw Error("no sample " + std::to_string(i) + " (there are " + std::to_string(size()) + ")");
  const long per = kSide * kSide;
  Dataset next = data_;
  next.images.erase(next.images.begin() + long(i) * per, next.images.begin() + long(i + 1) * per);
  next.labels.erase(next.labels.begin() + long(i));
  commit(std::move(next));
}

void SampleStore::relabel(size_t i, int label) {
  if (i >= size()) throw Error("no sample " + std::to_string(i) + " (there are " + std::to_string(size()) + ")");
  check_label(label);
  Dataset next = data_;
  next.labels[i] = uint8_t(label);
  commit(std::move(next));
}

size_t SampleStore::import_pair(const std::string& images_path, const std::string& labels_path) {
  const Dataset in = load_dataset(images_path, labels_path);  // checks counts and digit labels
  if (in.rows != kSide || in.cols != kSide)
    throw Error("images are " + std::to_string(in.rows) + "x" + std::to_string(in.cols) + "; samples are 28x28");
  if (in.size() == 0) throw Error("the files hold no samples");
  if (size() + in.size() > kMaxSamples)
    throw Error("importing " + std::to_string(in.size()) + " samples would exceed " + std::to_string(kMaxSamples));
  Dataset next = data_;
  next.images.insert(next.images.end(), in.images.begin(), in.images.end());
  next.labels.insert(next.labels.end(), in.labels.begin(), in.labels.end());
  commit(std::move(next));
  return in.size();
}

// Writes first, then takes the new set: if writing fails (Error), memory still matches the files.
void SampleStore::commit(Dataset next) {
  if (!dir_.empty()) {  // empty: an in-memory store (tests, or before open)
    save_dataset(next, images_path(), labels_path(), /*gzip=*/false);
    if (persist_) persist_();
  }
  data_ = std::move(next);
}

}  // namespace digitlab
