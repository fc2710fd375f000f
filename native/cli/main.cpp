// digitlab: the native command-line tool. This first version needs only the shared library:
// it lists the architectures and inspects weight files. Training commands (LibTorch) join it in
// native/train/ without making these depend on LibTorch.
#include <cstdio>
#include <cstring>
#include <string>

#include "digitlab/architecture.h"
#include "digitlab/error.h"
#include "digitlab/safetensors.h"

namespace {

using namespace digitlab;

int usage(FILE* out) {
  std::fprintf(out,
               "usage: digitlab COMMAND [ARGS]\n\n"
               "  presets               list the built-in architectures with parameter counts and cost\n"
               "  info --arch NAME      print an architecture's layers, output shapes and parameters\n"
               "  inspect FILE          validate a .safetensors model and print what it holds\n"
               "  --help                this text\n");
  return out == stderr ? 2 : 0;
}

void print_layers(const Architecture& a) {
  const std::vector<Shape> shapes = infer_shapes(a);
  std::printf("%-4s %-44s %s\n", "#", "layer", "output (C x H x W)");
  for (size_t i = 0; i < a.layers.size(); ++i)
    std::printf("%-4zu %-44s %d x %d x %d\n", i, describe(a.layers[i]).c_str(), shapes[i].c, shapes[i].h, shapes[i].w);
  std::printf("parameters: %lld   multiply-adds per image: %lld\n", (long long)parameter_count(a),
              (long long)multiply_adds(a));
}

int cmd_presets() {
  std::printf("%-14s %12s %14s  %s\n", "name", "parameters", "MACs/image", "description");
  for (const std::string& name : preset_names()) {
    const Architecture a = preset(name);
    std::printf("%-14s %12lld %14lld  %s\n", name.c_str(), (long long)parameter_count(a), (long long)multiply_adds(a),
                a.description.c_str());
  }
  return 0;
}

int cmd_info(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[0], "--arch") != 0) {
    std::fprintf(stderr, "usage: digitlab info --arch NAME\n");
    return 2;
  }
  const Architecture a = preset(argv[1]);
  std::printf("%s: %s\n", a.name.c_str(), a.description.c_str());
  print_layers(a);
  return 0;
}

int cmd_inspect(int argc, char** argv) {
  if (argc != 1) {
    std::fprintf(stderr, "usage: digitlab inspect FILE.safetensors\n");
    return 2;
  }
  const Model m = load_model_file(argv[0]);
  std::printf("%s: valid digitlab model, architecture '%s'\n", argv[0], m.arch.name.c_str());
  print_layers(m.arch);
  std::printf("input normalisation: mean %.4f, std %.4f\n", m.norm.mean, m.norm.std);
  for (const auto& [key, value] : m.provenance) std::printf("%s: %s\n", key.c_str(), value.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(stderr);
  const std::string cmd = argv[1];
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") return usage(stdout);
    if (cmd == "presets") return cmd_presets();
    if (cmd == "info") return cmd_info(argc - 2, argv + 2);
    if (cmd == "inspect") return cmd_inspect(argc - 2, argv + 2);
    std::fprintf(stderr, "digitlab: unknown command '%s'\n\n", cmd.c_str());
    return usage(stderr);
  } catch (const Error& e) {
    std::fprintf(stderr, "digitlab: error: %s\n", e.what());
    return 1;
  }
}
