// The sample gallery's thumbnails, as tiles of one WebGL texture. Drawn as rectangles, a 28x28
// thumbnail is ~150 quads (one per inked pixel), so a screenful of them at 10,000 samples made each
// frame after a change cost tens of milliseconds; as a tile it is one quad, uploaded once.
//
// Tiles are kept by the key the gallery gives (a sample's index, valid while the store's
// index_epoch() stays the same) and reused least recently drawn first, so the atlas holds what is on
// screen and what was recently, whatever the number of samples.
#pragma once
#include <imgui.h>

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace digitlab {

class ThumbnailAtlas {
 public:
  static constexpr int kSide = 28;              // the images' side
  static constexpr int kCell = kSide + 2;       // with a transparent border: filtering never bleeds
  static constexpr int kTexture = 1024;         // side of the texture: 34 x 34 = 1,156 tiles, 4 MB
  static constexpr int kPerRow = kTexture / kCell;
  static constexpr size_t kTiles = size_t(kPerRow) * size_t(kPerRow);

  struct Tile {
    ImTextureID texture = nullptr;
    ImVec2 uv0, uv1;
  };

  ThumbnailAtlas() = default;
  ThumbnailAtlas(const ThumbnailAtlas&) = delete;
  ThumbnailAtlas& operator=(const ThumbnailAtlas&) = delete;
  ~ThumbnailAtlas();

  // Once per frame, before tile(): epoch is the store's index_epoch(); a new one forgets every key.
  void begin_frame(uint64_t epoch);
  // The tile showing `pixels` (28x28 grey bytes) under `key`, uploaded if it is not there yet.
  // False when every tile is in use this frame (the caller draws the image another way).
  bool tile(uint64_t key, const uint8_t* pixels, Tile* out);

  size_t uploads() const { return uploads_; }  // images sent to the GPU so far

 private:
  Tile tile_at(size_t slot) const;
  bool create_texture();
  void upload(size_t slot, const uint8_t* pixels);

  unsigned texture_ = 0;  // GL name; created at the first tile()
  bool failed_ = false;   // the texture could not be made: every tile() is false
  uint64_t epoch_ = 0, frame_ = 0;
  std::unordered_map<uint64_t, size_t> slot_of_;  // key -> tile
  struct Slot {
    uint64_t key = 0;
    uint64_t last_frame = 0;  // 0: free
  };
  std::vector<Slot> slots_;
  size_t uploads_ = 0;
  std::vector<uint8_t> rgba_;  // one tile's upload buffer
};

}  // namespace digitlab
