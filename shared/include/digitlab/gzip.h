// gzip through zlib, with a cap on the inflated size so a small hostile file cannot expand into
// gigabytes ("zip bomb").
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace digitlab {

bool is_gzip(const uint8_t* bytes, size_t size);
std::vector<uint8_t> gunzip(const uint8_t* bytes, size_t size, size_t max_output_bytes);
std::vector<uint8_t> gzip_compress(const uint8_t* bytes, size_t size);

}  // namespace digitlab
