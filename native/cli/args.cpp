#include "args.h"

#include <cmath>
#include <cstdlib>

#include "digitlab/error.h"

namespace digitlab {

Args::Args(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    const std::string t = argv[i];
    if (t == "--help" || t == "-h") {
      help_ = true;
      continue;
    }
    const size_t eq = t.find('=');
    if (t.rfind("--", 0) == 0 && eq != std::string::npos) {
      tokens_.push_back(t.substr(0, eq));
      tokens_.push_back(t.substr(eq + 1));
    } else {
      tokens_.push_back(t);
    }
  }
  used_.assign(tokens_.size(), false);
}

int Args::find(const std::string& name) {
  int found = -1;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i] != name || used_[i]) continue;
    if (found >= 0) throw Error(name + " given twice");
    found = int(i);
  }
  return found;
}

bool Args::flag(const std::string& name) {
  const int i = find(name);
  if (i < 0) return false;
  used_[size_t(i)] = true;
  return true;
}

std::vector<std::string> Args::values(const std::string& name, size_t count) {
  const int i = find(name);
  if (i < 0) return {};
  std::vector<std::string> out;
  used_[size_t(i)] = true;
  for (size_t k = 1; k <= count; ++k) {
    const size_t j = size_t(i) + k;
    if (j >= tokens_.size() || used_[j] || (tokens_[j].rfind("--", 0) == 0 && tokens_[j].size() > 2)) {
      throw Error(name + " needs " + std::to_string(count) + (count == 1 ? " value" : " values"));
    }
    used_[j] = true;
    out.push_back(tokens_[j]);
  }
  return out;
}

std::string Args::text(const std::string& name, const std::string& fallback) {
  const std::vector<std::string> v = values(name, 1);
  return v.empty() ? fallback : v[0];
}

double Args::number(const std::string& name, double fallback, double min, double max) {
  const std::vector<std::string> v = values(name, 1);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v[0].c_str(), &end);
  if (v[0].empty() || *end != '\0' || !std::isfinite(x)) throw Error(name + ": '" + v[0] + "' is not a number");
  if (x < min || x > max) {
    throw Error(name + " must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " + v[0] + ")");
  }
  return x;
}

int Args::integer(const std::string& name, int fallback, int min, int max) {
  const std::vector<std::string> v = values(name, 1);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v[0].c_str(), &end, 10);
  if (v[0].empty() || *end != '\0') throw Error(name + ": '" + v[0] + "' is not a whole number");
  if (x < min || x > max) {
    throw Error(name + " must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " + v[0] + ")");
  }
  return int(x);
}

std::vector<std::string> Args::rest() {
  std::vector<std::string> out;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (used_[i]) continue;
    if (tokens_[i].rfind("--", 0) == 0 && tokens_[i].size() > 2) throw Error("unknown option " + tokens_[i]);
    out.push_back(tokens_[i]);
  }
  return out;
}

std::string join_command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  return s;
}

}  // namespace digitlab
