#include "digitlab/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <string>

#include "digitlab/error.h"

namespace digitlab {

bool is_gzip(const uint8_t* bytes, size_t size) { return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

std::vector<uint8_t> gunzip(const uint8_t* bytes, size_t size, size_t max_output_bytes) {
  z_stream s{};
  if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) throw Error("zlib could not start");
  std::vector<uint8_t> out;
  uint8_t chunk[1 << 16];
  s.next_in = const_cast<Bytef*>(bytes);
  // zlib counts in uInt; feed at most 1 GiB at a time so 64-bit sizes cannot wrap.
  size_t fed = 0;
  int rc = Z_OK;
  do {
    if (s.avail_in == 0 && fed < size) {
      const size_t n = std::min<size_t>(size - fed, size_t(1) << 30);
      s.next_in = const_cast<Bytef*>(bytes + fed);
      s.avail_in = uInt(n);
      fed += n;
    }
    s.next_out = chunk;
    s.avail_out = sizeof chunk;
    rc = inflate(&s, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string why = s.msg ? s.msg : (rc == Z_BUF_ERROR ? "unexpected end of data" : "corrupt data");
      inflateEnd(&s);
      throw Error("gzip data is corrupt or truncated: " + why);
    }
    const size_t produced = sizeof chunk - s.avail_out;
    if (out.size() + produced > max_output_bytes) {
      inflateEnd(&s);
      throw Error("gzip data inflates past the limit of " + std::to_string(max_output_bytes) + " bytes");
    }
    out.insert(out.end(), chunk, chunk + produced);
    if (rc != Z_STREAM_END && produced == 0 && s.avail_in == 0 && fed == size) {
      inflateEnd(&s);
      throw Error("gzip data is truncated");
    }
  } while (rc != Z_STREAM_END);
  inflateEnd(&s);
  return out;
}

std::vector<uint8_t> gzip_compress(const uint8_t* bytes, size_t size) {
  z_stream s{};
  if (deflateInit2(&s, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("zlib could not start");
  std::vector<uint8_t> out(deflateBound(&s, uLong(size)) + 32);
  s.next_in = const_cast<Bytef*>(bytes);
  s.avail_in = uInt(size);
  s.next_out = out.data();
  s.avail_out = uInt(out.size());
  const int rc = deflate(&s, Z_FINISH);
  deflateEnd(&s);
  if (rc != Z_STREAM_END) throw Error("gzip compression failed");
  out.resize(out.size() - s.avail_out);
  return out;
}

}  // namespace digitlab
