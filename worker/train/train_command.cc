#include "worker/train/train_command.h"

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/build_info.h"
#include "core/data_fingerprint.h"
#include "core/provenance.h"
#include "core/recipe.h"
#include "core/sha256.h"
#include "worker/train/fused_trainer.h"
#include "worker/train/torchscript_export.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

const char* OutcomeName(TrainResult::Outcome o) {
  switch (o) {
    case TrainResult::Outcome::kCompleted: return "completed";
    case TrainResult::Outcome::kPreempted: return "preempted";
    case TrainResult::Outcome::kDiverged: return "diverged";
  }
  return "unknown";
}

nlohmann::json Summary(const TrainResult& r) {
  return {{"outcome", OutcomeName(r.outcome)}, {"message", r.message}, {"start_step", r.start_step},
          {"steps", r.steps}, {"total_steps", r.total_steps}, {"first_train_loss", r.first_train_loss},
          {"final_train_loss", r.final_train_loss}, {"final_eval", r.final_eval},
          {"samples_per_second", r.samples_per_second}, {"step_time_ms", r.step_time_ms},
          {"parameter_count", r.parameter_count}, {"device", r.device},
          {"parameter_digest", r.parameter_digest}, {"last_checkpoint", r.last_checkpoint},
          {"ranks", r.ranks}, {"buckets", r.buckets}};
}

StatusOr<std::string> ReadRecipeText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot read the recipe file (does it exist?)");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What the command knows of the run's origins; Train adds the libraries and the device. Shared by
// every trial of `recipe` (the members of a fused group read the same data): the data files'
// fingerprints, the build and the host. A data file that cannot be read is left out here: loading
// it fails next, with the better message.
Provenance DescribeSharedOrigins(const Recipe& recipe) {
  Provenance p;
  FingerprintCache cache(DefaultFingerprintCacheFile());
  for (const std::string& file : InputFiles(recipe)) {
    StatusOr<FileFingerprint> fingerprint = cache.Fingerprint(file);
    if (fingerprint.ok()) p.data.push_back(*fingerprint);
  }
  (void)cache.Save();  // a cache that cannot be written costs only a hash next time
  const BuildInfo& build = ThisBuild();
  p.orchard_version = build.version;
  p.commit = build.commit;
  p.dirty = build.dirty;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) p.host = host;
  return p;
}

// `shared` (DescribeSharedOrigins) completed for one trial: its resolved recipe and seeds.
Provenance DescribeOrigins(Provenance shared, const Recipe& recipe, const std::string& text, const std::string& origin,
                           const std::vector<std::string>& overrides, int64_t epoch) {
  Provenance& p = shared;
  p.attempt = epoch;
  p.recipe_file = origin;
  // The recipe parsed, so this cannot fail.
  p.resolved_recipe = TrialRecipeYaml(text, origin, overrides).value();
  p.recipe_sha256 = Sha256Hex(p.resolved_recipe);
  p.train_seed = recipe.train.seed;
  p.data_seed = recipe.data.seed;
  return p;
}

// Passes lines to `out`, each after `prefix`: fused members share one progress stream.
class PrefixedLines : public std::streambuf {
 public:
  PrefixedLines(std::ostream& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    if (at_line_start_) out_ << prefix_;
    out_.put(static_cast<char>(c));
    at_line_start_ = c == '\n';
    return c;
  }
  int sync() override {
    out_.flush();
    return 0;
  }

 private:
  std::ostream& out_;
  std::string prefix_;
  bool at_line_start_ = true;
};

int ExitCodeOf(const StatusCode code) {
  if (code == StatusCode::kAborted) return kExitFenced;
  return code == StatusCode::kInvalidArgument || code == StatusCode::kNotFound || code == StatusCode::kFailedPrecondition
             ? kExitBadInput
             : kExitFailed;
}

int ExitCodeOf(TrainResult::Outcome outcome) {
  switch (outcome) {
    case TrainResult::Outcome::kDiverged: return kExitDiverged;
    case TrainResult::Outcome::kPreempted: return kExitPreempted;
    case TrainResult::Outcome::kCompleted: break;
  }
  return kExitCompleted;
}

// What --members names: each member's own overrides and files.
struct MemberFlags {
  std::vector<std::string> overrides;
  std::string out, decisions, summary;
  int64_t epoch = 0;
};

StatusOr<std::vector<MemberFlags>> ReadMembers(const std::string& path) {
  const StatusOr<std::string> text = ReadRecipeText(path);
  if (!text.ok()) return NotFound(path + ": cannot read the members file (does it exist?)");
  const nlohmann::json list = nlohmann::json::parse(*text, nullptr, false);
  const std::string expected = ": expected a JSON list of members such as [{\"set\": [\"optimizer.lr=0.01\"], \"out\": "
                               "\"runs/a\"}, ...] (each may add \"epoch\", \"decisions\" and \"summary\")";
  if (!list.is_array() || list.empty()) return InvalidArgument(path + expected);
  std::vector<MemberFlags> members;
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& m = list[i];
    const std::string where = path + ": member " + std::to_string(i);
    if (!m.is_object() || !m.contains("out") || !m["out"].is_string()) return InvalidArgument(where + " has no \"out\" directory" + expected);
    MemberFlags flags;
    flags.out = m["out"].get<std::string>();
    try {
      flags.overrides = m.value("set", std::vector<std::string>{});
      flags.epoch = m.value("epoch", int64_t{0});
      flags.decisions = m.value("decisions", std::string());
      flags.summary = m.value("summary", std::string());
    } catch (const nlohmann::json::exception& e) {
      return InvalidArgument(where + ": " + e.what() + expected);
    }
    members.push_back(std::move(flags));
  }
  return members;
}

// Allocations up to this size come from (and return to) the heap in a fused trainer: glibc's own
// ceiling for the setting.
constexpr int kKeptAllocationBytes = 32 << 20;

// orchard-train RECIPE --members FILE: the members train as one fused model; each writes its own
// summary. The exit code is the worst member's: failed, diverged, preempted, completed.
int RunFused(const Recipe& base, const std::string& text, const std::string& origin,
             const std::vector<std::string>& overrides, const std::string& members_path, bool resume, bool quiet,
             const TrainCommandEnv& env) {
  auto flags = ReadMembers(members_path);
  if (!flags.ok()) {
    *env.err << "orchard-train: " << flags.status().message() << "\n";
    return kExitBadInput;
  }
  // Under mpirun a group trains on one rank: the communicator says which GPU is that rank's.
  int cuda_device = 0;
  std::unique_ptr<comm::Communicator> rank;
  if (env.make_communicator) {
    auto made = env.make_communicator(base, &cuda_device);
    if (!made.ok()) {
      *env.err << "orchard-train: cannot set up the rank's communicator: " << made.status().message() << "\n";
      return made.status().code() == StatusCode::kInvalidArgument ? kExitBadInput : kExitFailed;
    }
    if ((*made)->size() > 1) {
      *env.err << "orchard-train: a fused group trains on one rank, but this run has " << (*made)->size()
               << "; run --members without mpirun (or on one rank)\n";
      return kExitBadInput;
    }
    rank = std::move(*made);
  }
  std::vector<FusedMember> members;
  std::vector<Provenance> provenance(flags->size());
  const Provenance shared = DescribeSharedOrigins(base);
  std::vector<std::unique_ptr<PrefixedLines>> prefixes;
  std::vector<std::unique_ptr<std::ostream>> streams;
  for (size_t i = 0; i < flags->size(); ++i) {
    const MemberFlags& f = (*flags)[i];
    std::vector<std::string> all = overrides;
    all.insert(all.end(), f.overrides.begin(), f.overrides.end());
    auto recipe = ParseRecipe(text, origin, all);
    if (!recipe.ok()) {
      *env.err << "orchard-train: member " << i << " of " << members_path << " is not a valid trial; nothing was run:\n"
               << recipe.status().message() << "\n";
      return kExitBadInput;
    }
    FusedMember member{*recipe, {}};
    member.options.output_dir = f.out;
    member.options.resume = resume;
    member.options.epoch = f.epoch;
    member.options.decision_file = f.decisions;
    member.options.stop_requested = env.stop_requested;
    member.options.cuda_device = cuda_device;
    if (!quiet) {
      prefixes.push_back(std::make_unique<PrefixedLines>(*env.out, "[member " + std::to_string(i) + "] "));
      streams.push_back(std::make_unique<std::ostream>(prefixes.back().get()));
      member.options.progress = streams.back().get();
    }
    provenance[i] = DescribeOrigins(shared, *recipe, text, origin, all, f.epoch);
    member.options.provenance = &provenance[i];
    members.push_back(std::move(member));
  }
  // Each summary is written as its member ends: the worker reports a member that ends early then.
  const auto write_summary = [&](size_t i, const TrainResult& r) {
    const std::string& path = (*flags)[i].summary;
    if (path.empty()) return;
    if (const Status written = WriteFileAtomically(path, Summary(r).dump(2) + "\n"); !written.ok())
      *env.err << "orchard-train: member " << i << ": cannot write its summary: " << written.message() << "\n";
  };
  // A group's activations are large and freed every step. glibc would hand that memory back to the
  // kernel and fault it in again at the next step (about a tenth of a fused cnn's step on the CPU):
  // keep it in the heap instead.
  mallopt(M_MMAP_THRESHOLD, kKeptAllocationBytes);
  mallopt(M_TRIM_THRESHOLD, 8 * kKeptAllocationBytes);
  auto results = TrainFused(members, write_summary);
  if (!results.ok()) {
    *env.err << "orchard-train: " << results.status().message() << "\n";
    return ExitCodeOf(results.status().code());
  }
  int worst = kExitCompleted;
  for (size_t i = 0; i < results->size(); ++i) {
    const TrainResult& r = (*results)[i];
    if (r.outcome == TrainResult::Outcome::kDiverged) *env.err << "orchard-train: member " << i << ": " << r.message << "\n";
    const int code = ExitCodeOf(r.outcome);
    if (code == kExitDiverged || (code == kExitPreempted && worst == kExitCompleted)) worst = code;
    if (!quiet && r.outcome == TrainResult::Outcome::kCompleted) {
      *env.out << "member " << i << " done: " << r.steps << " steps";
      for (const auto& [name, value] : r.final_eval) *env.out << ", " << name << " " << value;
      *env.out << "; checkpoint " << r.last_checkpoint << "\n";
    }
  }
  return worst;
}

}  // namespace

int RunTrainCommand(const std::vector<std::string>& args, const TrainCommandEnv& env) {
  std::vector<const char*> argv = {"orchard-train"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  const int argc = static_cast<int>(argv.size());
  CLI::App app{"orchard-train: train one configuration of an Orchard recipe with LibTorch (no coordinator)."};
  app.footer("Exit codes: 0 completed, 1 failed, 2 bad recipe or flags, 3 diverged, 4 preempted (SIGTERM/SIGINT:\n"
             "a checkpoint was written; run again with --resume to continue), 5 fenced (a newer --epoch owns --out).\n"
             "orchard-train --zygote serves as the worker agent's warm trainer (JSON lines on stdin/stdout).");
  std::string recipe_path, out_dir, summary_path, recipe_origin, decision_file;
  std::vector<std::string> overrides;
  bool resume = false, evaluate_only = false, validate_only = false, quiet = false;
  app.add_option("recipe", recipe_path, "Recipe YAML file")->required();
  app.add_option("--set", overrides, "Override a recipe field, e.g. --set optimizer.lr=0.01 (repeatable)");
  app.add_option("--out", out_dir, "Output directory for metrics.jsonl and checkpoints/ (default runs/<recipe name>)");
  app.add_flag("--resume", resume, "Continue from the latest complete checkpoint in the output directory, if any");
  app.add_flag("--evaluate-only", evaluate_only,
               "Do not train: evaluate the latest checkpoint in the output directory once on the recipe's validation "
               "data and record the metrics (with or without --resume)");
  int64_t epoch = 0;
  app.add_option("--epoch", epoch,
                 "Fencing epoch (the worker passes the attempt number): checkpoints of a lower epoch are refused once "
                 "this one has started, and this one stops if a higher one has")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--decisions", decision_file,
                 "The file the worker answers in (decision.json): at an evaluation the sweep's strategy judges, wait "
                 "there for its decision, at most sweep.decision_timeout_seconds (needs --epoch: the attempt number)");
  double gpu_memory_fraction = 0;
  app.add_option("--gpu-memory-fraction", gpu_memory_fraction,
                 "Use at most this share of the GPU's memory (the worker sets it for trials that share a GPU); "
                 "past it the run fails with an error that says so")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--validate", validate_only, "Only validate the recipe and exit");
  app.add_flag("-q,--quiet", quiet, "No progress lines");
  app.add_option("--summary", summary_path, "Write the run's result as JSON to this file");
  std::string members_path;
  app.add_option("--members", members_path,
                 "Train several trials of this recipe as one fused model (docs/fusion.md): a JSON list of members, "
                 "each {\"set\": [overrides], \"out\": DIR} plus, optionally, \"epoch\", \"decisions\" and \"summary\"; "
                 "they may differ only in fields that keep shapes and batches (optimizer.lr, weight_decay, ...)")
      ->excludes("--out")->excludes("--summary")->excludes("--decisions")->excludes("--epoch")->excludes("--evaluate-only");
  app.add_option("--recipe-origin", recipe_origin,
                 "Name the recipe as this path in messages and resolve its relative paths against it (the worker "
                 "uses it for a recipe submitted from another directory)");
  try {
    app.parse(argc, argv.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, *env.out, *env.err);
    return code == 0 ? 0 : kExitBadInput;
  }

  const std::string origin = recipe_origin.empty() ? recipe_path : recipe_origin;
  const StatusOr<std::string> text = ReadRecipeText(recipe_path);
  auto recipe = text.ok() ? ParseRecipe(*text, origin, overrides) : StatusOr<Recipe>(text.status());
  if (!recipe.ok()) {
    *env.err << "orchard-train: invalid recipe; nothing was run:\n" << recipe.status().message() << "\n";
    return kExitBadInput;
  }
  if (validate_only) {
    *env.out << recipe_path << ": valid (" << recipe->model.type << " on " << recipe->data.type << " data"
              << (recipe->has_sweep ? ", sweep of " + std::to_string(recipe->sweep.parameters.size()) + " parameters" : "")
              << ")\n";
    return kExitCompleted;
  }

  if (!members_path.empty()) {
    ApplyGpuMemoryShare(gpu_memory_fraction);
    return RunFused(*recipe, *text, origin, overrides, members_path, resume, quiet, env);
  }
  TrainOptions options;
  options.output_dir = out_dir.empty() ? "runs/" + recipe->name : out_dir;
  options.resume = resume;
  options.evaluate_only = evaluate_only;
  options.epoch = epoch;
  options.progress = quiet ? nullptr : env.out;
  options.stop_requested = env.stop_requested;
  options.decision_file = decision_file;
  options.gpu_memory_fraction = gpu_memory_fraction;
  ApplyGpuMemoryShare(gpu_memory_fraction);
  // Described before the ranks meet: hashing new data can take longer than a collective may wait.
  Provenance provenance = DescribeOrigins(DescribeSharedOrigins(*recipe), *recipe, *text, origin, overrides, epoch);
  std::unique_ptr<comm::Communicator> communicator;
  if (env.make_communicator) {
    auto made = env.make_communicator(*recipe, &options.cuda_device);
    if (!made.ok()) {
      *env.err << "orchard-train: cannot set up the ranks' communicator: " << made.status().message() << "\n";
      return made.status().code() == StatusCode::kInvalidArgument ? kExitBadInput : kExitFailed;
    }
    communicator = std::move(*made);
    options.communicator = communicator.get();
  }
  const bool rank_zero = !communicator || communicator->rank() == 0;
  if (rank_zero) options.provenance = &provenance;
  auto result = Train(*recipe, options);
  if (!result.ok()) {
    *env.err << "orchard-train: " << result.status().message() << "\n";
    return ExitCodeOf(result.status().code());
  }
  if (!summary_path.empty() && rank_zero) std::ofstream(summary_path) << Summary(*result).dump(2) << "\n";
  if (result->outcome == TrainResult::Outcome::kDiverged) *env.err << "orchard-train: " << result->message << "\n";
  if (result->outcome != TrainResult::Outcome::kCompleted) return ExitCodeOf(result->outcome);
  if (!quiet && rank_zero && !evaluate_only) {
    *env.out << "done: " << result->steps << " steps";
    for (const auto& [name, value] : result->final_eval) *env.out << ", " << name << " " << value;
    if (result->samples_per_second > 0) *env.out << ", " << static_cast<long>(result->samples_per_second) << " samples/s";
    *env.out << "; checkpoint "
              << result->last_checkpoint << ", metrics " << options.output_dir << "/" << recipe->metrics.file << "\n";
  }
  return kExitCompleted;
}

int RunExportCommand(const std::vector<std::string>& args, const TrainCommandEnv& env) {
  std::vector<const char*> argv = {"orchard-train export"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  CLI::App app{"orchard-train export: write a checkpoint's model as a TorchScript file for serving (torch.jit.load)."};
  app.footer("The file takes raw inputs (the standardisation the model was trained with is part of it) and returns\n"
             "logits for classification, values for regression. Model types: " + std::string(kExportableModelTypes) +
             ".\nExit codes: 0 written, 1 failed, 2 bad recipe, flags, checkpoint or model type.");
  std::string recipe_path, checkpoint_dir, out_file;
  app.add_option("--recipe", recipe_path, "The recipe the checkpoint's run trained (its hyperparameters applied)")->required();
  app.add_option("--checkpoint", checkpoint_dir, "A checkpoint directory (step-<n>)")->required();
  app.add_option("--out", out_file, "The TorchScript file to write, e.g. model.pt")->required();
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, *env.out, *env.err);
    return code == 0 ? 0 : kExitBadInput;
  }
  auto recipe = LoadRecipe(recipe_path, {});
  if (!recipe.ok()) {
    *env.err << "orchard-train export: invalid recipe; nothing was written:\n" << recipe.status().message() << "\n";
    return kExitBadInput;
  }
  const Status exported = ExportTorchScript(*recipe, checkpoint_dir, out_file);
  if (!exported.ok()) {
    *env.err << "orchard-train export: " << exported.message() << "\n";
    return exported.code() == StatusCode::kInternal ? kExitFailed : kExitBadInput;
  }
  *env.out << "wrote " << out_file << " (" << recipe->model.type << " from " << checkpoint_dir << ")\n";
  return kExitCompleted;
}

}  // namespace orchard::train
