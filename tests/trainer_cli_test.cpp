// The command-line trainer as a shell user meets it: bad inputs give a clear message and a non-zero
// exit, and never overwrite an existing output file.
#include <cstdio>
#include <fstream>

#include "digitlab/file_io.h"
#include "digitlab/idx.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"
#include "test_support.h"

namespace digitlab {
namespace {

using CliRun = testing::CommandResult;
CliRun run_cli(const std::string& args) { return testing::run_command(std::string(DIGITLAB_CLI) + " " + args); }

std::string out(const std::string& name) { return testing::output_path("cli_" + name); }

// A file standing where an output would go; the test checks it survives a failed command.
std::string sentinel(const std::string& name) {
  const std::string p = out(name);
  std::ofstream(p) << "keep me";
  return p;
}
std::string read_text(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

#define EXPECT_FAILS_WITH(run, fragment)                                                   \
  do {                                                                                     \
    const CliRun r_ = (run);                                                                  \
    EXPECT_NE(r_.exit_code, 0) << r_.output;                                               \
    EXPECT_NE(r_.output.find(fragment), std::string::npos) << "output: " << r_.output;     \
  } while (0)

TEST(TrainerCli, MissingDataDirectoryNamesTheFile) {
  const std::string o = sentinel("missing.safetensors");
  EXPECT_FAILS_WITH(run_cli("train --arch seed-cnn --data /nonexistent/mnist --out " + o), "/nonexistent/mnist");
  EXPECT_EQ(read_text(o), "keep me");
}

TEST(TrainerCli, TruncatedDataFileIsReported) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::string d = out("truncated");
  std::system(("mkdir -p " + d).c_str());
  for (const char* f : {"train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    std::system(("cp " + dir + "/" + f + " " + d + "/").c_str());
  // The training images, decompressed and cut in the middle of an image.
  std::vector<uint8_t> raw = read_file_bytes(dir + "/train-images-idx3-ubyte.gz");
  const IdxArray images = decode_idx(raw.data(), raw.size());
  std::vector<uint8_t> bytes = encode_idx(images, false);
  bytes.resize(bytes.size() / 2 + 100);
  write_file_atomically(d + "/train-images-idx3-ubyte", bytes);
  const std::string o = sentinel("truncated.safetensors");
  EXPECT_FAILS_WITH(run_cli("train --arch seed-cnn --epochs 1 --data " + d + " --out " + o), "train-images");
  EXPECT_EQ(read_text(o), "keep me");
}

TEST(TrainerCli, WeightsOfAnotherArchitectureAreRefused) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::string w = out("seed.safetensors");
  save_model_file(init_model(preset("seed-cnn"), 1), w);
  const std::string o = sentinel("other-arch.safetensors");
  EXPECT_FAILS_WITH(run_cli("train --arch keras-cnn --init " + w + " --data " + dir + " --out " + o), "'seed-cnn'");
  EXPECT_EQ(read_text(o), "keep me");
}

TEST(TrainerCli, CorruptWeightsFileIsRefused) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::string w = out("corrupt.safetensors");
  std::ofstream(w) << "definitely not safetensors";
  EXPECT_FAILS_WITH(run_cli("eval --model " + w + " --data " + dir), "corrupt.safetensors");
}

TEST(TrainerCli, SampleSetsWithMismatchedCountsOrNoSamplesAreRefused) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::string w = out("base.safetensors");
  save_model_file(init_model(preset("seed-cnn"), 1), w);
  IdxArray images{{5, 28, 28}, std::vector<uint8_t>(5 * 784, 0)};
  IdxArray labels{{4}, std::vector<uint8_t>(4, 1)};
  write_file_atomically(out("img5.idx"), encode_idx(images, false));
  write_file_atomically(out("lab4.idx"), encode_idx(labels, false));
  const std::string o = sentinel("tuned.safetensors");
  EXPECT_FAILS_WITH(run_cli("finetune --model " + w + " --samples " + out("img5.idx") + " " + out("lab4.idx") +
                            " --data " + dir + " --out " + o),
                    "lab4.idx");
  EXPECT_EQ(read_text(o), "keep me");

  write_file_atomically(out("img0.idx"), encode_idx(IdxArray{{0, 28, 28}, {}}, false));
  write_file_atomically(out("lab0.idx"), encode_idx(IdxArray{{0}, {}}, false));
  EXPECT_FAILS_WITH(run_cli("finetune --model " + w + " --samples " + out("img0.idx") + " " + out("lab0.idx") +
                            " --data " + dir + " --out " + o),
                    "empty");
  EXPECT_EQ(read_text(o), "keep me");
}

TEST(TrainerCli, UnknownOptionsAndBadValuesAreNamed) {
  EXPECT_FAILS_WITH(run_cli("train --arch seed-cnn --epoch 3"), "--epoch");
  EXPECT_FAILS_WITH(run_cli("train --arch seed-cnn --epochs three"), "--epochs");
  EXPECT_FAILS_WITH(run_cli("train --arch no-such-net"), "no-such-net");
  EXPECT_FAILS_WITH(run_cli("train --augment rotate=500"), "rotate");
}

TEST(TrainerCli, PredictReadsImageFilesAndPrintsJson) {
  // A dark "1" on white paper, 100x100, as a plain PGM: predict must invert, crop and centre it.
  const std::string pgm = out("one.pgm");
  {
    std::ofstream f(pgm, std::ios::binary);
    f << "P5\n100 100\n255\n";
    for (int y = 0; y < 100; ++y)
      for (int x = 0; x < 100; ++x) f.put(char(x >= 45 && x < 55 && y >= 15 && y < 85 ? 0 : 255));
  }
  const std::string w = out("predict.safetensors");
  save_model_file(init_model(preset("seed-cnn"), 1), w);
  const CliRun r = run_cli("predict --model " + w + " " + pgm);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("{\"input\":\"" + pgm + "\",\"label\":"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"probabilities\":["), std::string::npos);
  EXPECT_FAILS_WITH(run_cli("predict --model " + w + " " + out("missing.png")), "missing.png");
  std::ofstream(out("garbage.png")) << "not a png";
  EXPECT_FAILS_WITH(run_cli("predict --model " + w + " " + out("garbage.png")), "garbage.png");
}

}  // namespace
}  // namespace digitlab

namespace digitlab {
namespace {

// What the browser exports after fine-tuning is a batch-norm-folded model with extra provenance: the
// native tool must read it and score it as the unfolded original.
TEST(TrainerCli, FoldedModelsFromTheEngineLoadAndEvaluate) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::string shipped = std::string(DIGITLAB_SOURCE_DIR) + "/models/digitlab-cnn.safetensors";
  if (!file_exists(shipped)) GTEST_SKIP() << "no shipped model";
  const std::string folded = out("folded.safetensors");
  const CliRun e = run_cli("export --model " + shipped + " --fold-batch-norm --out " + folded);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_EQ(load_model_file(folded).params.count("bn1.weight"), 0u);
  const CliRun r = run_cli("eval --model " + folded + " --data " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("accuracy 99.6"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace digitlab
