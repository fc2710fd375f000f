// safetensors: 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw little-endian data. The reader treats every input as
// hostile: it checks every length and offset before touching data and names the problem in its Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "digitlab/model.h"

namespace digitlab {

struct SafetensorsContents {
  TensorMap tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" object (string values only)
};

// Only F32 tensors are read; other dtypes are rejected by name.
SafetensorsContents decode_safetensors(const uint8_t* bytes, size_t size);
std::vector<uint8_t> encode_safetensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata);

// Model files: safetensors whose metadata holds "format" = "digitlab-model/1", "architecture" (JSON,
// see architecture_to_json), "normalization" ({"mean":..,"std":..}) and any provenance entries.
std::vector<uint8_t> encode_model(const Model& model);
Model decode_model(const uint8_t* bytes, size_t size);  // validates tensors against the architecture

Model load_model_file(const std::string& path);
void save_model_file(const Model& model, const std::string& path);  // atomic: old file survives errors

}  // namespace digitlab
