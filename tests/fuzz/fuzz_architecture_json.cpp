// libFuzzer: architecture JSON from weight-file metadata. Whatever parses must also be usable:
// shapes, parameter specs and counts are computed without overflow or huge allocations.
#include <cstddef>
#include <cstdint>
#include <string>

#include "digitlab/architecture.h"
#include "digitlab/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const digitlab::Architecture a = digitlab::architecture_from_json(std::string(reinterpret_cast<const char*>(data), size));
    digitlab::parameter_count(a);
    digitlab::multiply_adds(a);
    digitlab::architecture_from_json(digitlab::architecture_to_json(a));
  } catch (const digitlab::Error&) {
  }
  return 0;
}
