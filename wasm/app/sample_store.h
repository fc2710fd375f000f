// The person's labelled samples: 28x28 grey images with a digit label, in a storage folder (the
// page's is IndexedDB-backed). They live in chunk files of up to kChunk samples, each one IDX array
// of (n, 785) bytes: a sample's 784 pixels, then its label. A change rewrites only the chunk it
// touches, so adding, relabelling or deleting a sample costs the same at 10 samples as at 10,000,
// and every file is written whole and renamed into place, so a crash leaves each chunk either as it
// was or as it became; `persist` is called after each change (the page syncs IndexedDB there), and
// a sample is durable once that sync has finished. No ImGui or browser code: tests drive it directly.
#pragma once
#include <array>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "digitlab/idx.h"

namespace digitlab {

class SampleStore {
 public:
  static constexpr int kSide = 28;
  static constexpr size_t kMaxSamples = 20000;  // ~16 MB: far more than anyone labels by hand
  static constexpr size_t kChunk = 256;         // samples per file: the most one change rewrites (~200 KB)

  // Reads the chunks saved in dir (and the single IDX pair older versions kept, which becomes
  // chunks). A chunk that cannot be read is renamed to *.damaged (kept for the person, never
  // overwritten) and skipped; the reason is returned, else "".
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
  // Every sample as one IDX pair, the format `digitlab finetune --samples` reads.
  void export_pair(const std::string& images_path, const std::string& labels_path) const;

  // Bytes the last change wrote to storage: what makes a change cheap or not.
  size_t last_write_bytes() const { return last_write_bytes_; }
  // Changes whenever an index may now name another image (a deletion, reopening); adding,
  // importing and relabelling keep every index's image. Caches keyed by index check it.
  uint64_t index_epoch() const { return index_epoch_; }

 private:
  struct Chunk {
    int id = 0;        // file name
    size_t count = 0;  // samples in it
  };
  std::string chunk_path(int id) const;
  size_t chunk_of(size_t i, size_t* first) const;  // the chunk holding sample i, and its first sample
  void write_chunk(size_t c);                      // chunk c from data_, or its file removed if empty
  void changed();
  static void check_label(int label);
  void migrate_single_pair(std::string& notice);

  std::string dir_;
  std::function<void()> persist_;
  std::vector<Chunk> chunks_;
  Dataset data_;  // every sample, in order (28x28: Dataset's default)
  size_t last_write_bytes_ = 0;
  uint64_t index_epoch_ = 0;
};

}  // namespace digitlab
