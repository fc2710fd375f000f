// Drawing -> MNIST input, the way MNIST itself was made (LeCun et al.): crop to the ink's bounding box,
// scale the longer side to 20 px keeping the aspect ratio (anti-aliased), and place it in a 28x28 field
// so that the ink's centre of mass sits at the centre (pixel 14, 14). Skipping this is why most drawing demos misread
// off-centre, small or large digits.
#pragma once

namespace digitlab {

constexpr int kMnistSide = 28;
constexpr int kMnistDigitBox = 20;

struct PreprocessOptions {
  // Pixels at or below this intensity (0..1) count as background when finding the bounding box, so
  // faint anti-aliasing or smudges far from the digit do not stretch it.
  float ink_threshold = 0.1f;
};

// raster: width x height intensities in [0, 1], row-major, ink = 1 and background = 0.
// out: 28 x 28 intensities in [0, 1]. Returns false (and writes all zeros) when there is no ink.
bool preprocess_drawing(const float* raster, int width, int height, float* out,
                        const PreprocessOptions& options = PreprocessOptions());

}  // namespace digitlab
