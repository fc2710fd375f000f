// Where the trainer finds MNIST when --data is not given: ../shared/data/mnist beside the checkout
// when present, else data/mnist in it; when neither holds the files, `./run data` downloads them from
// the public mirrors and checks their MD5 sums.
#pragma once
#include <string>

namespace digitlab {

// requested: the --data value ("" when absent). Returns a directory holding the four MNIST files, or
// the requested one unchanged (whose loading then reports exactly what is missing).
std::string resolve_mnist_dir(const std::string& requested);

}  // namespace digitlab
