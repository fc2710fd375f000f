// examples/classify_png as a newcomer runs it: a model file and a PNG of a digit in, ten
// probabilities and the answer out.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cstdio>
#include <sstream>

#include "digitlab/idx.h"
#include "test_support.h"

namespace digitlab {
namespace {

const std::string kModel = std::string(DIGITLAB_SOURCE_DIR) + "/models/digitlab-cnn.safetensors";

using CliRun = testing::CommandResult;
CliRun classify(const std::string& args) { return testing::run_command(std::string(DIGITLAB_CLASSIFY_PNG) + " " + args); }

// Digit d's probability from the example's "d p" lines, and its "answer: d" line.
struct Answer {
  std::vector<float> probabilities;
  int answer = -1;
};
Answer parse(const std::string& output) {
  Answer a;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    int d = 0;
    float p = 0;
    if (std::sscanf(line.c_str(), "answer: %d", &d) == 1) a.answer = d;
    else if (std::sscanf(line.c_str(), "%d %f", &d, &p) == 2 && d == int(a.probabilities.size())) a.probabilities.push_back(p);
  }
  return a;
}

// A grey picture (w x h, 0 = black) as a PNG file.
std::string write_png(const std::string& name, int w, int h, const std::vector<uint8_t>& grey) {
  const std::string path = testing::output_path(name);
  EXPECT_NE(stbi_write_png(path.c_str(), w, h, 1, grey.data(), w), 0);
  return path;
}

TEST(ClassifyPngExample, ReadsADarkOneOnWhitePaper) {
  // A pen stroke on paper, off-centre and much larger than MNIST's 20 px box.
  std::vector<uint8_t> paper(300 * 240, 255);
  for (int y = 30; y < 250; ++y)
    for (int x = 60; x < 78; ++x) paper[size_t(y) * 240 + size_t(x)] = 20;
  const CliRun r = classify(kModel + " " + write_png("example-one.png", 240, 300, paper));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Answer a = parse(r.output);
  ASSERT_EQ(a.probabilities.size(), 10u) << r.output;
  float sum = 0;
  for (float p : a.probabilities) sum += p;
  EXPECT_NEAR(sum, 1.f, 1e-3);
  EXPECT_EQ(a.answer, 1) << r.output;
  EXPECT_GT(a.probabilities[1], 0.9f) << r.output;
}

TEST(ClassifyPngExample, ReadsMnistTestDigitsDrawnAsPictures) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const Dataset test = load_mnist(dir, MnistSplit::test);
  int right = 0;
  const int n = 20;
  for (int i = 0; i < n; ++i) {
    // Each test digit 4x larger, black on white, as someone's scan of it would be.
    std::vector<uint8_t> big(112 * 112);
    for (int y = 0; y < 112; ++y)
      for (int x = 0; x < 112; ++x) big[size_t(y) * 112 + size_t(x)] = uint8_t(255 - test.image(size_t(i))[(y / 4) * 28 + x / 4]);
    const CliRun r = classify(kModel + " " + write_png("example-mnist.png", 112, 112, big));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    right += parse(r.output).answer == test.labels[size_t(i)];
  }
  EXPECT_GE(right, n - 1);
}

TEST(ClassifyPngExample, ABlankPictureOrAMissingFileIsAnErrorNotAnAnswer) {
  const CliRun blank = classify(kModel + " " + write_png("example-blank.png", 64, 64, std::vector<uint8_t>(64 * 64, 255)));
  EXPECT_EQ(blank.exit_code, 1);
  EXPECT_NE(blank.output.find("no ink"), std::string::npos) << blank.output;
  const CliRun missing = classify(kModel + " " + testing::output_path("no-such.png"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no-such.png"), std::string::npos) << missing.output;
  EXPECT_EQ(classify("").exit_code, 2);
}

}  // namespace
}  // namespace digitlab
