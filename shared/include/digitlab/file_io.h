// Whole-file reads with a size cap, and writes that never leave a half-written file behind.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace digitlab {

// Reads the whole file. Throws Error if it cannot be opened or is larger than max_bytes.
std::vector<uint8_t> read_file_bytes(const std::string& path, size_t max_bytes = size_t(1) << 30);

// Writes to "path.tmp" then renames over path, so a crash or a full disk keeps the old file intact.
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes);

bool file_exists(const std::string& path);

}  // namespace digitlab
