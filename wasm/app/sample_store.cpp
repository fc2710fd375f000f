#include "sample_store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "digitlab/error.h"
#include "digitlab/file_io.h"

namespace digitlab {
namespace {

constexpr size_t kPixels = size_t(SampleStore::kSide) * SampleStore::kSide, kRow = kPixels + 1;
constexpr const char* kChunkPrefix = "chunk-";

int chunk_id_of(const std::string& name) {  // "chunk-000012.idx" -> 12, else -1
  if (name.rfind(kChunkPrefix, 0) != 0 || name.size() != 16 || name.compare(12, 4, ".idx") != 0) return -1;
  int id = 0;
  for (size_t i = 6; i < 12; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    id = id * 10 + (name[i] - '0');
  }
  return id;
}

}  // namespace

std::string SampleStore::chunk_path(int id) const {
  char name[32];
  std::snprintf(name, sizeof name, "%s%06d.idx", kChunkPrefix, id);
  return dir_ + "/samples/" + name;
}

std::string SampleStore::open(const std::string& dir, std::function<void()> persist) {
  dir_ = dir;
  persist_ = std::move(persist);
  data_ = Dataset{};
  chunks_.clear();
  last_write_bytes_ = 0;
  ++index_epoch_;
  std::string notice;
  if (dir_.empty()) return notice;  // an in-memory store (tests, or before open)
  std::error_code ec;
  std::filesystem::create_directories(dir_ + "/samples", ec);
  std::vector<int> ids;
  for (const auto& f : std::filesystem::directory_iterator(dir_ + "/samples", ec))
    if (const int id = chunk_id_of(f.path().filename().string()); id >= 0) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  bool damaged = false;
  for (int id : ids) {
    try {
      const std::vector<uint8_t> bytes = read_file_bytes(chunk_path(id), kChunk * kRow + 64);
      const IdxArray a = decode_idx(bytes.data(), bytes.size());
      if (a.dims.size() != 2 || a.dims[1] != kRow || a.dims[0] == 0 || a.dims[0] > kChunk)
        throw Error("not a chunk of 28x28 samples");
      for (size_t k = 0; k < a.dims[0]; ++k) {
        const uint8_t* row = a.data.data() + k * kRow;
        if (row[kPixels] > 9) throw Error("a label is not a digit");
      }
      for (size_t k = 0; k < a.dims[0]; ++k) {
        const uint8_t* row = a.data.data() + k * kRow;
        data_.images.insert(data_.images.end(), row, row + kPixels);
        data_.labels.push_back(row[kPixels]);
      }
      chunks_.push_back({id, a.dims[0]});
    } catch (const Error& e) {
      // Kept under another name: the person may still want these bytes, and no save overwrites them.
      std::rename(chunk_path(id).c_str(), (chunk_path(id) + ".damaged").c_str());
      if (notice.empty()) notice = std::string("saved samples could not all be read (kept as *.damaged): ") + e.what();
      damaged = true;
    }
  }
  migrate_single_pair(notice);
  if (damaged && persist_) persist_();
  return notice;
}

// Before chunks, the samples were one IDX pair; they become chunks, then the pair goes.
void SampleStore::migrate_single_pair(std::string& notice) {
  const std::string images = dir_ + "/samples-images.idx", labels = dir_ + "/samples-labels.idx";
  if (!file_exists(images) && !file_exists(labels)) return;
  try {
    const Dataset old = load_dataset(images, labels);
    if (old.rows != kSide || old.cols != kSide) throw Error("images are not 28x28");
    const size_t first = size();
    data_.images.insert(data_.images.end(), old.images.begin(), old.images.end());
    data_.labels.insert(data_.labels.end(), old.labels.begin(), old.labels.end());
    int next_id = chunks_.empty() ? 1 : chunks_.back().id + 1;
    for (size_t at = first; at < size(); at += kChunk) {
      chunks_.push_back({next_id++, std::min(kChunk, size() - at)});
      write_chunk(chunks_.size() - 1);
    }
    std::remove(images.c_str());
    std::remove(labels.c_str());
  } catch (const Error& e) {
    for (const std::string& p : {images, labels})
      if (file_exists(p)) std::rename(p.c_str(), (p + ".damaged").c_str());
    if (notice.empty()) notice = std::string("saved samples could not be read (kept as *.damaged): ") + e.what();
  }
  if (persist_) persist_();
}

std::array<int, 10> SampleStore::counts() const {
  std::array<int, 10> c{};
  for (uint8_t l : data_.labels) ++c[l];
  return c;
}

void SampleStore::check_label(int label) {
  if (label < 0 || label > 9) throw Error("label " + std::to_string(label) + " is not a digit");
}

size_t SampleStore::chunk_of(size_t i, size_t* first) const {
  size_t at = 0;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    if (i < at + chunks_[c].count) {
      *first = at;
      return c;
    }
    at += chunks_[c].count;
  }
  throw Error("no sample " + std::to_string(i) + " (there are " + std::to_string(size()) + ")");
}

void SampleStore::write_chunk(size_t c) {
  if (dir_.empty()) return;
  size_t first = 0;
  for (size_t k = 0; k < c; ++k) first += chunks_[k].count;
  const Chunk& chunk = chunks_[c];
  if (chunk.count == 0) {
    std::remove(chunk_path(chunk.id).c_str());
    return;
  }
  IdxArray a{{uint32_t(chunk.count), uint32_t(kRow)}, std::vector<uint8_t>(chunk.count * kRow)};
  for (size_t k = 0; k < chunk.count; ++k) {
    std::copy_n(data_.image(first + k), kPixels, a.data.begin() + long(k * kRow));
    a.data[k * kRow + kPixels] = data_.labels[first + k];
  }
  const std::vector<uint8_t> bytes = encode_idx(a, /*gzip=*/false);
  write_file_atomically(chunk_path(chunk.id), bytes);
  last_write_bytes_ += bytes.size();
}

void SampleStore::changed() {
  if (persist_ && !dir_.empty()) persist_();
}

void SampleStore::add(const float* pixels, int label) {
  check_label(label);
  if (size() >= kMaxSamples) throw Error("the sample set is full (" + std::to_string(kMaxSamples) + " samples)");
  for (size_t i = 0; i < kPixels; ++i) data_.images.push_back(uint8_t(std::lround(std::clamp(pixels[i], 0.f, 1.f) * 255.f)));
  data_.labels.push_back(uint8_t(label));
  const bool new_chunk = chunks_.empty() || chunks_.back().count >= kChunk;
  if (new_chunk) chunks_.push_back({chunks_.empty() ? 1 : chunks_.back().id + 1, 0});
  ++chunks_.back().count;
  last_write_bytes_ = 0;
  try {
    write_chunk(chunks_.size() - 1);
  } catch (const Error&) {  // memory goes back to what the files hold
    data_.images.resize(data_.images.size() - kPixels);
    data_.labels.pop_back();
    if (new_chunk) chunks_.pop_back();
    else --chunks_.back().count;
    throw;
  }
  changed();
}

void SampleStore::remove(size_t i) {
  ++index_epoch_;  // even if the write fails and the sample is put back: a cache only reloads
  size_t first = 0;
  const size_t c = chunk_of(i, &first);
  const std::vector<uint8_t> pixels(data_.image(i), data_.image(i) + kPixels);  // put back if the write fails
  const uint8_t label = data_.labels[i];
  data_.images.erase(data_.images.begin() + long(i * kPixels), data_.images.begin() + long((i + 1) * kPixels));
  data_.labels.erase(data_.labels.begin() + long(i));
  --chunks_[c].count;
  last_write_bytes_ = 0;
  try {
    write_chunk(c);
  } catch (const Error&) {
    data_.images.insert(data_.images.begin() + long(i * kPixels), pixels.begin(), pixels.end());
    data_.labels.insert(data_.labels.begin() + long(i), label);
    ++chunks_[c].count;
    throw;
  }
  if (chunks_[c].count == 0) chunks_.erase(chunks_.begin() + long(c));
  changed();
}

void SampleStore::relabel(size_t i, int label) {
  size_t first = 0;
  const size_t c = chunk_of(i, &first);
  check_label(label);
  const uint8_t old = data_.labels[i];
  data_.labels[i] = uint8_t(label);
  last_write_bytes_ = 0;
  try {
    write_chunk(c);
  } catch (const Error&) {
    data_.labels[i] = old;
    throw;
  }
  changed();
}

size_t SampleStore::import_pair(const std::string& images_path, const std::string& labels_path) {
  const Dataset in = load_dataset(images_path, labels_path);  // checks counts and digit labels
  if (in.rows != kSide || in.cols != kSide)
    throw Error("images are " + std::to_string(in.rows) + "x" + std::to_string(in.cols) + "; samples are 28x28");
  if (in.size() == 0) throw Error("the files hold no samples");
  if (size() + in.size() > kMaxSamples)
    throw Error("importing " + std::to_string(in.size()) + " samples would exceed " + std::to_string(kMaxSamples));
  const Dataset before = data_;
  const std::vector<Chunk> chunks_before = chunks_;
  data_.images.insert(data_.images.end(), in.images.begin(), in.images.end());
  data_.labels.insert(data_.labels.end(), in.labels.begin(), in.labels.end());
  last_write_bytes_ = 0;
  try {
    // Fill the last chunk, then new ones.
    for (size_t left = in.size(); left > 0;) {
      if (chunks_.empty() || chunks_.back().count >= kChunk) chunks_.push_back({chunks_.empty() ? 1 : chunks_.back().id + 1, 0});
      const size_t take = std::min(left, kChunk - chunks_.back().count);
      chunks_.back().count += take;
      left -= take;
      write_chunk(chunks_.size() - 1);
    }
  } catch (const Error&) {  // the chunks written so far go back too
    for (size_t c = chunks_before.size(); c < chunks_.size(); ++c) std::remove(chunk_path(chunks_[c].id).c_str());
    data_ = before;
    chunks_ = chunks_before;
    if (!chunks_.empty()) write_chunk(chunks_.size() - 1);
    throw;
  }
  changed();
  return in.size();
}

void SampleStore::export_pair(const std::string& images_path, const std::string& labels_path) const {
  save_dataset(data_, images_path, labels_path, /*gzip=*/false);
}

}  // namespace digitlab
