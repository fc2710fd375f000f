// libFuzzer: any byte string given to the model loader must end in a model or a digitlab::Error,
// never a crash, hang, leak or out-of-bounds access (built with ASan and UBSan).
#include <cstddef>
#include <cstdint>

#include "digitlab/error.h"
#include "digitlab/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    digitlab::decode_model(data, size);
  } catch (const digitlab::Error&) {
  }
  try {
    digitlab::decode_safetensors(data, size);
  } catch (const digitlab::Error&) {
  }
  return 0;
}
