#include "operator_plan.h"

#include <cmath>

#include "digitlab/error.h"
#include "network_layout.h"
#include "winograd_conv.h"

namespace digitlab {
namespace {

// Whether a ReLU follows layer i with only layers that are the identity at inference in between.
bool relu_follows(const std::vector<Layer>& layers, size_t i) {
  for (size_t j = i + 1; j < layers.size(); ++j) {
    if (layers[j].kind == LayerKind::relu) return true;
    if (layers[j].kind != LayerKind::dropout && layers[j].kind != LayerKind::flatten) return false;
  }
  return false;
}

// The 2x2 stride-2 max pool that a Winograd convolution at layer i can take over: the next layer
// that is not the identity or a ReLU (max pooling and ReLU commute). Its index, or 0.
size_t fusable_max_pool(const std::vector<Layer>& layers, size_t i) {
  for (size_t j = i + 1; j < layers.size(); ++j) {
    const Layer& l = layers[j];
    if (l.kind == LayerKind::relu || l.kind == LayerKind::dropout) continue;
    return l.kind == LayerKind::max_pool2d && l.kernel == 2 && l.stride == 2 ? j : 0;
  }
  return 0;
}

}  // namespace

OperatorPlan::OperatorPlan(const Model& model, Options options) {
  infer_shapes(model.arch);
  validate_parameters(model.arch, model.params);
  if (!(std::isfinite(model.norm.mean) && std::isfinite(model.norm.std) && model.norm.std > 0.f))
    throw Error("model normalisation needs a finite mean and a positive std");
  folded_ = fold_batch_norm(model);
  const Architecture& arch = folded_.arch;
  const std::vector<Shape> shapes = infer_shapes(arch);
  auto param = [&](const Layer& l, const char* what) -> const float* {
    const auto it = folded_.params.find(l.name + "." + what);
    return it == folded_.params.end() ? nullptr : it->second.data.data();
  };
  auto unsupported = [&](size_t i, const std::string& why) {
    return Error("layer " + std::to_string(i) + " (" + describe(arch.layers[i]) + ") of '" + arch.name +
                 "': the XNNPACK engine cannot run " + why);
  };
  Shape s = arch.input;
  Shape flattened;  // the spatial map a flatten turned into features, until a linear layer takes them
  for (size_t i = 0; i < arch.layers.size(); ++i) {
    const Layer& l = arch.layers[i];
    const bool nonnegative_in = !ops_.empty() && ops_.back().nonnegative;
    PlannedOp op;
    op.def = l;
    op.layer = op.last_layer = i;
    op.in = s;
    op.relu = relu_follows(arch.layers, i);
    bool runs = true;
    switch (l.kind) {
      case LayerKind::conv2d: {
        if (flattened.size() > 0) throw unsupported(i, "a convolution on flattened features");
        op.kind = PlannedOp::Kind::conv2d;
        op.weight = param(l, "weight");
        op.bias = param(l, "bias");
        if (!(options.winograd && WinogradConv3x3::supports(l) && l.in_channels >= 8)) break;
        op.kind = PlannedOp::Kind::winograd_conv2d;
        const size_t pool = fusable_max_pool(arch.layers, i);
        if (pool) {
          op.last_layer = pool;
          op.relu = op.relu || relu_follows(arch.layers, pool);  // ReLU after the pool: the same, applied before it
        }
        op.winograd_tile = WinogradConv3x3::preferred_tile(l, s.h, s.w, pool != 0);
        break;
      }
      case LayerKind::max_pool2d:
        if (l.kernel == 1 && l.stride == 1) runs = false;  // the identity
        else if (l.kernel == 1 || l.stride > l.kernel)
          throw unsupported(i, "max pooling with a 1x1 window or a stride larger than the window");
        op.kind = PlannedOp::Kind::max_pool2d;
        break;
      case LayerKind::global_avg_pool:
        runs = s.h * s.w > 1;
        op.kind = PlannedOp::Kind::global_avg_pool;
        op.relu = false;  // XNNPACK's mean has no output bounds: a ReLU after it runs on its own
        break;
      case LayerKind::linear:
        op.kind = PlannedOp::Kind::linear;
        op.weight = param(l, "weight");
        op.bias = param(l, "bias");
        if (flattened.h * flattened.w > 1) {
          reordered_.push_back(columns_chw_to_hwc(op.weight, l.out_features, flattened));
          op.weight = reordered_.back().data();
        }
        flattened = Shape{};
        break;
      case LayerKind::relu:
        runs = !nonnegative_in;
        op.kind = PlannedOp::Kind::relu;
        op.relu = false;  // it is the ReLU
        break;
      case LayerKind::flatten:
        if (s.h * s.w > 1) flattened = s;
        runs = false;
        break;
      case LayerKind::dropout: runs = false; break;
      case LayerKind::batch_norm2d: throw unsupported(i, "an unfolded batch norm");
    }
    if (runs) {
      op.out = shapes[op.last_layer];
      op.nonnegative = op.relu || op.kind == PlannedOp::Kind::relu ||
                       (nonnegative_in && (op.kind == PlannedOp::Kind::max_pool2d || op.kind == PlannedOp::Kind::global_avg_pool));
      op.description = describe(l) + (op.relu && op.last_layer == i ? " + relu" : "");
      if (op.last_layer != i) {
        op.description += " + " + describe(arch.layers[op.last_layer]) + (op.relu ? " + relu" : "");
      }
      if (op.kind == PlannedOp::Kind::winograd_conv2d)
        op.description += " (Winograd F(" + std::to_string(op.winograd_tile) + "x" + std::to_string(op.winograd_tile) + ",3x3))";
      ops_.push_back(op);
    }
    // Layers a fused operator computes (the pool) run nothing of their own; a ReLU after it sees a
    // nonnegative input and is skipped like any other.
    s = shapes[op.last_layer];
    i = op.last_layer;
  }
  output_map_ = flattened;
}

int OperatorPlan::winograd_ops() const {
  int n = 0;
  for (const PlannedOp& op : ops_) n += op.kind == PlannedOp::Kind::winograd_conv2d;
  return n;
}

void OperatorPlan::drop_weights() {
  for (PlannedOp& op : ops_) op.weight = op.bias = nullptr;
  folded_.params.clear();
  reordered_.clear();
}

}  // namespace digitlab
