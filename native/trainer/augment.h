// Training-time augmentation for drawn digits, applied to a batch on the training device: a random
// affine warp (rotation, scale, translation, a little shear) and a stroke-thickness change. People
// draw digits tilted, off-centre, too big or too thin; MNIST's own digits vary less than that.
#pragma once
#include <torch/torch.h>

#include <string>

namespace digitlab {

struct AugmentOptions {
  bool enabled = true;
  float rotate_degrees = 12.f;   // uniform in [-r, r]
  float scale = 0.12f;           // factor uniform in [1 - s, 1 + s]
  float translate_pixels = 2.5f; // each axis uniform in [-t, t] (28-pixel image)
  float shear = 0.1f;            // x shear uniform in [-s, s]
  float thickness = 0.6f;        // stroke change uniform in [-k, k]: < 0 erodes, > 0 dilates (fraction of a 3x3 step)
};

// "none", "default", or a comma list like "rotate=15,scale=0.1,translate=3,shear=0,thickness=0.5".
// Throws Error for an unknown key or a value out of range.
AugmentOptions parse_augment_options(const std::string& text);
std::string describe(const AugmentOptions& options);

// images: (N, 1, H, W) in [0, 1]; returns a new batch. Uses torch's global generator (seeded by the trainer).
torch::Tensor augment_batch(const torch::Tensor& images, const AugmentOptions& options);

}  // namespace digitlab
