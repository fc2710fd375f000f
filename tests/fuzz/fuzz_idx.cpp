// libFuzzer: IDX decoding (plain and gzip) and dataset pairing must only ever throw digitlab::Error.
#include <cstddef>
#include <cstdint>

#include "digitlab/error.h"
#include "digitlab/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const digitlab::IdxArray a = digitlab::decode_idx(data, size);
    // Pair the array with itself as images and labels: exercises every dataset check.
    digitlab::dataset_from_idx(a, a);
  } catch (const digitlab::Error&) {
  }
  return 0;
}
