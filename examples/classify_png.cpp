// The smallest use of the library: a model file and a picture of a digit in, ten probabilities out,
// through the XNNPACK engine (the one the page runs).
//
//   build/native/examples/classify_png models/digitlab-cnn.safetensors my-digit.png
//
// The picture may be dark ink on light paper or the reverse, any size; it is cropped, scaled and
// centred as MNIST's digits were (digitlab/preprocess.h) before the network sees it.
#include <cstdio>

#include "digitlab/error.h"
#include "digitlab/image_file.h"
#include "digitlab/preprocess.h"
#include "digitlab/reference.h"
#include "digitlab/safetensors.h"
#include "xnn_engine.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors DIGIT.png\n", argv[0]);
    return 2;
  }
  try {
    const digitlab::Model model = digitlab::load_model_file(argv[1]);
    digitlab::XnnEngine engine(model);

    const digitlab::InkImage image = digitlab::load_ink_image(argv[2]);
    float pixels[digitlab::kMnistSide * digitlab::kMnistSide];
    if (!digitlab::preprocess_drawing(image.ink.data(), image.width, image.height, pixels)) {
      std::fprintf(stderr, "%s: no ink found\n", argv[2]);
      return 1;
    }

    const std::vector<float> p = engine.probabilities(pixels, 1);
    for (size_t digit = 0; digit < p.size(); ++digit) std::printf("%zu %.4f\n", digit, p[digit]);
    std::printf("answer: %d\n", digitlab::argmax(p.data(), int(p.size())));
    return 0;
  } catch (const digitlab::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
