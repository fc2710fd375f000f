#include "digitlab/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "digitlab/error.h"
#include "digitlab/file_io.h"

namespace digitlab {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 16u << 20;  // a model header is a few KiB; 16 MiB is generous
constexpr int kMaxDims = 8;
constexpr const char* kFormat = "digitlab-model/1";

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void append_le64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

bool host_is_little_endian() {
  const uint32_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

uint64_t get_u64(const json& v, const std::string& what) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
    throw Error(what + " must be a non-negative integer");
  return v.get<uint64_t>();
}

}  // namespace

SafetensorsContents decode_safetensors(const uint8_t* bytes, size_t size) {
  if (!host_is_little_endian()) throw Error("safetensors reading needs a little-endian host");
  if (size < 8)
    throw Error("file is " + std::to_string(size) + " bytes; a safetensors file starts with an 8-byte header length");
  const uint64_t header_len = read_le64(bytes);
  if (header_len > size - 8)
    throw Error("header length " + std::to_string(header_len) + " exceeds the file size (" + std::to_string(size) +
                " bytes): the file is truncated or not safetensors");
  if (header_len > kMaxHeaderBytes) throw Error("header length " + std::to_string(header_len) + " is implausibly large");
  if (header_len < 2 || bytes[8] != '{') throw Error("header must be a JSON object starting with '{'");

  // Duplicate keys are legal JSON, but a file naming a tensor twice is ambiguous: reject it. The
  // callback also bounds nesting depth, which no valid header exceeds.
  std::set<std::string> top_keys;
  std::string duplicate;
  bool too_deep = false;
  json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > 4) too_deep = true;
    if (event == json::parse_event_t::key && depth == 1) {
      const std::string key = parsed.get<std::string>();
      if (!top_keys.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  json header = json::parse(header_begin, header_begin + header_len, check, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) throw Error("header is not a valid JSON object");
  if (too_deep) throw Error("header nests deeper than any valid safetensors header");
  if (!duplicate.empty()) throw Error("header names '" + duplicate.substr(0, 80) + "' twice");

  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  SafetensorsContents out;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw Error("__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw Error("__metadata__ entry '" + m.key().substr(0, 80) + "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor '" + name.substr(0, 80) + "'";
    if (name.empty() || name.size() > 256) throw Error("tensor names must have 1 to 256 characters");
    if (!v.is_object()) throw Error(what + ": entry must be an object");
    auto dtype = v.find("dtype");
    auto shape = v.find("shape");
    auto offsets = v.find("data_offsets");
    if (dtype == v.end() || !dtype->is_string()) throw Error(what + ": missing string 'dtype'");
    if (shape == v.end() || !shape->is_array()) throw Error(what + ": missing array 'shape'");
    if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2)
      throw Error(what + ": 'data_offsets' must be [begin, end]");
    if (dtype->get<std::string>() != "F32")
      throw Error(what + " has dtype " + dtype->get<std::string>().substr(0, 16) + "; only F32 is supported");
    if (shape->size() > size_t(kMaxDims)) throw Error(what + ": too many dimensions");
    Entry e;
    e.name = name;
    uint64_t numel = 1;
    for (const json& d : *shape) {
      const uint64_t dim = get_u64(d, what + ": shape entries");
      if (dim > data_size) throw Error(what + ": dimension " + std::to_string(dim) + " exceeds the data section");
      numel = dim == 0 ? 0 : numel * dim;
      if (numel > data_size) throw Error(what + ": shape needs more bytes than the file holds");
      e.shape.push_back(int64_t(dim));
    }
    e.begin = get_u64((*offsets)[0], what + ": data_offsets");
    e.end = get_u64((*offsets)[1], what + ": data_offsets");
    if (e.begin > e.end) throw Error(what + ": data_offsets begin after they end");
    if (e.end > data_size)
      throw Error(what + ": data_offsets end at " + std::to_string(e.end) + ", past the " + std::to_string(data_size) +
                  "-byte data section (file truncated?)");
    if (e.end - e.begin != numel * 4)
      throw Error(what + ": shape needs " + std::to_string(numel * 4) + " bytes but data_offsets span " +
                  std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }

  // The data section must be covered exactly: no overlaps (two tensors aliasing bytes) and no holes.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < cursor)
      throw Error("tensors '" + entries[i - 1].name.substr(0, 80) + "' and '" + e.name.substr(0, 80) + "' overlap");
    if (e.begin > cursor)
      throw Error("bytes " + std::to_string(cursor) + ".." + std::to_string(e.begin) + " of the data section belong to no tensor");
    cursor = e.end;
  }
  if (cursor != data_size)
    throw Error("the data section has " + std::to_string(data_size - cursor) + " trailing bytes that belong to no tensor");

  for (const Entry& e : entries) {
    Tensor t;
    t.shape = e.shape;
    t.data.resize(size_t((e.end - e.begin) / 4));
    if (!t.data.empty()) std::memcpy(t.data.data(), data + e.begin, size_t(e.end - e.begin));
    out.tensors[e.name] = std::move(t);
  }
  return out;
}

std::vector<uint8_t> encode_safetensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
  if (!host_is_little_endian()) throw Error("safetensors writing needs a little-endian host");
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (int64_t(t.data.size()) != t.numel()) throw Error("tensor '" + name + "' has a shape that does not match its data");
    const uint64_t bytes = uint64_t(t.data.size()) * 4;
    header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text += ' ';  // keep the data 8-byte aligned, as the format recommends
  std::vector<uint8_t> out;
  out.reserve(8 + text.size() + offset);
  append_le64(out, text.size());
  out.insert(out.end(), text.begin(), text.end());
  for (const auto& [name, t] : tensors) {
    const size_t at = out.size();
    out.resize(at + t.data.size() * 4);
    if (!t.data.empty()) std::memcpy(out.data() + at, t.data.data(), t.data.size() * 4);
  }
  return out;
}

std::vector<uint8_t> encode_model(const Model& model) {
  validate_parameters(model.arch, model.params);
  std::map<std::string, std::string> metadata = model.provenance;
  metadata["format"] = kFormat;
  metadata["architecture"] = architecture_to_json(model.arch);
  metadata["normalization"] = json{{"mean", model.norm.mean}, {"std", model.norm.std}}.dump();
  return encode_safetensors(model.params, metadata);
}

Model decode_model(const uint8_t* bytes, size_t size) {
  SafetensorsContents contents = decode_safetensors(bytes, size);
  auto arch = contents.metadata.find("architecture");
  if (arch == contents.metadata.end())
    throw Error("the file has no 'architecture' in its metadata: it is not a digitlab model "
                "(the models `digitlab train` and `finetune` and the page write carry theirs; plain safetensors "
                "weights from elsewhere do not say which network they belong to)");
  Model m;
  m.arch = architecture_from_json(arch->second);
  auto norm = contents.metadata.find("normalization");
  if (norm != contents.metadata.end()) {
    json j = json::parse(norm->second, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("mean") || !j.contains("std") || !j["mean"].is_number() ||
        !j["std"].is_number())
      throw Error("metadata 'normalization' must be {\"mean\": number, \"std\": number}");
    m.norm.mean = j["mean"].get<float>();
    m.norm.std = j["std"].get<float>();
    if (!std::isfinite(m.norm.mean) || !std::isfinite(m.norm.std) || !(m.norm.std > 1e-6f))
      throw Error("metadata 'normalization' has a non-finite mean or a non-positive std");
  }
  for (auto& [key, value] : contents.metadata)
    if (key != "architecture" && key != "normalization" && key != "format") m.provenance[key] = value;
  validate_parameters(m.arch, contents.tensors);
  m.params = std::move(contents.tensors);
  return m;
}

Model load_model_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, size_t(1) << 30);
  try {
    return decode_model(bytes.data(), bytes.size());
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
}

void save_model_file(const Model& model, const std::string& path) { write_file_atomically(path, encode_model(model)); }

}  // namespace digitlab
