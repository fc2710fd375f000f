// A small option parser for the subcommands: "--name value", "--name=value" and boolean flags, with an
// error for anything unknown or malformed, so a typo never silently falls back to a default.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace digitlab {

class Args {
 public:
  Args(int argc, char** argv);  // the arguments after the subcommand

  bool help() const { return help_; }
  bool flag(const std::string& name);  // --name present (no value)
  std::string text(const std::string& name, const std::string& fallback);
  int integer(const std::string& name, int fallback, int min, int max);
  double number(const std::string& name, double fallback, double min, double max);
  std::vector<std::string> values(const std::string& name, size_t count);  // --name A B (exactly count)
  // Positional arguments; call after every option was asked for. Throws Error on any option that
  // no one asked for.
  std::vector<std::string> rest();

 private:
  std::vector<std::string> tokens_;
  std::vector<bool> used_;
  bool help_ = false;
  int find(const std::string& name);
};

std::string join_command_line(int argc, char** argv);

}  // namespace digitlab
