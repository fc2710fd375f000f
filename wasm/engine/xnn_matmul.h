// A MatMul (matmul.h) on XNNPACK's dynamic fully-connected operator: both operands change every
// training step, so the operator is created once per layout and reshaped/set up per call (it packs
// the right-hand matrix on each call, which its GEMM microkernels then stream through). In wasm it
// returns our own loops instead, which measured faster there for every product (see the .cpp).
#pragma once
#include "matmul.h"

namespace digitlab {

MatMul xnn_matmul();

}  // namespace digitlab
