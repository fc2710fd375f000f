#include "augment.h"

#include <cmath>
#include <sstream>

#include "digitlab/error.h"

namespace digitlab {

AugmentOptions parse_augment_options(const std::string& text) {
  AugmentOptions o;
  if (text.empty() || text == "default" || text == "on") return o;
  if (text == "none" || text == "off") {
    o.enabled = false;
    return o;
  }
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) throw Error("--augment: expected key=value, got '" + item + "'");
    const std::string key = item.substr(0, eq);
    float value = 0;
    try {
      size_t used = 0;
      value = std::stof(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw Error("--augment: '" + item + "' is not key=number");
    }
    const auto check = [&](float lo, float hi) {
      if (!(value >= lo && value <= hi)) {
        std::ostringstream msg;
        msg << "--augment: " << key << " must be in [" << lo << ", " << hi << "], got " << value;
        throw Error(msg.str());
      }
      return value;
    };
    if (key == "rotate") o.rotate_degrees = check(0, 90);
    else if (key == "scale") o.scale = check(0, 0.5f);
    else if (key == "translate") o.translate_pixels = check(0, 8);
    else if (key == "shear") o.shear = check(0, 0.5f);
    else if (key == "thickness") o.thickness = check(0, 1);
    else throw Error("--augment: unknown key '" + key + "' (rotate, scale, translate, shear, thickness)");
  }
  return o;
}

std::string describe(const AugmentOptions& o) {
  if (!o.enabled) return "none";
  std::ostringstream s;
  s << "rotate=" << o.rotate_degrees << ",scale=" << o.scale << ",translate=" << o.translate_pixels
    << ",shear=" << o.shear << ",thickness=" << o.thickness;
  return s.str();
}

torch::Tensor augment_batch(const torch::Tensor& images, const AugmentOptions& o) {
  if (!o.enabled) return images;
  namespace F = torch::nn::functional;
  const int64_t n = images.size(0);
  const auto opts = images.options();
  const auto uniform = [&](float r) { return (torch::rand({n}, opts) * 2 - 1) * r; };

  // Stroke thickness: blend towards a 3x3 dilation (thicker) or erosion (thinner), per image.
  torch::Tensor x = images;
  if (o.thickness > 0) {
    const torch::Tensor k = uniform(o.thickness).view({n, 1, 1, 1});
    const torch::Tensor dilated = torch::max_pool2d(images, 3, 1, 1);
    const torch::Tensor eroded = -torch::max_pool2d(-images, 3, 1, 1);
    x = images + k.abs() * (torch::where(k > 0, dilated, eroded) - images);
  }

  // Affine warp. affine_grid maps output coordinates in [-1, 1] to input coordinates, so the matrix
  // is the inverse of the warp we want; for uniform symmetric ranges the distinction does not matter.
  const float pi = 3.14159265358979f;
  const torch::Tensor angle = uniform(o.rotate_degrees * pi / 180.f);
  const torch::Tensor scale = 1 + uniform(o.scale);
  const torch::Tensor shear = uniform(o.shear);
  const float half_w = float(x.size(3)) / 2, half_h = float(x.size(2)) / 2;
  const torch::Tensor tx = uniform(o.translate_pixels / half_w);
  const torch::Tensor ty = uniform(o.translate_pixels / half_h);
  const torch::Tensor c = torch::cos(angle) / scale, s = torch::sin(angle) / scale;
  const torch::Tensor theta = torch::stack({torch::stack({c, -s + shear * c, tx}, 1),
                                            torch::stack({s, c + shear * s, ty}, 1)}, 1);
  const torch::Tensor grid = F::affine_grid(theta, x.sizes(), /*align_corners=*/false);
  return F::grid_sample(x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear)
                                          .padding_mode(torch::kZeros).align_corners(false));
}

}  // namespace digitlab
