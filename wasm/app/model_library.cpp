#include "model_library.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/safetensors.h"

namespace digitlab {
namespace {

constexpr const char* kLoadedId = "loaded";

std::string stem_of(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

ModelEntry describe_model(const Model& model, const std::string& id, const std::string& path) {
  ModelEntry e;
  e.id = id;
  e.label = id;
  e.path = path;
  e.parameters = parameter_count(model.arch);
  e.macs = multiply_adds(model.arch);
  const auto acc = model.provenance.find("test_accuracy");
  if (acc != model.provenance.end()) {
    try {
      const double v = std::stod(acc->second);
      if (v >= 0.0 && v <= 1.0) e.test_accuracy = v;
    } catch (const std::exception&) {  // not a number: shown as unknown
    }
  }
  return e;
}

void ModelLibrary::open(const std::string& shipped_dir, const std::string& storage_dir, const std::string& default_id) {
  storage_dir_ = storage_dir;
  entries_.clear();
  problems_.clear();
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(shipped_dir, ec))
    if (f.path().extension() == ".safetensors") files.push_back(f.path().string());
  if (ec) problems_.push_back("cannot list " + shipped_dir + ": " + ec.message());
  std::sort(files.begin(), files.end(), [&](const std::string& a, const std::string& b) {
    const bool da = stem_of(a) == default_id, db = stem_of(b) == default_id;
    return da != db ? da : a < b;
  });
  for (const std::string& f : files) {
    try {
      entries_.push_back(describe_model(load_model_file(f), stem_of(f), f));
    } catch (const Error& e) {
      problems_.push_back(f + ": " + e.what());
    }
  }
  const std::string loaded = storage_dir_ + "/loaded.safetensors";
  if (!storage_dir_.empty() && file_exists(loaded)) {
    try {
      const Model m = load_model_file(loaded);
      ModelEntry e = describe_model(m, kLoadedId, loaded);
      const auto from = m.provenance.find("loaded_from");
      e.label = from != m.provenance.end() ? from->second : "my model";
      e.loaded = true;
      entries_.push_back(e);
    } catch (const Error& e) {
      problems_.push_back("your loaded model could not be read: " + std::string(e.what()));
    }
  }
}

int ModelLibrary::find(const std::string& id) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].id == id) return int(i);
  return -1;
}

int ModelLibrary::add_loaded(const Model& model, const std::string& name) {
  if (storage_dir_.empty()) throw Error("no storage folder for loaded models");
  Model copy = model;
  copy.provenance["loaded_from"] = name;
  const std::string path = storage_dir_ + "/loaded.safetensors";
  save_model_file(copy, path);
  std::remove(tuned_path_for(kLoadedId).c_str());  // belonged to the previous loaded model
  ModelEntry e = describe_model(copy, kLoadedId, path);
  e.label = name;
  e.loaded = true;
  const int existing = find(kLoadedId);
  if (existing >= 0) {
    entries_[size_t(existing)] = e;
    return existing;
  }
  entries_.push_back(e);
  return int(entries_.size()) - 1;
}

std::string ModelLibrary::tuned_path_for(const std::string& id) const {
  return storage_dir_ + "/" + id + ".fine-tuned.safetensors";
}

std::string ModelLibrary::tuned_path(size_t i) const { return tuned_path_for(entries_.at(i).id); }

std::string ModelLibrary::saved_selection() const {
  try {
    const std::vector<uint8_t> b = read_file_bytes(storage_dir_ + "/selected-model.txt", 256);
    return std::string(b.begin(), b.end());
  } catch (const Error&) {
    return "";
  }
}

void ModelLibrary::save_selection(const std::string& id) const {
  if (storage_dir_.empty()) return;
  write_file_atomically(storage_dir_ + "/selected-model.txt", std::vector<uint8_t>(id.begin(), id.end()));
}

}  // namespace digitlab
