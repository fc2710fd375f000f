// `digitlab train` and `digitlab eval`.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>

#include "augment.h"
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

Model load_start_model(const TrainOptions& o, const Architecture& arch) {
  if (!o.resume.empty()) {
    Model m = load_model_file(o.resume);
    if (architecture_to_json(m.arch) != architecture_to_json(arch)) {
      throw Error(o.resume + " holds a '" + m.arch.name + "' model, not the requested '" + arch.name +
                  "' (pass --arch " + m.arch.name + ", or start a new run without --resume)");
    }
    return m;
  }
  if (!o.init.empty()) {
    Model m = load_model_file(o.init);
    if (architecture_to_json(m.arch) != architecture_to_json(arch)) {
      throw Error(o.init + " holds a '" + m.arch.name + "' model; --init needs the same architecture as --arch " + arch.name);
    }
    return m;
  }
  return init_model(arch, o.common.seed);
}

std::string last_linear_layer(const Architecture& arch) {
  for (auto it = arch.layers.rbegin(); it != arch.layers.rend(); ++it) {
    if (it->kind == LayerKind::linear) return it->name;
  }
  throw Error(arch.name + " has no linear layer to reset");
}

}  // namespace

TrainReport run_train(const TrainOptions& o) {
  const Architecture arch = preset(o.arch);
  if (o.epochs < 1 || o.epochs > 10000) throw Error("--epochs must be between 1 and 10000");
  if (o.batch < 1 || o.batch > 65536) throw Error("--batch must be between 1 and 65536");
  const std::string out = o.out.empty() ? o.arch + ".safetensors" : o.out;
  const std::string csv_path = o.metrics_csv.empty() ? out + ".metrics.csv" : o.metrics_csv;
  const std::string ckpt = out + ".ckpt.safetensors", ckpt_optim = out + ".ckpt.optim.pt";
  const AugmentOptions augment = parse_augment_options(o.augment);
  const double peak_lr = o.lr > 0 ? o.lr : (o.optimizer == "sgd" ? 0.05 : 3e-3);

  const torch::Device device = setup_runtime(o.common);
  const Dataset train_set = load_mnist(o.data_dir, MnistSplit::train);
  const Dataset test_set = load_mnist(o.data_dir, MnistSplit::test);
  const Split data = split_training_set(train_set, o.limit, o.val, o.common.seed, device);
  const torch::Tensor test_x = dataset_images(test_set, device), test_y = dataset_labels(test_set, device);

  Model start = load_start_model(o, arch);
  int first_epoch = 1;
  if (!o.resume.empty()) {
    const auto it = start.provenance.find("checkpoint_epoch");
    if (it == start.provenance.end()) throw Error(o.resume + " is a weights file, not a checkpoint (no checkpoint_epoch)");
    first_epoch = std::stoi(it->second) + 1;
    if (first_epoch > o.epochs) throw Error(o.resume + " already finished epoch " + it->second + " of --epochs " + std::to_string(o.epochs));
  }
  TorchNet net(start, device);
  if (o.reset_head && o.resume.empty()) net.reinitialize_layer(last_linear_layer(arch), o.common.seed);
  auto optimizer = make_optimizer(o.optimizer, net.trainable_parameters(), peak_lr, o.momentum, o.weight_decay);
  if (!o.resume.empty()) {
    const std::string optim_path = o.resume.substr(0, o.resume.size() - std::string(".safetensors").size()) + ".optim.pt";
    if (!file_exists(optim_path)) throw Error("optimizer state " + optim_path + " (written beside the checkpoint) is missing");
    torch::load(*optimizer, optim_path);
  }

  const int64_t n_train = data.train_x.size(0);
  const int64_t steps_per_epoch = (n_train + o.batch - 1) / o.batch;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  std::fprintf(stderr, "train %s: %lld params, %lld training / %lld validation / %lld test images, batch %d, %s lr %g (%s), augment %s\n",
               arch.name.c_str(), (long long)parameter_count(arch), (long long)n_train,
               (long long)(data.val_x.defined() ? data.val_x.size(0) : 0), (long long)test_x.size(0), o.batch,
               o.optimizer.c_str(), peak_lr, o.schedule.c_str(), describe(augment).c_str());

  std::ofstream csv(csv_path, first_epoch == 1 ? std::ios::trunc : std::ios::app);
  if (!csv) throw Error("cannot write metrics to " + csv_path);
  if (first_epoch == 1) csv << "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,images_per_second\n";

  std::optional<Model> best;
  double best_val_loss = INFINITY;
  int epochs_without_improvement = 0;
  const auto run_start = std::chrono::steady_clock::now();
  bool reached_target = false;
  int last_epoch = first_epoch - 1;
  for (int epoch = first_epoch; epoch <= o.epochs && !reached_target; ++epoch) {
    torch::manual_seed(o.common.seed * 1000003ull + uint64_t(epoch));  // same epoch, same batches, resumed or not
    const torch::Tensor order = torch::randperm(n_train, torch::TensorOptions().dtype(torch::kInt64).device(device));
    ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), n_train);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    double lr = peak_lr;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t step = int64_t(epoch - 1) * steps_per_epoch + s;
      lr = scheduled_lr(o.schedule, peak_lr, step, total_steps);
      set_learning_rate(*optimizer, lr);
      const torch::Tensor idx = rows(order, s * o.batch, std::min<int64_t>(n_train, (s + 1) * o.batch));
      torch::Tensor x = data.train_x.index_select(0, idx);
      const torch::Tensor y = data.train_y.index_select(0, idx);
      x = augment_batch(x, augment);
      const torch::Tensor logits = net.forward(x, /*train=*/true);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(
          logits, y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        throw Error("loss became " + std::to_string(loss_value) + " at epoch " + std::to_string(epoch) + ", step " +
                    std::to_string(s + 1) + " (learning rate " + fixed(lr, 6) + " too high?); " + out +
                    " was not written" + (epoch > 1 ? "; the last good epoch is in " + ckpt + " (--resume it with a lower --lr)" : ""));
      }
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      loss_sum += loss_value * double(idx.size(0));
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      seen += idx.size(0);
      bar.update(seen, "loss " + fixed(loss_sum / double(seen), 4));
      if (o.target_test_accuracy > 0 && (step + 1) % o.eval_every == 0) {
        const double acc = evaluate(net, test_x, test_y, 1000).confusion.accuracy();
        if (acc >= o.target_test_accuracy) {
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
          bar.finish();
          std::printf("reached test accuracy %.4f >= %.4f after %lld steps (%lld images), %.1f s of training\n", acc,
                      o.target_test_accuracy, (long long)(step + 1), (long long)((step + 1) * o.batch), secs);
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
      const Evaluation v = evaluate(net, data.val_x, data.val_y, 1000, "validate");
      val_loss = v.loss;
      val_acc = v.confusion.accuracy();
      val_text = "  val loss " + fixed(val_loss, 4) + " acc " + fixed(100 * val_acc, 2) + "%";
    }
    std::printf("epoch %3d/%d  loss %.4f  train acc %.2f%%%s  lr %.2e  %s (%.0f img/s)\n", epoch, o.epochs,
                loss_sum / double(seen), 100.0 * double(correct) / double(seen), val_text.c_str(), lr,
                format_duration(secs).c_str(), double(seen) / secs);
    std::fflush(stdout);
    csv << epoch << ',' << loss_sum / double(seen) << ',' << double(correct) / double(seen) << ','
        << (data.val_x.defined() ? fixed(val_loss, 6) : "") << ',' << (data.val_x.defined() ? fixed(val_acc, 6) : "")
        << ',' << lr << ',' << secs << ',' << double(seen) / secs << '\n';
    csv.flush();

    // Checkpoint: weights (a normal model file with the epoch in its provenance) + optimizer state.
    Model snapshot = net.to_model();
    snapshot.provenance["checkpoint_epoch"] = std::to_string(epoch);
    save_model_file(snapshot, ckpt);
    torch::save(*optimizer, ckpt_optim);

    if (data.val_x.defined() && o.patience > 0) {
      if (val_loss < best_val_loss) {
        best_val_loss = val_loss;
        best = net.to_model();
        epochs_without_improvement = 0;
      } else if (++epochs_without_improvement >= o.patience) {
        std::printf("early stop: validation loss has not improved for %d epochs; keeping epoch %d's weights\n",
                    o.patience, epoch - o.patience);
        break;
      }
    }
  }

  Model final_model = best ? *best : net.to_model();
  if (best) net = TorchNet(final_model, device);
  const Evaluation test = evaluate(net, test_x, test_y, 1000, "test");
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
  return TrainReport{last_epoch, test.confusion.accuracy()};
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
