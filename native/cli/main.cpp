// digitlab: the native command-line tool. presets, info, inspect and export need only the shared
// library; train, eval, finetune and predict come from the LibTorch trainer (native/trainer) when the
// build found LibTorch. This file parses arguments only; the work happens behind trainer.h.
#include <cstdio>
#include <cstring>
#include <string>

#include "args.h"
#include "digitlab/architecture.h"
#include "digitlab/error.h"
#include "digitlab/idx.h"
#include "digitlab/safetensors.h"
#ifdef DIGITLAB_HAVE_TRAINER
#include "mnist_location.h"
#include "trainer.h"
#endif

namespace {

using namespace digitlab;

int usage(FILE* out) {
  std::fprintf(out,
               "usage: digitlab COMMAND [ARGS]\n\n"
               "  presets               list the built-in architectures with parameter counts and cost\n"
               "  info --arch NAME      print an architecture's layers, output shapes and parameters\n"
               "  inspect FILE          validate a .safetensors model and print what it holds\n"
               "  export --model FILE --out FILE [--fold-batch-norm]\n"
               "                        re-save a model (validated), optionally with batch norm folded into convs\n"
               "  subset --images F --labels F --per-class N --out IMAGES LABELS\n"
               "                        a class-balanced IDX subset (e.g. the page's replay digits)\n"
#ifdef DIGITLAB_HAVE_TRAINER
               "  train --arch NAME ... train on MNIST (or any IDX dataset) and write a .safetensors model\n"
               "  eval --model FILE     test-set accuracy, per-class precision/recall/F1, confusion matrix\n"
               "  finetune --model FILE --samples IMAGES.idx LABELS.idx --out FILE\n"
               "                        personalise a model on your own samples with MNIST replay\n"
               "  predict --model FILE IMAGE...   one JSON line per image (PNG/PGM/JPEG/BMP or IDX)\n"
#else
               "  (train, eval, finetune, predict: this build has no LibTorch; install libtorch-dev)\n"
#endif
               "  --help                this text; COMMAND --help for a command's options\n");
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

int cmd_export(int argc, char** argv) {
  Args a(argc, argv);
  if (a.help()) {
    std::printf("usage: digitlab export --model FILE --out FILE [--fold-batch-norm]\n\n"
                "Validates a model and writes it again; --fold-batch-norm folds every batch norm into the\n"
                "convolution before it (same outputs at inference, fewer layers for inference engines).\n");
    return 0;
  }
  const std::string in = a.text("--model", ""), out = a.text("--out", "");
  const bool fold = a.flag("--fold-batch-norm");
  if (!a.rest().empty() || in.empty() || out.empty()) throw Error("usage: digitlab export --model FILE --out FILE [--fold-batch-norm]");
  Model m = load_model_file(in);
  if (fold) m = fold_batch_norm(m);
  save_model_file(m, out);
  std::printf("wrote %s (%s%s)\n", out.c_str(), m.arch.name.c_str(), fold ? ", batch norm folded" : "");
  return 0;
}

int cmd_subset(int argc, char** argv) {
  Args a(argc, argv);
  if (a.help()) {
    std::printf("usage: digitlab subset --images FILE --labels FILE --per-class N --out IMAGES LABELS [--skip K] [--gzip]\n\n"
                "Writes the first N images of every digit (after skipping the first K of each) as an IDX pair,\n"
                "e.g. the MNIST replay digits the web page ships for fine-tuning.\n");
    return 0;
  }
  const std::string images = a.text("--images", ""), labels = a.text("--labels", "");
  const int per_class = a.integer("--per-class", 100, 1, 100000), skip = a.integer("--skip", 0, 0, 100000);
  const std::vector<std::string> out = a.values("--out", 2);
  const bool gzip = a.flag("--gzip");
  if (!a.rest().empty() || images.empty() || labels.empty() || out.empty())
    throw Error("usage: digitlab subset --images FILE --labels FILE --per-class N --out IMAGES LABELS");
  const Dataset d = load_dataset(images, labels);
  Dataset sub;
  sub.rows = d.rows;
  sub.cols = d.cols;
  int seen[10] = {}, taken[10] = {};
  for (size_t i = 0; i < d.size(); ++i) {
    const int l = d.labels[i];
    if (seen[l]++ < skip || taken[l] >= per_class) continue;
    ++taken[l];
    sub.images.insert(sub.images.end(), d.image(i), d.image(i) + size_t(d.rows) * size_t(d.cols));
    sub.labels.push_back(uint8_t(l));
  }
  for (int c = 0; c < 10; ++c)
    if (taken[c] < per_class) throw Error("only " + std::to_string(taken[c]) + " images of digit " + std::to_string(c) + " available");
  save_dataset(sub, out[0], out[1], gzip);
  std::printf("wrote %zu images to %s and %s\n", sub.size(), out[0].c_str(), out[1].c_str());
  return 0;
}

#ifdef DIGITLAB_HAVE_TRAINER

const char* kCommonHelp =
    "  --device auto|cpu|cuda   where to run (auto: the GPU when this LibTorch has one) [auto]\n"
    "  --threads N              CPU threads (0: one per hardware thread) [0]\n"
    "  --seed S                 random seed [1]\n";

CommonOptions common_options(Args& a) {
  CommonOptions c;
  c.device = a.text("--device", c.device);
  c.threads = a.integer("--threads", 0, 0, 1024);
  c.seed = uint64_t(a.integer("--seed", 1, 0, 2147483647));
  return c;
}

void no_positionals(Args& a) {
  const auto rest = a.rest();
  if (!rest.empty()) throw Error("unexpected argument '" + rest[0] + "'");
}

int cmd_train(int argc, char** argv, const std::string& command_line) {
  Args a(argc, argv);
  TrainOptions o;
  if (a.help()) {
    std::printf(
        "usage: digitlab train --arch NAME [options]\n\n"
        "  --arch NAME              one of `digitlab presets` [%s]\n"
        "  --data DIR               MNIST-format IDX files [../shared/data/mnist, else data/mnist, else download]\n"
        "  --epochs N [%d]   --batch B [%d]   --lr LR [adam/adamw 3e-3, sgd 0.05]\n"
        "  --optimizer adam|adamw|sgd [%s]   --momentum M [%.1f]   --weight-decay W [0]\n"
        "  --schedule onecycle|cosine|constant [%s]   --label-smoothing E [0]\n"
        "  --augment none|default|KEY=V,...  keys: rotate (deg), scale, translate (px), shear, thickness\n"
        "  --val N                  training images held out for validation [%d]\n"
        "  --limit N                use only the first N training images [all]\n"
        "  --patience N             early stopping after N epochs without better validation loss [off]\n"
        "  --init FILE [--reset-head]  start from a trained model (transfer learning)\n"
        "  --resume CHECKPOINT      continue a run from OUT.ckpt.safetensors (written every epoch)\n"
        "  --out FILE               [ARCH.safetensors]; metrics go to FILE.metrics.csv\n"
        "  --target-test-accuracy A stop as soon as the test set reaches A (checked every --eval-every steps)\n%s",
        o.arch.c_str(), o.epochs, o.batch, o.optimizer.c_str(), o.momentum, o.schedule.c_str(), o.val, kCommonHelp);
    return 0;
  }
  o.common = common_options(a);
  o.arch = a.text("--arch", o.arch);
  o.data_dir = a.text("--data", "");
  o.epochs = a.integer("--epochs", o.epochs, 1, 10000);
  o.batch = a.integer("--batch", o.batch, 1, 65536);
  o.lr = a.number("--lr", 0, 0, 10);
  o.optimizer = a.text("--optimizer", o.optimizer);
  o.momentum = a.number("--momentum", o.momentum, 0, 1);
  o.weight_decay = a.number("--weight-decay", 0, 0, 1);
  o.schedule = a.text("--schedule", o.schedule);
  if (o.schedule != "onecycle" && o.schedule != "cosine" && o.schedule != "constant") {
    throw Error("--schedule must be onecycle, cosine or constant");
  }
  o.label_smoothing = a.number("--label-smoothing", 0, 0, 0.5);
  o.augment = a.text("--augment", o.augment);
  o.val = a.integer("--val", o.val, 0, 100000000);
  o.limit = a.integer("--limit", 0, 0, 100000000);
  o.patience = a.integer("--patience", 0, 0, 10000);
  o.init = a.text("--init", "");
  o.reset_head = a.flag("--reset-head");
  o.resume = a.text("--resume", "");
  o.out = a.text("--out", "");
  o.metrics_csv = a.text("--metrics", "");
  o.target_test_accuracy = a.number("--target-test-accuracy", 0, 0, 1);
  o.eval_every = a.integer("--eval-every", o.eval_every, 1, 1000000);
  no_positionals(a);
  if (o.reset_head && o.init.empty()) throw Error("--reset-head needs --init FILE");
  o.data_dir = resolve_mnist_dir(o.data_dir);
  o.command_line = command_line;
  run_train(o);
  return 0;
}

int cmd_eval(int argc, char** argv) {
  Args a(argc, argv);
  EvalOptions o;
  if (a.help()) {
    std::printf("usage: digitlab eval --model FILE [--data DIR] [--split test|train] [--batch B]\n%s", kCommonHelp);
    return 0;
  }
  o.common = common_options(a);
  o.model = a.text("--model", "");
  o.data_dir = a.text("--data", "");
  o.split = a.text("--split", o.split);
  o.batch = a.integer("--batch", o.batch, 1, 65536);
  no_positionals(a);
  if (o.model.empty()) throw Error("eval needs --model FILE");
  o.data_dir = resolve_mnist_dir(o.data_dir);
  run_eval(o);
  return 0;
}

int cmd_finetune(int argc, char** argv, const std::string& command_line) {
  Args a(argc, argv);
  FinetuneOptions o;
  if (a.help()) {
    std::printf(
        "usage: digitlab finetune --model FILE --samples IMAGES.idx LABELS.idx --out FILE [options]\n\n"
        "Trains on your samples (IDX pair, e.g. exported by the web page) mixed with MNIST replay digits,\n"
        "and reports accuracy on held-out samples and on the MNIST test set before and after.\n\n"
        "  --freeze convs|none|all-but-last|LAYER  what stays fixed [%s]\n"
        "                           (LAYER: freeze every layer up to and including it)\n"
        "  --reset-head             re-initialise the last linear layer first\n"
        "  --replay N               MNIST training digits mixed in [%d]\n"
        "  --epochs N [%d]   --batch B [%d]   --lr LR [%g]   --weight-decay W [0]\n"
        "  --holdout F              fraction of samples held out for measuring [%.1f]\n"
        "  --augment SPEC           as for train [light]\n"
        "  --data DIR               MNIST, for replay and the test set\n%s",
        o.freeze.c_str(), o.replay, o.epochs, o.batch, o.lr, o.holdout, kCommonHelp);
    return 0;
  }
  o.common = common_options(a);
  o.model = a.text("--model", "");
  const std::vector<std::string> samples = a.values("--samples", 2);
  o.data_dir = a.text("--data", "");
  o.freeze = a.text("--freeze", o.freeze);
  o.reset_head = a.flag("--reset-head");
  o.replay = a.integer("--replay", o.replay, 0, 60000);
  o.epochs = a.integer("--epochs", o.epochs, 1, 10000);
  o.batch = a.integer("--batch", o.batch, 1, 65536);
  o.lr = a.number("--lr", o.lr, 1e-9, 10);
  o.weight_decay = a.number("--weight-decay", 0, 0, 1);
  o.holdout = a.number("--holdout", o.holdout, 0, 0.9);
  o.augment = a.text("--augment", o.augment);
  o.out = a.text("--out", "");
  no_positionals(a);
  if (o.model.empty() || samples.empty() || o.out.empty()) {
    throw Error("finetune needs --model FILE, --samples IMAGES.idx LABELS.idx and --out FILE");
  }
  o.samples_images = samples[0];
  o.samples_labels = samples[1];
  o.data_dir = resolve_mnist_dir(o.data_dir);
  o.command_line = command_line;
  run_finetune(o);
  return 0;
}

int cmd_predict(int argc, char** argv) {
  Args a(argc, argv);
  PredictOptions o;
  if (a.help()) {
    std::printf(
        "usage: digitlab predict --model FILE [--preprocess drawing|none] IMAGE...\n\n"
        "Prints one JSON line per image: {\"input\", \"label\", \"confidence\", \"probabilities\"}.\n"
        "IMAGE is a PNG/PGM/JPEG/BMP file (dark-on-light or light-on-dark) or an IDX images file.\n"
        "  --preprocess drawing     crop, scale to 20 px and centre by mass, as MNIST was made [default]\n"
        "  --preprocess none        the image is already a 28x28 MNIST-style digit\n%s",
        kCommonHelp);
    return 0;
  }
  o.common = common_options(a);
  o.model = a.text("--model", "");
  o.preprocess = a.text("--preprocess", o.preprocess);
  o.inputs = a.rest();
  if (o.model.empty() || o.inputs.empty()) throw Error("predict needs --model FILE and at least one image");
  run_predict(o);
  return 0;
}

#endif  // DIGITLAB_HAVE_TRAINER

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(stderr);
  const std::string cmd = argv[1];
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") return usage(stdout);
    if (cmd == "presets") return cmd_presets();
    if (cmd == "info") return cmd_info(argc - 2, argv + 2);
    if (cmd == "inspect") return cmd_inspect(argc - 2, argv + 2);
    if (cmd == "export") return cmd_export(argc - 2, argv + 2);
    if (cmd == "subset") return cmd_subset(argc - 2, argv + 2);
#ifdef DIGITLAB_HAVE_TRAINER
    const std::string line = join_command_line(argc - 1, argv + 1);
    if (cmd == "train") return cmd_train(argc - 2, argv + 2, "digitlab " + line);
    if (cmd == "eval") return cmd_eval(argc - 2, argv + 2);
    if (cmd == "finetune") return cmd_finetune(argc - 2, argv + 2, "digitlab " + line);
    if (cmd == "predict") return cmd_predict(argc - 2, argv + 2);
#endif
    std::fprintf(stderr, "digitlab: unknown command '%s'\n\n", cmd.c_str());
    return usage(stderr);
  } catch (const Error& e) {
    std::fprintf(stderr, "digitlab: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {  // LibTorch's c10::Error and friends: still a message, not an abort
    std::fprintf(stderr, "digitlab: error: %s\n", e.what());
    return 1;
  }
}
