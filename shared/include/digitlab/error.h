// The one exception type of the shared library. Every message names what was wrong and where,
// so that a command-line user or the web page can show it as is.
#pragma once
#include <stdexcept>
#include <string>

namespace digitlab {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace digitlab
