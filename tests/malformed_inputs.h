// Malformed weight and dataset files, each with a fragment its error message must contain. Used by
// the unit tests (every case must fail cleanly) and as seeds for the fuzzers.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "digitlab/architecture.h"
#include "digitlab/idx.h"
#include "digitlab/model.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"

namespace digitlab::testing {

struct MalformedInput {
  std::string name;
  std::vector<uint8_t> bytes;
  std::string expected_error;
};

inline std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

inline std::vector<uint8_t> small_model_bytes() {
  Model m = init_model(preset("dsconv"), 7);  // ~54 KB: small enough to be a useful fuzz seed
  return encode_model(m);
}

inline std::vector<MalformedInput> malformed_safetensors() {
  std::vector<MalformedInput> cases;
  const std::vector<uint8_t> good = small_model_bytes();
  cases.push_back({"empty", {}, "8-byte header length"});
  cases.push_back({"seven_bytes", {1, 0, 0, 0, 0, 0, 0}, "8-byte header length"});
  {
    std::vector<uint8_t> b = good;
    b[7] = 0x7f;  // header length ~ 9e18
    cases.push_back({"huge_header_length", b, "exceeds the file size"});
  }
  {
    std::vector<uint8_t> b(good.begin(), good.begin() + good.size() / 2);
    cases.push_back({"truncated_half", b, "past the"});
  }
  {
    std::vector<uint8_t> b(good.begin(), good.begin() + 40);
    cases.push_back({"truncated_in_header", b, "exceeds the file size"});
  }
  cases.push_back({"header_not_json", with_header("{not json", 0), "not a valid JSON object"});
  cases.push_back({"header_array", with_header("[1,2]", 0), "JSON object"});
  cases.push_back({"wrong_dtype", with_header(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4), "only F32"});
  cases.push_back({"shape_offsets_disagree",
                   with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "shape needs 12 bytes"});
  cases.push_back({"offsets_out_of_range",
                   with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "past the 4-byte data section"});
  cases.push_back({"offsets_reversed",
                   with_header(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), "begin after they end"});
  cases.push_back({"negative_dimension",
                   with_header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative integer"});
  cases.push_back({"overflowing_shape",
                   with_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
                   "exceeds the data section"});
  cases.push_back({"overlapping_tensors",
                   with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                   "overlap"});
  cases.push_back({"hole_in_data",
                   with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "belong to no tensor"});
  cases.push_back({"trailing_data",
                   with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12), "trailing bytes"});
  cases.push_back({"duplicate_tensor",
                   with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
                   "twice"});
  cases.push_back({"metadata_not_strings", with_header(R"({"__metadata__":{"x":1}})", 0), "is not a string"});
  cases.push_back({"deep_nesting", with_header(R"({"a":{"b":{"c":{"d":{"e":{"f":1}}}}}})", 0), "nests deeper"});
  return cases;
}

// Model-level problems: valid safetensors whose content does not fit the architecture.
inline std::vector<MalformedInput> malformed_models() {
  std::vector<MalformedInput> cases;
  Model m = init_model(preset("keras-cnn"), 7);
  auto encode_raw = [](const Model& model) {
    std::map<std::string, std::string> meta = {{"architecture", architecture_to_json(model.arch)}};
    return encode_safetensors(model.params, meta);
  };
  {
    Model bad = m;
    bad.params.at("fc2.weight").data[3] = NAN;
    cases.push_back({"nan_weight", encode_raw(bad), "non-finite value"});
  }
  {
    Model bad = m;
    bad.params.at("conv2.weight").shape = {64, 32, 9, 1};
    cases.push_back({"wrong_shape", encode_raw(bad), "has shape [64, 32, 9, 1]"});
  }
  {
    Model bad = m;
    bad.params.erase("fc1.bias");
    cases.push_back({"missing_tensor", encode_raw(bad), "lack tensor 'fc1.bias'"});
  }
  {
    Model bad = m;
    bad.params["extra.weight"] = Tensor{{1}, {0.f}};
    cases.push_back({"extra_tensor", encode_raw(bad), "does not use"});
  }
  cases.push_back({"no_architecture", encode_safetensors(m.params, {}), "no 'architecture'"});
  cases.push_back({"bad_architecture", encode_safetensors(m.params, {{"architecture", "{\"name\":1}"}}), "malformed architecture"});
  return cases;
}

inline std::vector<uint8_t> idx_bytes(std::vector<uint8_t> header, size_t data_bytes) {
  header.resize(header.size() + data_bytes, 7);
  return header;
}

inline std::vector<MalformedInput> malformed_idx() {
  std::vector<MalformedInput> cases;
  cases.push_back({"empty", {}, "shorter than its 4-byte magic"});
  cases.push_back({"wrong_magic", idx_bytes({0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 1}, 1), "not an IDX file"});
  cases.push_back({"float_type", idx_bytes({0, 0, 0x0D, 0x01, 0, 0, 0, 1}, 4), "float32"});
  cases.push_back({"zero_dims", idx_bytes({0, 0, 0x08, 0x00}, 0), "0 dimensions"});
  cases.push_back({"nine_dims", idx_bytes({0, 0, 0x08, 0x09}, 36), "9 dimensions"});
  cases.push_back({"header_truncated", idx_bytes({0, 0, 0x08, 0x03, 0, 0, 0, 2, 0, 0}, 0), "header is truncated"});
  cases.push_back({"lying_dims", idx_bytes({0, 0, 0x08, 0x03, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28}, 784 * 3), "truncated"});
  cases.push_back({"huge_dims", idx_bytes({0, 0, 0x08, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 16),
                   "promise more data"});
  cases.push_back({"trailing_bytes", idx_bytes({0, 0, 0x08, 0x01, 0, 0, 0, 4}, 6), "2 bytes beyond"});
  {
    IdxArray a{{100}, std::vector<uint8_t>(100, 3)};
    std::vector<uint8_t> gz = encode_idx(a, /*gzip=*/true);
    gz.resize(gz.size() / 2);
    cases.push_back({"gzip_truncated", gz, "gzip data"});
    std::vector<uint8_t> corrupt = encode_idx(a, true);
    for (size_t i = 12; i < corrupt.size() - 8; ++i) corrupt[i] ^= 0x5a;
    cases.push_back({"gzip_corrupt", corrupt, "gzip data is corrupt"});
  }
  return cases;
}

}  // namespace digitlab::testing
