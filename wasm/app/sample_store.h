// The person's labelled samples: 28x28 grey images with a digit label, kept as an IDX pair (the
// format the native trainer's `finetune --samples` reads) in a storage folder. Every change is
// written through at once and then `persist` is called (the page syncs IndexedDB there), so a crash
// or a closed tab loses nothing. No ImGui or browser code: the native tests drive it directly.
#pragma once
#include <array>
#include <cstddef>
#include <functional>
#include <string>

#include "digitlab/idx.h"

namespace digitlab {

class SampleStore {
 public:
  static constexpr int kSide = 28;
  static constexpr size_t kMaxSamples = 20000;  // ~15 MB: far more than anyone labels by hand

  // Reads the pair saved in dir, if any. A pair that cannot be read is renamed to *.damaged (kept
  // for the person, never overwritten) and the store starts empty; the reason is returned, else "".
  std::string open(const std::string& dir, std::function<void()> persist = {});

  size_t size() const { return data_.size(); }
  const Dataset& data() const { return data_; }
  const uint8_t* image(size_t i) const { return data_.image(i); }
  int label(size_t i) const { return data_.labels.at(i); }
  std::array<int, 10> counts() const;

  // pixels: 28x28 values in [0, 1] (the network's input). Throws Error for a label that is not a
  // digit or a full store; nothing changes then.
  void add(const float* pixels, int label);
  void remove(size_t i);                // throws Error for an index out of range
  void relabel(size_t i, int label);    // throws Error for a bad index or label
  // Appends the samples of an IDX pair; throws Error (store unchanged) for unreadable files, images
  // that are not 28x28, labels that are not digits or an empty pair. Returns how many were added.
  size_t import_pair(const std::string& images_path, const std::string& labels_path);

  std::string images_path() const { return dir_ + "/samples-images.idx"; }
  std::string labels_path() const { return dir_ + "/samples-labels.idx"; }

 private:
  void commit(Dataset next);
  static void check_label(int label);
  std::string dir_;
  std::function<void()> persist_;
  Dataset data_;  // 28x28 (Dataset's default)
};

}  // namespace digitlab
