#include "thumbnail_atlas.h"

#include <GLES3/gl3.h>

#include <algorithm>
#include <cstdint>

namespace digitlab {

ThumbnailAtlas::~ThumbnailAtlas() {
  if (texture_) glDeleteTextures(1, &texture_);
}

void ThumbnailAtlas::begin_frame(uint64_t epoch) {
  ++frame_;
  if (epoch == epoch_) return;
  epoch_ = epoch;
  slot_of_.clear();
  for (Slot& s : slots_) s = Slot{};
}

ThumbnailAtlas::Tile ThumbnailAtlas::tile_at(size_t slot) const {
  const float x = float(int(slot % kPerRow) * kCell + 1), y = float(int(slot / kPerRow) * kCell + 1);
  Tile t;
  t.texture = reinterpret_cast<ImTextureID>(static_cast<intptr_t>(texture_));
  t.uv0 = ImVec2(x / kTexture, y / kTexture);
  t.uv1 = ImVec2((x + kSide) / kTexture, (y + kSide) / kTexture);
  return t;
}

bool ThumbnailAtlas::create_texture() {
  glGenTextures(1, &texture_);
  if (texture_) {
    glBindTexture(GL_TEXTURE_2D, texture_);
    // Nearest: a thumbnail shows the 28x28 pixels the network sees, as blocks, like the pad's preview.
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, kTexture, kTexture, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
    if (glGetError() == GL_NO_ERROR) {
      slots_.assign(kTiles, Slot{});
      return true;
    }
    glDeleteTextures(1, &texture_);
    texture_ = 0;
  }
  failed_ = true;  // a lost or exhausted context: the gallery draws rectangles instead
  return false;
}

void ThumbnailAtlas::upload(size_t slot, const uint8_t* pixels) {
  // White with the ink as alpha, over the gallery's dark cell: the same greys as the pad's preview,
  // and the transparent border keeps neighbours apart.
  rgba_.assign(size_t(kCell) * kCell * 4, 0);
  for (size_t i = 0; i < rgba_.size(); i += 4) rgba_[i] = rgba_[i + 1] = rgba_[i + 2] = 255;
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x) rgba_[(size_t(y + 1) * kCell + size_t(x + 1)) * 4 + 3] = pixels[y * kSide + x];
  glBindTexture(GL_TEXTURE_2D, texture_);
  glTexSubImage2D(GL_TEXTURE_2D, 0, int(slot % kPerRow) * kCell, int(slot / kPerRow) * kCell, kCell, kCell, GL_RGBA,
                  GL_UNSIGNED_BYTE, rgba_.data());
  ++uploads_;
}

bool ThumbnailAtlas::tile(uint64_t key, const uint8_t* pixels, Tile* out) {
  if (failed_ || (!texture_ && !create_texture())) return false;
  const auto found = slot_of_.find(key);
  if (found != slot_of_.end()) {
    slots_[found->second].last_frame = frame_;
    *out = tile_at(found->second);
    return true;
  }
  // The least recently drawn tile, free ones (last_frame 0) first; never one drawn this frame.
  size_t slot = kTiles;
  uint64_t oldest = frame_;
  for (size_t i = 0; i < slots_.size() && oldest > 0; ++i)
    if (slots_[i].last_frame < oldest) {
      oldest = slots_[i].last_frame;
      slot = i;
    }
  if (slot == kTiles) return false;
  if (slots_[slot].last_frame != 0) slot_of_.erase(slots_[slot].key);
  upload(slot, pixels);
  slots_[slot] = Slot{key, frame_};
  slot_of_[key] = slot;
  *out = tile_at(slot);
  return true;
}

}  // namespace digitlab
