// The models a person can pick in the page: every shipped .safetensors file, plus one the person
// loaded from disk (kept in storage so it survives a reload). Each has its own fine-tuned copy in
// storage. What is shown (parameters, MNIST test accuracy) is read from the files themselves: the
// trainer records test_accuracy in each file's metadata, so the picker cannot disagree with them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "digitlab/model.h"

namespace digitlab {

struct ModelEntry {
  std::string id;              // file stem, e.g. "digitlab-cnn"; "loaded" for the person's file
  std::string label;           // shown in the picker
  std::string path;            // the weights, as shipped or loaded
  int64_t parameters = 0;
  int64_t macs = 0;            // multiply-adds per digit
  double test_accuracy = -1;   // MNIST test accuracy from the file's metadata; < 0 when not recorded
  bool loaded = false;         // the person's own file rather than a shipped one
};

// The picker's entry for a decoded, valid model (its file was checked when it was read).
ModelEntry describe_model(const Model& model, const std::string& id, const std::string& path);

class ModelLibrary {
 public:
  // shipped_dir: read-only folder of shipped models; storage_dir: the person's folder. Shipped
  // files that cannot be read are skipped and listed in problems(); default_id sorts first.
  void open(const std::string& shipped_dir, const std::string& storage_dir, const std::string& default_id);

  const std::vector<ModelEntry>& entries() const { return entries_; }
  int find(const std::string& id) const;  // index, or -1
  const std::vector<std::string>& problems() const { return problems_; }

  // Stores a (validated) model as the person's loaded model, replacing an earlier one and its
  // fine-tuned copy, and returns its index. Throws Error if it cannot be written.
  int add_loaded(const Model& model, const std::string& name);

  // Where the fine-tuned copy of entry i lives (may not exist).
  std::string tuned_path(size_t i) const;
  // The id picked last time ("" if none), and remembering a new pick.
  std::string saved_selection() const;
  void save_selection(const std::string& id) const;

 private:
  std::string tuned_path_for(const std::string& id) const;
  std::string storage_dir_;
  std::vector<ModelEntry> entries_;
  std::vector<std::string> problems_;
};

}  // namespace digitlab
