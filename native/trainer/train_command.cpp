// `digitlab train` and `digitlab eval`.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <vector>

#include "augment.h"
#include "data_parallel.h"
#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/presets.h"
#include "digitlab/safetensors.h"
#include "progress.h"
#include "torch_common.h"

namespace digitlab {
namespace {

struct Split {
  torch::Tensor train_x, train_y, val_x, val_y;
};

// Shuffles once with the run's seed, then holds out the last `val` images. A fixed split keeps a
// resumed run's validation set identical to the original's.
Split split_training_set(const Dataset& data, int limit, int val, uint64_t seed, torch::Device device) {
  torch::Tensor x = dataset_images(data, torch::kCPU), y = dataset_labels(data, torch::kCPU);
  if (limit > 0 && limit < x.size(0)) {
    x = rows(x, 0, limit);
    y = rows(y, 0, limit);
  }
  const int64_t n = x.size(0);
  if (val < 0 || val >= n) throw Error("--val " + std::to_string(val) + " leaves no training images out of " + std::to_string(n));
  torch::manual_seed(seed);
  const torch::Tensor order = torch::randperm(n, torch::kInt64);
  x = x.index_select(0, order);
  y = y.index_select(0, order);
  Split s;
  s.train_x = rows(x, 0, n - val).to(device);
  s.train_y = rows(y, 0, n - val).to(device);
  if (val > 0) {
    s.val_x = rows(x, n - val, n).to(device);
    s.val_y = rows(y, n - val, n).to(device);
  }
  return s;
}

double scheduled_lr(const std::string& schedule, double peak, int64_t step, int64_t total) {
  const double t = total > 1 ? double(step) / double(total - 1) : 1.0;
  constexpr double kPi = 3.14159265358979;
  if (schedule == "constant") return peak;
  if (schedule == "cosine") return peak * 0.5 * (1 + std::cos(kPi * t));
  // onecycle: linear warm-up over the first 10% of steps, then cosine decay to 1% of the peak.
  constexpr double kWarmup = 0.1;
  if (t < kWarmup) return peak * (0.1 + 0.9 * t / kWarmup);
  const double u = (t - kWarmup) / (1 - kWarmup);
  return peak * (0.01 + 0.99 * 0.5 * (1 + std::cos(kPi * u)));
}

std::string now_utc() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Where a run starts: fresh weights, --init, or a checkpoint (--resume, or the run's own after a
// torchrun restart). Rank 0 decides and reads the files; every rank gets the same start through the
// store, so on several hosts only rank 0's needs them.
struct StartPoint {
  Model model;
  int first_epoch = 1;
  std::vector<uint8_t> optimizer;  // the checkpoint's optimizer state; empty for a new run
  std::string note;                // what was resumed, for the log
};

std::string optimizer_path(const std::string& checkpoint, int epoch) {
  const std::string ext = ".safetensors";
  const std::string stem = checkpoint.size() > ext.size() && checkpoint.compare(checkpoint.size() - ext.size(), ext.size(), ext) == 0
                               ? checkpoint.substr(0, checkpoint.size() - ext.size())
                               : checkpoint;
  return stem + ".optim-" + std::to_string(epoch) + ".pt";
}

Model load_same_architecture(const std::string& path, const Architecture& arch, const std::string& what) {
  Model m = load_model_file(path);
  if (architecture_to_json(m.arch) != architecture_to_json(arch))
    throw Error(path + " holds a '" + m.arch.name + "' model; " + what + " needs the same architecture as --arch " + arch.name +
                " (pass --arch " + m.arch.name + ")");
  return m;
}

StartPoint choose_start(const TrainOptions& o, const Architecture& arch, const std::string& own_checkpoint,
                        const DistributedEnv& env) {
  StartPoint s;
  std::string resume = o.resume;
  if (resume.empty() && env.restart_count > 0) {
    if (file_exists(own_checkpoint)) resume = own_checkpoint;
    else s.note = "torchrun restart " + std::to_string(env.restart_count) + ": no checkpoint yet, starting again";
  }
  if (resume.empty()) {
    s.model = o.init.empty() ? init_model(arch, o.common.seed) : load_same_architecture(o.init, arch, "--init");
    return s;
  }
  s.model = load_same_architecture(resume, arch, "--resume");
  const auto it = s.model.provenance.find("checkpoint_epoch");
  if (it == s.model.provenance.end()) throw Error(resume + " is a weights file, not a checkpoint (no checkpoint_epoch)");
  const int done = std::stoi(it->second);
  s.first_epoch = done + 1;
  if (s.first_epoch > o.epochs) throw Error(resume + " already finished epoch " + it->second + " of --epochs " + std::to_string(o.epochs));
  const std::string optim = optimizer_path(resume, done);
  if (!file_exists(optim)) throw Error("optimizer state " + optim + " (written beside the checkpoint) is missing");
  s.optimizer = read_file_bytes(optim);
  s.note = (env.restart_count > 0 && o.resume.empty() ? "torchrun restart " + std::to_string(env.restart_count) + ": " : std::string()) +
           "resuming from " + resume + " after epoch " + it->second;
  return s;
}

StartPoint share_start(Distributed& dist, const TrainOptions& o, const Architecture& arch, const std::string& ckpt,
                       const DistributedEnv& env) {
  StartPoint s;
  const std::vector<uint8_t> model = dist.share_what_main_reads("start/model", [&] {
    s = choose_start(o, arch, ckpt, env);
    return encode_model(s.model);
  });
  if (dist.world_size() <= 1) return s;
  const std::string epoch = std::to_string(s.first_epoch);
  const std::vector<uint8_t> e = dist.share_from_main("start/epoch", std::vector<uint8_t>(epoch.begin(), epoch.end()));
  s.optimizer = dist.share_from_main("start/optimizer", s.optimizer);
  if (!dist.is_main()) {
    s.model = decode_model(model.data(), model.size());
    s.first_epoch = std::stoi(std::string(e.begin(), e.end()));
  }
  return s;
}

// A resumed run's metrics keep the epochs before the checkpoint only (a crash may have logged one more).
void keep_metrics_before(const std::string& csv_path, int first_epoch) {
  std::ifstream in(csv_path);
  std::string kept, line;
  for (bool header = true; std::getline(in, line); header = false)
    if (header || std::atoi(line.c_str()) < first_epoch) kept += line + "\n";
  write_file_atomically(csv_path, std::vector<uint8_t>(kept.begin(), kept.end()));
}

std::string last_linear_layer(const Architecture& arch) {
  for (auto it = arch.layers.rbegin(); it != arch.layers.rend(); ++it) {
    if (it->kind == LayerKind::linear) return it->name;
  }
  throw Error(arch.name + " has no linear layer to reset");
}

}  // namespace

TrainReport run_train(const TrainOptions& o) {
  const DistributedEnv env = read_distributed_env();
  const Architecture arch = preset(o.arch);
  if (o.epochs < 1 || o.epochs > 10000) throw Error("--epochs must be between 1 and 10000");
  if (o.batch < 1 || o.batch > 65536) throw Error("--batch must be between 1 and 65536");
  const std::string out = o.out.empty() ? o.arch + ".safetensors" : o.out;
  const std::string csv_path = o.metrics_csv.empty() ? out + ".metrics.csv" : o.metrics_csv;
  const std::string ckpt = out + ".ckpt.safetensors";
  const AugmentOptions augment = parse_augment_options(o.augment);
  const double peak_lr = o.lr > 0 ? o.lr : (o.optimizer == "sgd" ? 0.05 : 3e-3);

  const torch::Device device = setup_runtime(o.common, env);
  const std::unique_ptr<Distributed> job = join_job(env, o.distributed, device);
  Distributed& dist = *job;
  const bool main = dist.is_main();  // the one rank that logs and writes files
  const int rank = dist.rank(), world = dist.world_size();
  const Dataset train_set = load_mnist(o.data_dir, MnistSplit::train);
  const Dataset test_set = load_mnist(o.data_dir, MnistSplit::test);
  const Split data = split_training_set(train_set, o.limit, o.val, o.common.seed, device);
  const torch::Tensor test_x = dataset_images(test_set, device), test_y = dataset_labels(test_set, device);

  const StartPoint start = share_start(dist, o, arch, ckpt, env);
  const int first_epoch = start.first_epoch;
  const bool resumed = first_epoch > 1;
  if (main && !start.note.empty()) std::printf("%s\n", start.note.c_str());
  TorchNet net(start.model, device);
  if (o.reset_head && !resumed) net.reinitialize_layer(last_linear_layer(arch), o.common.seed);
  broadcast_network(dist, net);  // every replica starts from rank 0's weights, as DDP does
  auto optimizer = make_optimizer(o.optimizer, net.trainable_parameters(), peak_lr, o.momentum, o.weight_decay);
  if (!start.optimizer.empty()) load_optimizer_state(*optimizer, start.optimizer, "the checkpoint's optimizer state");
  DataParallelStep step(dist, net, *optimizer, size_t(o.distributed.bucket_kb) * 1024);

  // Each rank takes its shard of every epoch's order (distributed.h): the same number of steps on
  // every rank, world x batch images a step.
  const int64_t n_train = data.train_x.size(0);
  const int64_t shard_size = (n_train + world - 1) / world;
  const int64_t steps_per_epoch = (shard_size + o.batch - 1) / o.batch;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  if (main) {
    const std::string batch = world > 1 ? std::to_string(o.batch) + " per rank x " + std::to_string(world) + " ranks = " +
                                              std::to_string(int64_t(o.batch) * world) + " a step"
                                        : std::to_string(o.batch);
    std::fprintf(stderr, "train %s: %lld params, %lld training / %lld validation / %lld test images, batch %s, %s lr %g (%s), augment %s\n",
                 arch.name.c_str(), (long long)parameter_count(arch), (long long)n_train,
                 (long long)(data.val_x.defined() ? data.val_x.size(0) : 0), (long long)test_x.size(0), batch.c_str(),
                 o.optimizer.c_str(), peak_lr, o.schedule.c_str(), describe(augment).c_str());
  }

  std::ofstream csv;
  if (main) {
    if (resumed && file_exists(csv_path)) keep_metrics_before(csv_path, first_epoch);
    csv.open(csv_path, resumed ? std::ios::app : std::ios::trunc);
    if (!csv) throw Error("cannot write metrics to " + csv_path);
    if (!resumed) csv << "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,images_per_second\n";
  }

  std::optional<Model> best;
  double best_val_loss = INFINITY;
  int epochs_without_improvement = 0;
  const auto run_start = std::chrono::steady_clock::now();
  bool reached_target = false;
  int last_epoch = first_epoch - 1;
  for (int epoch = first_epoch; epoch <= o.epochs && !reached_target; ++epoch) {
    torch::manual_seed(o.common.seed * 1000003ull + uint64_t(epoch));  // same epoch, same batches, resumed or not
    const torch::Tensor order = torch::randperm(n_train, torch::kInt64);  // on the CPU: the same on every rank
    const torch::Tensor shard = shard_for_rank(order, rank, world).to(device);
    if (world > 1) torch::manual_seed(o.common.seed * 1000003ull + uint64_t(epoch) * 7919u + uint64_t(rank));  // own augmentation
    ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), shard_size * world, "img", main);
    StepTotals epoch_totals;
    double lr = peak_lr;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t global_step = int64_t(epoch - 1) * steps_per_epoch + s;
      lr = scheduled_lr(o.schedule, peak_lr, global_step, total_steps);
      set_learning_rate(*optimizer, lr);
      const torch::Tensor idx = rows(shard, s * o.batch, std::min<int64_t>(shard_size, (s + 1) * o.batch));
      const torch::Tensor x = augment_batch(data.train_x.index_select(0, idx), augment);
      const StepTotals t = step.step(x, data.train_y.index_select(0, idx), o.label_smoothing,
                                     "at epoch " + std::to_string(epoch) + ", step " + std::to_string(s + 1) + " (learning rate " +
                                         fixed(lr, 6) + " too high?); " + out + " was not written" +
                                         (epoch > 1 ? "; the last good epoch is in " + ckpt + " (--resume it with a lower --lr)" : ""));
      epoch_totals.loss_sum += t.loss_sum;
      epoch_totals.correct += t.correct;
      epoch_totals.images += t.images;
      bar.update(epoch_totals.images, "loss " + fixed(epoch_totals.mean_loss(), 4));
      if (o.target_test_accuracy > 0 && (global_step + 1) % o.eval_every == 0) {
        const double acc = evaluate(net, test_x, test_y, 1000, "", &dist).confusion.accuracy();
        if (acc >= o.target_test_accuracy) {  // the same verdict on every rank: the accuracy is the whole set's
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
          bar.finish();
          if (main)
            std::printf("reached test accuracy %.4f >= %.4f after %lld steps (%lld images), %.1f s of training\n", acc,
                        o.target_test_accuracy, (long long)(global_step + 1),
                        (long long)((global_step + 1) * o.batch * world), secs);
          reached_target = true;
          break;
        }
      }
    }
    bar.finish();
    last_epoch = epoch;
    const double secs = bar.seconds();
    std::string val_text;
    double val_loss = 0, val_acc = 0;
    if (data.val_x.defined()) {
      const Evaluation v = evaluate(net, data.val_x, data.val_y, 1000, "validate", &dist);
      val_loss = v.loss;
      val_acc = v.confusion.accuracy();
      val_text = "  val loss " + fixed(val_loss, 4) + " acc " + fixed(100 * val_acc, 2) + "%";
    }
    const double seen = double(std::max<int64_t>(1, epoch_totals.images)), accuracy = double(epoch_totals.correct) / seen;
    if (main) {
      std::printf("epoch %3d/%d  loss %.4f  train acc %.2f%%%s  lr %.2e  %s (%.0f img/s)\n", epoch, o.epochs,
                  epoch_totals.mean_loss(), 100.0 * accuracy, val_text.c_str(), lr, format_duration(secs).c_str(), seen / secs);
      std::fflush(stdout);
      csv << epoch << ',' << epoch_totals.mean_loss() << ',' << accuracy << ','
          << (data.val_x.defined() ? fixed(val_loss, 6) : "") << ',' << (data.val_x.defined() ? fixed(val_acc, 6) : "")
          << ',' << lr << ',' << secs << ',' << seen / secs << '\n';
      csv.flush();
      // Checkpoint: the optimizer state named by its epoch, then the weights (a normal model file with
      // the epoch in its provenance), each written atomically; the previous epoch's optimizer state
      // goes last, so a crash at any point leaves a complete checkpoint to resume.
      write_file_atomically(optimizer_path(ckpt, epoch), optimizer_state_bytes(*optimizer));
      Model snapshot = net.to_model();
      snapshot.provenance["checkpoint_epoch"] = std::to_string(epoch);
      save_model_file(snapshot, ckpt);
      if (epoch > 1) std::remove(optimizer_path(ckpt, epoch - 1).c_str());
    }

    if (data.val_x.defined() && o.patience > 0) {
      if (val_loss < best_val_loss) {
        best_val_loss = val_loss;
        best = net.to_model();
        epochs_without_improvement = 0;
      } else if (++epochs_without_improvement >= o.patience) {
        if (main) std::printf("early stop: validation loss has not improved for %d epochs; keeping epoch %d's weights\n",
                    o.patience, epoch - o.patience);
        break;
      }
    }
  }

  Model final_model = best ? *best : net.to_model();
  if (best) net = TorchNet(final_model, device);
  const Evaluation test = evaluate(net, test_x, test_y, 1000, "test", &dist);
  const TrainReport report{last_epoch, test.confusion.accuracy()};
  if (!main) return report;  // rank 0 writes the model and the report
  if (world > 1) std::printf("%s\n", step.communication_summary().c_str());
  final_model.provenance.erase("checkpoint_epoch");
  final_model.provenance["trained_by"] = "digitlab train";
  final_model.provenance["command"] = o.command_line;
  final_model.provenance["date"] = now_utc();
  final_model.provenance["epochs"] = std::to_string(last_epoch);
  final_model.provenance["train_images"] = std::to_string(n_train);
  final_model.provenance["augment"] = describe(augment);
  final_model.provenance["seed"] = std::to_string(o.common.seed);
  final_model.provenance["test_accuracy"] = fixed(test.confusion.accuracy(), 4);
  if (!o.init.empty()) final_model.provenance["initialised_from"] = o.init;
  save_model_file(final_model, out);
  std::printf("\ntest accuracy %.2f%% (%lld/%lld), test loss %.4f\n\n%s\nwrote %s (metrics: %s, checkpoint: %s)\n",
              100 * test.confusion.accuracy(), (long long)(test.confusion.accuracy() * double(test.confusion.total()) + 0.5),
              (long long)test.confusion.total(), test.loss, test.confusion.report().c_str(), out.c_str(),
              csv_path.c_str(), ckpt.c_str());
  return report;
}

double run_eval(const EvalOptions& o) {
  const Model model = load_model_file(o.model);
  if (o.split != "test" && o.split != "train") throw Error("--split must be test or train");
  const torch::Device device = setup_runtime(o.common);
  const Dataset data = load_mnist(o.data_dir, o.split == "test" ? MnistSplit::test : MnistSplit::train);
  TorchNet net(model, device);
  const Evaluation e = evaluate(net, dataset_images(data, device), dataset_labels(data, device), o.batch);
  std::printf("%s (%s, %lld parameters) on %s %s: accuracy %.2f%% (%lld images), loss %.4f\n\n%s", o.model.c_str(),
              model.arch.name.c_str(), (long long)parameter_count(model.arch), o.data_dir.c_str(), o.split.c_str(),
              100 * e.confusion.accuracy(), (long long)e.confusion.total(), e.loss, e.confusion.report().c_str());
  return e.confusion.accuracy();
}

}  // namespace digitlab
