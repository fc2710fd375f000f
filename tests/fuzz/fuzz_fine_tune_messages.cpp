// libFuzzer: the JSON the page and its fine-tuning worker exchange (session status, settings). The
// first byte picks which; whatever parses must survive the trip back to JSON and parse the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "digitlab/error.h"
#include "fine_tune/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] & 1) {
      double longest = 0;
      const digitlab::FineTuneStatus s = digitlab::fine_tune_status_from_json(text, &longest);
      const std::string again = digitlab::fine_tune_status_to_json(s, longest);
      if (digitlab::fine_tune_status_to_json(digitlab::fine_tune_status_from_json(again, &longest), longest) != again) std::abort();
      (void)s.progress();
    } else {
      const digitlab::FineTuneConfig c = digitlab::fine_tune_config_from_json(text);
      const std::string again = digitlab::fine_tune_config_to_json(c);
      if (digitlab::fine_tune_config_to_json(digitlab::fine_tune_config_from_json(again)) != again) std::abort();
    }
  } catch (const digitlab::Error&) {
  }
  return 0;
}
