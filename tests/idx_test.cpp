#include "digitlab/idx.h"

#include <array>

#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/gzip.h"
#include "malformed_inputs.h"
#include "test_support.h"

namespace digitlab {
namespace {

Dataset tiny_dataset() {
  Dataset d;
  d.rows = 3;
  d.cols = 2;
  d.labels = {7, 0, 9};
  for (int i = 0; i < 18; ++i) d.images.push_back(uint8_t(i * 14));
  return d;
}

TEST(Idx, PlainAndGzipRoundTrips) {
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "plain");
    const Dataset d = tiny_dataset();
    const std::string images = testing::output_path(gz ? "tiny-images.idx.gz" : "tiny-images.idx");
    const std::string labels = testing::output_path(gz ? "tiny-labels.idx.gz" : "tiny-labels.idx");
    save_dataset(d, images, labels, gz);
    const std::vector<uint8_t> raw = read_file_bytes(images);
    EXPECT_EQ(is_gzip(raw.data(), raw.size()), gz);
    const Dataset back = load_dataset(images, labels);
    EXPECT_EQ(back.rows, 3);
    EXPECT_EQ(back.cols, 2);
    EXPECT_EQ(back.labels, d.labels);
    EXPECT_EQ(back.images, d.images);
  }
}

TEST(Idx, WritesTheStandardHeader) {
  const std::vector<uint8_t> bytes = encode_idx(IdxArray{{2, 1, 1}, {5, 6}}, false);
  const std::vector<uint8_t> expected = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 5, 6};
  EXPECT_EQ(bytes, expected);
}

TEST(Idx, EmptySampleSetIsValidButEmpty) {
  Dataset d;
  d.rows = d.cols = 28;
  save_dataset(d, testing::output_path("empty-images.idx"), testing::output_path("empty-labels.idx"), false);
  EXPECT_EQ(load_dataset(testing::output_path("empty-images.idx"), testing::output_path("empty-labels.idx")).size(), 0u);
}

TEST(Idx, EveryMalformedFileGivesAClearError) {
  for (const auto& c : testing::malformed_idx()) {
    SCOPED_TRACE(c.name);
    EXPECT_ERROR_CONTAINS(decode_idx(c.bytes.data(), c.bytes.size()), c.expected_error);
  }
}

TEST(Idx, MismatchedPairsAreRejected) {
  const IdxArray images{{2, 2, 2}, std::vector<uint8_t>(8)};
  EXPECT_ERROR_CONTAINS(dataset_from_idx(images, IdxArray{{3}, {1, 2, 3}}), "holds 2 images but label file holds 3");
  EXPECT_ERROR_CONTAINS(dataset_from_idx(images, IdxArray{{2}, {1, 12}}), "label 1 is 12");
  EXPECT_ERROR_CONTAINS(dataset_from_idx(IdxArray{{8}, std::vector<uint8_t>(8)}, IdxArray{{8}, std::vector<uint8_t>(8)}),
                        "expected 3");
}

TEST(Gzip, InflationIsCappedAgainstBombs) {
  const std::vector<uint8_t> zeros(1 << 20, 0);
  const std::vector<uint8_t> bomb = gzip_compress(zeros.data(), zeros.size());
  EXPECT_LT(bomb.size(), 4096u);
  EXPECT_ERROR_CONTAINS(gunzip(bomb.data(), bomb.size(), 1000), "past the limit");
  EXPECT_EQ(gunzip(bomb.data(), bomb.size(), 1 << 20).size(), zeros.size());
}

// The real MNIST files: counts, shapes, label balance, and a known first label of each split.
TEST(Mnist, ReadsTheOriginalFiles) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const Dataset train = load_mnist(dir, MnistSplit::train);
  const Dataset test = load_mnist(dir, MnistSplit::test);
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_EQ(train.rows, 28);
  EXPECT_EQ(test.cols, 28);
  EXPECT_EQ(train.labels[0], 5);  // the famous first training digit is a 5
  EXPECT_EQ(test.labels[0], 7);   // and the first test digit a 7
  std::array<int, 10> counts{};
  for (uint8_t l : test.labels) counts[l]++;
  EXPECT_EQ(counts[1], 1135);
  EXPECT_EQ(counts[5], 892);
}

TEST(Mnist, TruncatedCopyOfARealFileIsRejected) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::vector<uint8_t> labels = read_file_bytes(dir + "/t10k-labels-idx1-ubyte.gz");
  const std::vector<uint8_t> cut(labels.begin(), labels.begin() + labels.size() - 100);
  EXPECT_ERROR_CONTAINS(decode_idx(cut.data(), cut.size()), "gzip data");
}

}  // namespace
}  // namespace digitlab
