// digitlab: the native command-line tool. presets, info, inspect, export and subset need only the
// shared library; train, eval, finetune and predict come from the LibTorch trainer (native/trainer)
// when the build found LibTorch. This file declares the commands and their options (CLI11: typed
// values, ranges and choices checked before anything runs, generated --help); the work happens in
// model_commands.h and behind trainer.h.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "digitlab/error.h"
#include "model_commands.h"
#ifdef DIGITLAB_HAVE_TRAINER
#include "launch.h"
#include "mnist_location.h"
#include "trainer.h"
#endif

namespace {

using namespace digitlab;

// "" or " [rank 3]": in a data-parallel job every rank may report an error; this says whose it is.
std::string rank_tag() {
  const char* rank = std::getenv("RANK");
  return rank && *rank ? std::string(" [rank ") + rank + "]" : std::string();
}

std::string join_command_line(int argc, char** argv) {
  std::string s = "digitlab";
  for (int i = 1; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}

#ifdef DIGITLAB_HAVE_TRAINER

// How the ranks of a data-parallel run talk (docs/distributed.md). Where they are comes from the
// environment (torchrun, or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT) or --nproc-per-node.
void add_distributed_options(CLI::App& c, DistributedOptions& o, int& nproc_per_node) {
  c.add_option("--nproc-per-node", nproc_per_node,
               "start N data-parallel ranks on this host (as torchrun --nproc_per_node N); 1: this process only")
      ->check(CLI::Range(1, 256));
  c.add_option("--backend", o.backend, "c10d backend between ranks (auto: nccl on CUDA when built with it, else gloo)")
      ->check(CLI::IsMember({"auto", "gloo", "nccl"}));
  c.add_option("--timeout", o.timeout_s, "seconds a rank waits for a missing or silent peer before it stops")
      ->check(CLI::Range(1, 3600));
  c.add_option("--bucket-kb", o.bucket_kb, "gradients all-reduced together, KiB (DDP's bucket_cap_mb)")
      ->check(CLI::Range(1, 1 << 20));
}

void add_common_options(CLI::App& c, CommonOptions& o) {
  c.add_option("--device", o.device, "where to run (auto: the GPU when this LibTorch has one)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  c.add_option("--threads", o.threads, "CPU threads (0: one per hardware thread)")->check(CLI::Range(0, 1024));
  c.add_option("--seed", o.seed, "random seed")->check(CLI::Range(uint64_t(0), uint64_t(2147483647)));
}

// A data-parallel run on this host: this process starts the ranks and waits (see launch.h).
struct Launch {
  int argc;
  char** argv;
  int nproc = 1;
  int exit_code = -1;  // set once the ranks ran
  bool requested() const { return nproc > 1; }
  void run(int timeout_s) {
    if (std::getenv("RANK"))
      throw Error("--nproc-per-node starts the ranks itself: leave it out under torchrun or with RANK set");
    exit_code = launch_local_ranks(nproc, argc, argv, timeout_s);
  }
};

void add_train(CLI::App& app, TrainOptions& o, Launch& launch, const std::string& command_line) {
  CLI::App* c = app.add_subcommand("train", "train on MNIST (or any IDX dataset) and write a .safetensors model");
  c->add_option("--arch", o.arch, "one of `digitlab presets`");
  c->add_option("--data", o.data_dir, "MNIST-format IDX files [../shared/data/mnist, else data/mnist, else download]");
  c->add_option("--epochs", o.epochs)->check(CLI::Range(1, 10000));
  c->add_option("--batch", o.batch)->check(CLI::Range(1, 65536));
  c->add_option("--lr", o.lr, "peak learning rate (0: adam/adamw 3e-3, sgd 0.05)")->check(CLI::Range(0.0, 10.0));
  c->add_option("--optimizer", o.optimizer)->check(CLI::IsMember({"adam", "adamw", "sgd"}));
  c->add_option("--momentum", o.momentum, "sgd momentum")->check(CLI::Range(0.0, 1.0));
  c->add_option("--weight-decay", o.weight_decay)->check(CLI::Range(0.0, 1.0));
  c->add_option("--schedule", o.schedule, "onecycle: 10% warm-up, then cosine to 1%")
      ->check(CLI::IsMember({"onecycle", "cosine", "constant"}));
  c->add_option("--label-smoothing", o.label_smoothing)->check(CLI::Range(0.0, 0.5));
  c->add_option("--augment", o.augment, "none|default|KEY=V,... keys: rotate (deg), scale, translate (px), shear, thickness");
  c->add_option("--val", o.val, "training images held out for validation")->check(CLI::Range(0, 100000000));
  c->add_option("--limit", o.limit, "use only the first N training images (0: all)")->check(CLI::Range(0, 100000000));
  c->add_option("--patience", o.patience, "early stopping after N epochs without better validation loss (0: off)")
      ->check(CLI::Range(0, 10000));
  CLI::Option* init = c->add_option("--init", o.init, "start from a trained model (transfer learning)");
  c->add_flag("--reset-head", o.reset_head, "with --init: re-initialise the last linear layer")->needs(init);
  c->add_option("--resume", o.resume, "continue a run from OUT.ckpt.safetensors (written every epoch)");
  c->add_option("--out", o.out, "the model [ARCH.safetensors]; metrics go to OUT.metrics.csv");
  c->add_option("--metrics", o.metrics_csv, "where the per-epoch metrics go [OUT.metrics.csv]");
  c->add_option("--target-test-accuracy", o.target_test_accuracy,
                "stop as soon as the test set reaches A (checked every --eval-every steps)")
      ->check(CLI::Range(0.0, 1.0));
  c->add_option("--eval-every", o.eval_every)->check(CLI::Range(1, 1000000));
  add_common_options(*c, o.common);
  add_distributed_options(*c, o.distributed, launch.nproc);
  c->callback([&o, &launch, command_line] {
    if (launch.requested()) return launch.run(o.distributed.timeout_s);
    o.data_dir = resolve_mnist_dir(o.data_dir);
    o.command_line = command_line;
    run_train(o);
  });
}

void add_eval(CLI::App& app, EvalOptions& o) {
  CLI::App* c = app.add_subcommand("eval", "test-set accuracy, per-class precision/recall/F1, confusion matrix");
  c->add_option("--model", o.model)->required();
  c->add_option("--data", o.data_dir, "MNIST-format IDX files");
  c->add_option("--split", o.split)->check(CLI::IsMember({"test", "train"}));
  c->add_option("--batch", o.batch)->check(CLI::Range(1, 65536));
  add_common_options(*c, o.common);
  c->callback([&o] {
    o.data_dir = resolve_mnist_dir(o.data_dir);
    run_eval(o);
  });
}

void add_fine_tune(CLI::App& app, FineTuneOptions& o, std::vector<std::string>& samples, Launch& launch,
                   const std::string& command_line) {
  CLI::App* c = app.add_subcommand("finetune", "personalise a model on your own samples with MNIST replay");
  c->footer("Trains on your samples (an IDX pair, e.g. exported by the web page) mixed with MNIST replay digits,\n"
            "and reports accuracy on held-out samples and on the MNIST test set before and after.");
  c->add_option("--model", o.model)->required();
  c->add_option("--samples", samples, "IMAGES.idx LABELS.idx")->expected(2)->required();
  c->add_option("--out", o.out)->required();
  c->add_option("--freeze", o.freeze,
                "what stays fixed: convs, none, all-but-last or LAYER (it and every layer before it)");
  c->add_flag("--reset-head", o.reset_head, "re-initialise the last linear layer first");
  c->add_option("--replay", o.replay, "MNIST training digits mixed in")->check(CLI::Range(0, 60000));
  c->add_option("--epochs", o.epochs)->check(CLI::Range(1, 10000));
  c->add_option("--batch", o.batch)->check(CLI::Range(1, 65536));
  c->add_option("--lr", o.lr)->check(CLI::Range(1e-9, 10.0));
  c->add_option("--weight-decay", o.weight_decay)->check(CLI::Range(0.0, 1.0));
  c->add_option("--holdout", o.holdout, "fraction of the samples held out for measuring")->check(CLI::Range(0.0, 0.9));
  c->add_option("--augment", o.augment, "as for train");
  c->add_option("--data", o.data_dir, "MNIST, for replay and the test set");
  add_common_options(*c, o.common);
  add_distributed_options(*c, o.distributed, launch.nproc);
  c->callback([&o, &samples, &launch, command_line] {
    if (launch.requested()) return launch.run(o.distributed.timeout_s);
    o.samples_images = samples[0];
    o.samples_labels = samples[1];
    o.data_dir = resolve_mnist_dir(o.data_dir);
    o.command_line = command_line;
    run_fine_tune(o);
  });
}

void add_predict(CLI::App& app, PredictOptions& o) {
  CLI::App* c = app.add_subcommand("predict", "one JSON line per image (PNG/PGM/JPEG/BMP or IDX)");
  c->footer("Prints {\"input\", \"label\", \"confidence\", \"probabilities\"} per image. An image is dark-on-light or\n"
            "light-on-dark; --preprocess drawing crops it, scales it to 20 px and centres it by mass, as MNIST\n"
            "was made; none takes it as a 28x28 MNIST-style digit already.");
  c->add_option("--model", o.model)->required();
  c->add_option("--preprocess", o.preprocess)->check(CLI::IsMember({"drawing", "none"}));
  c->add_option("images", o.inputs, "image files or IDX image sets")->required();
  add_common_options(*c, o.common);
  c->callback([&o] { run_predict(o); });
}

#endif  // DIGITLAB_HAVE_TRAINER

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"digitlab: train handwritten-digit networks, evaluate, personalise and export them", "digitlab"};
  app.option_defaults()->always_capture_default();  // every --help shows the defaults
  app.require_subcommand(1);
  app.fallthrough(false);

  app.add_subcommand("presets", "list the built-in architectures with parameter counts and cost")->callback(print_presets);
  std::string arch;
  app.add_subcommand("info", "print an architecture's layers, output shapes and parameters")
      ->callback([&] { print_architecture(arch); })
      ->add_option("--arch", arch, "one of `digitlab presets`")
      ->required();
  std::string inspect_path;
  app.add_subcommand("inspect", "validate a .safetensors model and print what it holds")
      ->callback([&] { inspect_model_file(inspect_path); })
      ->add_option("file", inspect_path)
      ->required();
  std::string export_in, export_out;
  bool fold = false;
  CLI::App* exp = app.add_subcommand("export", "re-save a model (validated), optionally with batch norm folded into convs");
  exp->add_option("--model", export_in)->required();
  exp->add_option("--out", export_out)->required();
  exp->add_flag("--fold-batch-norm", fold, "fold every batch norm into the convolution before it (same outputs)");
  exp->callback([&] { export_model(export_in, export_out, fold); });
  SubsetOptions subset;
  CLI::App* sub = app.add_subcommand("subset", "a class-balanced IDX subset (e.g. the page's replay digits)");
  sub->add_option("--images", subset.images)->required();
  sub->add_option("--labels", subset.labels)->required();
  sub->add_option("--per-class", subset.per_class, "the first N images of every digit")->check(CLI::Range(1, 100000));
  sub->add_option("--skip", subset.skip, "after skipping the first K of each")->check(CLI::Range(0, 100000));
  sub->add_option("--out", subset.out, "IMAGES LABELS")->expected(2)->required();
  sub->add_flag("--gzip", subset.gzip);
  sub->callback([&] { write_subset(subset); });

#ifdef DIGITLAB_HAVE_TRAINER
  const std::string command_line = join_command_line(argc, argv);
  TrainOptions train;
  EvalOptions eval;
  FineTuneOptions fine_tune;
  std::vector<std::string> sample_files;
  PredictOptions predict;
  Launch launch{argc, argv};
  add_train(app, train, launch, command_line);
  add_eval(app, eval);
  add_fine_tune(app, fine_tune, sample_files, launch, command_line);
  add_predict(app, predict);
#else
  app.footer("train, eval, finetune, predict: this build has no LibTorch (install libtorch-dev)");
#endif

  if (argc < 2) {
    std::fprintf(stderr, "%s", app.help().c_str());
    return 2;
  }
  const std::string command = argv[1];
  bool known = command[0] == '-';
  for (const CLI::App* c : app.get_subcommands({})) known = known || c->get_name() == command;
  if (!known) {
    std::fprintf(stderr, "digitlab: unknown command '%s'\n\n%s", command.c_str(), app.help().c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);  // runs the chosen command's callback
#ifdef DIGITLAB_HAVE_TRAINER
    if (launch.exit_code >= 0) return launch.exit_code;
#endif
    return 0;
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", (app.get_subcommands().empty() ? app.help() : app.get_subcommands()[0]->help()).c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    // A usage mistake; the message names the option or value. Exit 1 as for any other error, but 2
    // (with the list of commands) when there is no command to run.
    std::fprintf(stderr, "digitlab: error: %s\n", e.what());
    if (app.get_subcommands().empty()) {
      std::fprintf(stderr, "\n%s", app.help().c_str());
      return 2;
    }
    std::fprintf(stderr, "(`digitlab %s --help` lists its options)\n", app.get_subcommands()[0]->get_name().c_str());
    return 1;
  } catch (const std::exception& e) {  // Error, and LibTorch's c10::Error and friends: a message, not an abort
    std::fprintf(stderr, "digitlab%s: error: %s\n", rank_tag().c_str(), e.what());
    // A rank that lost its peers must not wait in c10d's destructors for collectives that will never
    // finish: the message is out, so leave now.
    if (std::getenv("RANK")) {
      std::fflush(nullptr);
      std::_Exit(1);
    }
    return 1;
  }
}
