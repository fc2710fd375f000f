// `digitlab predict`: classify image files or IDX image sets; one JSON line per image.
#include <cstdio>

#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/gzip.h"
#include "digitlab/idx.h"
#include "digitlab/preprocess.h"
#include "digitlab/safetensors.h"
#include "digitlab/image_file.h"
#include "torch_common.h"

namespace digitlab {
namespace {

bool looks_like_idx(const std::vector<uint8_t>& bytes) {
  if (is_gzip(bytes.data(), bytes.size())) return true;  // images are never gzip; IDX files often are
  return bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void run_predict(const PredictOptions& o) {
  if (o.preprocess != "drawing" && o.preprocess != "none") throw Error("--preprocess must be drawing or none");
  const Model model = load_model_file(o.model);
  const int side = model.arch.input.h;
  std::vector<std::string> names;
  std::vector<float> pixels;
  for (const std::string& path : o.inputs) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, size_t(256) << 20);
    if (looks_like_idx(bytes)) {
      const IdxArray a = decode_idx(bytes.data(), bytes.size());
      if (a.dims.size() != 3 || int(a.dims[1]) != side || int(a.dims[2]) != side) {
        throw Error(path + ": expected an IDX images file of N x " + std::to_string(side) + " x " + std::to_string(side));
      }
      for (uint32_t i = 0; i < a.dims[0]; ++i) names.push_back(path + "#" + std::to_string(i));
      for (uint8_t v : a.data) pixels.push_back(float(v) / 255.f);
      continue;
    }
    const InkImage img = load_ink_image(path);
    std::vector<float> digit(size_t(side) * size_t(side));
    if (o.preprocess == "drawing") {
      if (!preprocess_drawing(img.ink.data(), img.width, img.height, digit.data())) {
        throw Error(path + ": no ink found (a blank image?)");
      }
    } else {
      if (img.width != side || img.height != side) {
        throw Error(path + ": --preprocess none needs a " + std::to_string(side) + "x" + std::to_string(side) +
                    " image, this one is " + std::to_string(img.width) + "x" + std::to_string(img.height));
      }
      digit = img.ink;
    }
    names.push_back(path);
    pixels.insert(pixels.end(), digit.begin(), digit.end());
  }

  const torch::Device device = setup_runtime(o.common);
  TorchNet net(model, device);
  const int64_t n = int64_t(names.size());
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::from_blob(pixels.data(), {n, 1, side, side}, torch::kFloat32).to(device);
  torch::Tensor probs;
  {
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < n; b += 500) parts.push_back(torch::softmax(net.forward(rows(x, b, std::min(n, b + 500)), false), 1));
    probs = torch::cat(parts).to(torch::kCPU).contiguous();
  }
  const float* p = probs.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * 10;
    int best = 0;
    for (int c = 1; c < 10; ++c) if (row[c] > row[best]) best = c;
    std::printf("{\"input\":\"%s\",\"label\":%d,\"confidence\":%.6f,\"probabilities\":[", json_escape(names[size_t(i)]).c_str(),
                best, row[best]);
    for (int c = 0; c < 10; ++c) std::printf("%s%.6f", c ? "," : "", row[c]);
    std::printf("]}\n");
  }
}

}  // namespace digitlab
