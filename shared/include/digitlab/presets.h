// The named architectures every tool offers (`digitlab presets`, `train --arch NAME`): the networks of
// the source articles and our own browser model. They are all defined in shared/src/presets.cpp.
#pragma once
#include <string>
#include <vector>

#include "digitlab/architecture.h"

namespace digitlab {

// seed-cnn, dropout-cnn, keras-cnn, dsconv, digitlab-cnn, in the order `digitlab presets` lists them.
const std::vector<std::string>& preset_names();
Architecture preset(const std::string& name);  // throws Error listing the known names

}  // namespace digitlab
