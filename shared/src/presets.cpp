// The one file that defines the architectures. Each preset is a plain list of layers from the
// builders in architecture.h; shapes, parameter names and costs are derived from it everywhere else.
#include "digitlab/presets.h"

#include "digitlab/error.h"

namespace digitlab {
namespace {

Architecture make_seed_cnn() {
  Architecture a;
  a.name = "seed-cnn";
  a.description = "PyTorch-tutorial CNN: two 3x3 convs (same padding) with max pooling, 128-unit dense layer";
  a.layers = {conv2d("conv1", 1, 32, 3, 1), relu(), max_pool2d(2),
              conv2d("conv2", 32, 64, 3, 1), relu(), max_pool2d(2),
              flatten(), linear("fc1", 64 * 7 * 7, 128), relu(), linear("fc2", 128, 10)};
  return a;
}

Architecture make_dropout_cnn() {
  Architecture a;
  a.name = "dropout-cnn";
  a.description = "pytorch/examples MNIST net: two valid 3x3 convs, dropout 0.25/0.5, trained with SGD+momentum";
  a.layers = {conv2d("conv1", 1, 32, 3), relu(), conv2d("conv2", 32, 64, 3), relu(), max_pool2d(2),
              dropout(0.25f), flatten(), linear("fc1", 9216, 128), relu(), dropout(0.5f),
              linear("fc2", 128, 10)};
  return a;
}

Architecture make_keras_cnn() {
  Architecture a;
  a.name = "keras-cnn";
  a.description = "Keras/TensorFlow tutorial CNN: three valid 3x3 convs, 64-unit dense layer";
  a.layers = {conv2d("conv1", 1, 32, 3), relu(), max_pool2d(2), conv2d("conv2", 32, 64, 3), relu(),
              max_pool2d(2), conv2d("conv3", 64, 64, 3), relu(), flatten(), linear("fc1", 576, 64), relu(),
              linear("fc2", 64, 10)};
  return a;
}

// The source article's separable net feeds a global pool into a classifier that expects 32x7x7
// features, so it cannot run. This variant keeps its idea (depthwise-separable blocks, one dilated)
// and ends in global average pooling, which is what makes it small: ~14k parameters.
Architecture make_dsconv() {
  Architecture a;
  a.name = "dsconv";
  a.description = "depthwise-separable CNN with one dilated block and global average pooling";
  a.layers = {conv2d("stem", 1, 16, 3, 1), relu()};
  auto add = [&](std::vector<Layer> ls) { a.layers.insert(a.layers.end(), ls.begin(), ls.end()); };
  add(separable_conv2d("block1", 16, 32, 3, 1));
  add({relu(), max_pool2d(2)});                       // 14x14
  add(separable_conv2d("block2", 32, 64, 3, 2, 2));   // dilated: 5x5 receptive field at 3x3 cost
  add({relu(), max_pool2d(2)});                       // 7x7
  add(separable_conv2d("block3", 64, 128, 3, 1));
  add({relu(), global_avg_pool(), linear("fc", 128, 10)});
  return a;
}

// Our own model: four batch-normalised 3x3 convs (BN folds into the convs at export, so the browser
// engine sees conv + relu), pooling after each of the first three so the last conv sees the whole
// digit, then global average pooling and one linear layer. Sized for the browser: 7.6 M multiply-adds.
Architecture make_digitlab_cnn() {
  Architecture a;
  a.name = "digitlab-cnn";
  a.description = "batch-normalised CNN: four 3x3 convs (32-64-96-128), max pooling, global average pooling";
  a.layers = {conv2d("conv1", 1, 32, 3, 1, 1, 1, 1, false),   batch_norm2d("bn1", 32),  relu(), max_pool2d(2),
              conv2d("conv2", 32, 64, 3, 1, 1, 1, 1, false),  batch_norm2d("bn2", 64),  relu(), max_pool2d(2),
              conv2d("conv3", 64, 96, 3, 1, 1, 1, 1, false),  batch_norm2d("bn3", 96),  relu(), max_pool2d(2),
              conv2d("conv4", 96, 128, 3, 1, 1, 1, 1, false), batch_norm2d("bn4", 128), relu(),
              global_avg_pool(), dropout(0.1f), linear("fc", 128, 10)};
  return a;
}

struct Preset {
  const char* name;
  Architecture (*make)();
};
const Preset kPresets[] = {{"seed-cnn", make_seed_cnn},
                           {"dropout-cnn", make_dropout_cnn},
                           {"keras-cnn", make_keras_cnn},
                           {"dsconv", make_dsconv},
                           {"digitlab-cnn", make_digitlab_cnn}};

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Preset& p : kPresets) n.push_back(p.name);
    return n;
  }();
  return names;
}

Architecture preset(const std::string& name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return p.make();
  std::string known;
  for (const std::string& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown architecture '" + name + "' (known: " + known + ")");
}

}  // namespace digitlab
