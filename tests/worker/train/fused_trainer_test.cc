// Fused trials (worker/train/fused_trainer.h): real LibTorch training on CPU, each member compared
// with the same trial trained alone.
#include "worker/train/fused_trainer.h"

#include <gtest/gtest.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <tuple>

#include "core/atomic_file.h"
#include "core/fusion.h"
#include "core/strategy_answer.h"
#include "tests/util/test_util.h"
#include "worker/train/checkpoint_store.h"
#include "worker/train/fused_models.h"

namespace orchard::train {
namespace {

using orchard::testing::TempDir;

// A recipe of quickstart's kind, small; the members differ in learning rate, weight decay, clip and
// schedule, and all of them change neither shapes nor batches. 10 classes and batches of 50: shapes
// where LibTorch's kernels take other paths for other layouts of the logits (4 and 32 hid one).
constexpr const char* kRecipe =
    "model: {type: mlp, hidden: [32, 32]}\n"
    "data: {type: synthetic, samples: 1200, features: 16, classes: 10, noise: 1.0}\n"
    "optimizer: {type: adamw, lr: 0.003, weight_decay: 0.01}\n"
    "train: {steps: 60, batch_size: 50, eval_interval: 20, seed: 3}\n"
    "checkpoint: {interval: 30}\n"
    "sweep: {strategy: asha, metric: val_loss, mode: min, decision_timeout_seconds: 5,\n"
    "        parameters: {optimizer.lr: {values: [0.01]}}}\n";

const std::vector<std::vector<std::string>> kMemberOverrides = {
    {"optimizer.lr=0.003"},
    {"optimizer.lr=0.01", "optimizer.weight_decay=0", "train.grad_clip=0.5"},
    {"optimizer.lr=0.001", "schedule.type=cosine", "schedule.warmup_steps=10"}};

Recipe MustParse(const TempDir& dir, const std::vector<std::string>& overrides) {
  auto r = ParseRecipe(kRecipe, dir / "r.yaml", overrides);
  if (!r.ok()) throw std::runtime_error(r.status().message());
  return *r;
}

std::vector<FusedMember> Members(const TempDir& dir, const std::string& out) {
  std::vector<FusedMember> members;
  for (size_t k = 0; k < kMemberOverrides.size(); ++k) {
    FusedMember member{MustParse(dir, kMemberOverrides[k]), {}};
    member.options.output_dir = (dir.path() / out / std::to_string(k)).string();
    members.push_back(member);
  }
  return members;
}

TrainResult TrainAlone(const Recipe& recipe, const std::string& out, bool resume = false) {
  TrainOptions options;
  options.output_dir = out;
  options.resume = resume;
  auto result = Train(recipe, options);
  if (!result.ok()) throw std::runtime_error(result.status().message());
  return *result;
}

std::vector<TrainResult> MustTrainFused(const std::vector<FusedMember>& members, const MemberEnded& ended = {}) {
  auto results = TrainFused(members, ended);
  if (!results.ok()) throw std::runtime_error(results.status().message());
  return *results;
}

// On the CPU, LibTorch's batched product runs each member's slice through the same matrix kernel a
// trial alone uses, each member's gradient reaches only its own parameters, and the loss takes each
// member's rows as a lone run's, so training is the same arithmetic: parameters, losses and metrics
// bit for bit.
//
// The run's metric series from its metrics.jsonl (name, step, value), without the timings.
std::vector<std::tuple<std::string, int64_t, double>> LearningSeries(const std::string& dir) {
  std::vector<std::tuple<std::string, int64_t, double>> series;
  std::ifstream in(dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json record = nlohmann::json::parse(line);
    const std::string name = record.at("name");
    if (name == "samples_per_second" || name == "step_time_ms") continue;
    series.emplace_back(name, record.at("step").get<int64_t>(), record.at("value").get<double>());
  }
  return series;
}

TEST(FusedTrainerTest, EachMemberEndsWhereTheSameTrialTrainedAloneEnds) {
  TempDir dir;
  const std::vector<TrainResult> fused = MustTrainFused(Members(dir, "fused"));
  ASSERT_EQ(fused.size(), kMemberOverrides.size());
  for (size_t k = 0; k < kMemberOverrides.size(); ++k) {
    SCOPED_TRACE("member " + std::to_string(k));
    const TrainResult alone = TrainAlone(MustParse(dir, kMemberOverrides[k]), (dir.path() / "alone" / std::to_string(k)).string());
    EXPECT_EQ(fused[k].outcome, TrainResult::Outcome::kCompleted);
    EXPECT_EQ(fused[k].steps, 60);
    EXPECT_EQ(fused[k].parameter_count, alone.parameter_count);
    EXPECT_EQ(fused[k].parameter_digest, alone.parameter_digest);
    EXPECT_EQ(fused[k].first_train_loss, alone.first_train_loss);
    EXPECT_EQ(fused[k].final_train_loss, alone.final_train_loss);
    EXPECT_EQ(fused[k].final_eval, alone.final_eval);
    const auto series = LearningSeries((dir.path() / "alone" / std::to_string(k)).string());
    EXPECT_GT(series.size(), 10u);
    EXPECT_EQ(LearningSeries((dir.path() / "fused" / std::to_string(k)).string()), series);
  }
  // The members really trained differently: their hyperparameters were applied, not member 0's.
  EXPECT_NE(fused[0].parameter_digest, fused[1].parameter_digest);
  EXPECT_NE(fused[1].final_eval.at("val_loss"), fused[2].final_eval.at("val_loss"));
}

// Plays member `member`'s worker: gives it the answer file attempt 1 starts with (wait at `first_step`,
// 0: nowhere), and once the member has recorded val_loss at `step`, answers `decision` for that step.
class MemberWorker {
 public:
  MemberWorker(FusedMember& member, int64_t first_step, int64_t step, StrategyAnswer::Decision decision) {
    member.options.epoch = 1;
    member.options.decision_file = member.options.output_dir + "/decision.json";
    std::filesystem::create_directories(member.options.output_dir);
    const Status first = WriteFileAtomically(member.options.decision_file,
                                             StrategyAnswerJson({.attempt = 1, .next_step = first_step}));
    if (!first.ok()) throw std::runtime_error(first.message());
    thread_ = std::thread([this, file = member.options.decision_file, metrics = member.options.output_dir + "/metrics.jsonl",
                           step, decision] {
      const std::string record = "\"name\":\"val_loss\",\"step\":" + std::to_string(step) + ",";
      while (!done_ && orchard::testing::ReadFile(metrics).find(record) == std::string::npos)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!done_) (void)WriteFileAtomically(file, StrategyAnswerJson({1, step, decision, 0}));
    });
  }
  ~MemberWorker() { Done(); }
  void Done() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(FusedTrainerTest, AMemberItsStrategyStopsEndsAloneWithAnOrdinaryCheckpointThatResumesAlone) {
  TempDir dir;
  std::vector<FusedMember> members = Members(dir, "fused");
  // Member 1 waits at its evaluation of step 20, where its worker stops it.
  FusedMember& stopped = members[1];
  stopped.recipe.sweep.decision_timeout_seconds = 60;  // ample on a loaded machine
  MemberWorker worker(stopped, 20, 20, StrategyAnswer::Decision::kStop);
  std::vector<std::pair<size_t, int64_t>> ends;  // (member, steps), as each was told
  const std::vector<TrainResult> fused =
      MustTrainFused(members, [&](size_t member, const TrainResult& r) { ends.emplace_back(member, r.steps); });
  worker.Done();
  // Its end was told when it ended, before the others trained on.
  ASSERT_EQ(ends.size(), 3u);
  EXPECT_EQ(ends[0], (std::pair<size_t, int64_t>{1, 20}));
  EXPECT_EQ(fused[1].outcome, TrainResult::Outcome::kPreempted);
  EXPECT_EQ(fused[1].steps, 20);
  EXPECT_NE(fused[1].message.find("the sweep's strategy stopped it at step 20"), std::string::npos) << fused[1].message;
  EXPECT_EQ(std::filesystem::path(fused[1].last_checkpoint).filename(), "step-20");
  for (size_t k : {0, 2}) {
    EXPECT_EQ(fused[k].outcome, TrainResult::Outcome::kCompleted) << k;
    EXPECT_EQ(fused[k].steps, 60) << k;
  }

  // Its checkpoint is an ordinary one: the trial resumes alone and ends as it would have alone.
  TrainOptions resume;
  resume.output_dir = stopped.options.output_dir;
  resume.resume = true;
  resume.epoch = 2;
  auto resumed = Train(stopped.recipe, resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->start_step, 20);
  EXPECT_EQ(resumed->steps, 60);
  const TrainResult alone = TrainAlone(stopped.recipe, dir / "alone");
  EXPECT_EQ(resumed->parameter_digest, alone.parameter_digest);
}

// A member's trainer cannot be signalled alone, so a decision the member does not wait for (here:
// decision_timeout_seconds 0) still reaches it through its answer file, at its next logged step.
TEST(FusedTrainerTest, ADecisionTheMemberDoesNotWaitForEndsItAtItsNextLoggedStep) {
  TempDir dir;
  std::vector<FusedMember> members = Members(dir, "fused");
  FusedMember& paused = members[2];
  paused.recipe.sweep.decision_timeout_seconds = 0;
  paused.options.epoch = 1;
  paused.options.decision_file = paused.options.output_dir + "/decision.json";
  std::filesystem::create_directories(paused.options.output_dir);
  // Its worker's answer is there before the first logged step (60 steps log every 3).
  ASSERT_TRUE(WriteFileAtomically(paused.options.decision_file,
                                  StrategyAnswerJson({1, 3, StrategyAnswer::Decision::kPause, 0}))
                  .ok());
  const std::vector<TrainResult> fused = MustTrainFused(members);
  EXPECT_EQ(fused[2].outcome, TrainResult::Outcome::kPreempted);
  EXPECT_EQ(fused[2].steps, 3);
  EXPECT_NE(fused[2].message.find("the sweep's strategy paused it at step 3"), std::string::npos) << fused[2].message;
  EXPECT_EQ(std::filesystem::path(fused[2].last_checkpoint).filename(), "step-3");
  EXPECT_EQ(fused[0].steps, 60);
  EXPECT_EQ(fused[1].steps, 60);
}

// With the coordinator silent, the members wait out one timeout together, not one each.
TEST(FusedTrainerTest, MembersWaitingForTheirDecisionsShareOneTimeout) {
  TempDir dir;
  std::vector<FusedMember> members = Members(dir, "fused");
  for (FusedMember& member : members) {
    member.recipe.sweep.decision_timeout_seconds = 4;
    member.options.epoch = 1;
    member.options.decision_file = member.options.output_dir + "/decision.json";
    std::filesystem::create_directories(member.options.output_dir);
    // Judged at step 20, and nobody answers.
    ASSERT_TRUE(WriteFileAtomically(member.options.decision_file, StrategyAnswerJson({.attempt = 1, .next_step = 20})).ok());
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<TrainResult> fused = MustTrainFused(members);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const TrainResult& r : fused) EXPECT_EQ(r.steps, 60);
  EXPECT_GE(seconds, 4) << "they waited for the decisions at step 20";
  // Three waits in turn would take 12 s; the margin is for a loaded machine (up to 4.8 s measured
  // while the whole suite ran beside it).
  EXPECT_LT(seconds, 9) << "one timeout for the group";
}

TEST(FusedTrainerTest, AKilledGroupResumesFusedFromItsMembersCheckpoints) {
  TempDir dir;
  const std::vector<TrainResult> straight = MustTrainFused(Members(dir, "straight"));
  std::vector<FusedMember> members = Members(dir, "resumed");
  MustTrainFused(members);
  // As if the group had been killed after step 30: only that checkpoint is left.
  for (const FusedMember& member : members)
    std::filesystem::remove_all(std::filesystem::path(member.options.output_dir) / "checkpoints" / "step-60");
  for (FusedMember& member : members) member.options.resume = true;
  const std::vector<TrainResult> resumed = MustTrainFused(members);
  for (size_t k = 0; k < members.size(); ++k) {
    EXPECT_EQ(resumed[k].start_step, 30) << k;
    EXPECT_EQ(resumed[k].steps, 60) << k;
    // The same arithmetic in the same order as the straight run: bit for bit.
    EXPECT_EQ(resumed[k].parameter_digest, straight[k].parameter_digest) << k;
    EXPECT_EQ(resumed[k].final_eval, straight[k].final_eval) << k;
  }
}

TEST(FusedTrainerTest, AMemberThatDivergesEndsAloneAndTheOthersTrainOn) {
  TempDir dir;
  std::vector<FusedMember> members = Members(dir, "fused");
  // Plain SGD at a huge step grows the weights geometrically until the loss overflows.
  for (size_t k = 0; k < members.size(); ++k) {
    members[k].recipe = MustParse(dir, {"optimizer.type=sgd", k == 2 ? "optimizer.lr=1e6" : "optimizer.lr=0.05"});
  }
  const std::vector<TrainResult> fused = MustTrainFused(members);
  EXPECT_EQ(fused[2].outcome, TrainResult::Outcome::kDiverged);
  EXPECT_LT(fused[2].steps, 60);
  EXPECT_NE(fused[2].message.find("diverged at step"), std::string::npos) << fused[2].message;
  EXPECT_EQ(fused[0].outcome, TrainResult::Outcome::kCompleted);
  EXPECT_EQ(fused[1].outcome, TrainResult::Outcome::kCompleted);
  const TrainResult alone = TrainAlone(members[0].recipe, dir / "alone");
  EXPECT_EQ(fused[0].parameter_digest, alone.parameter_digest);
}

// The model tensors (parameters and batch-norm statistics) of the checkpoint in `dir`, by name.
std::map<std::string, torch::Tensor> CheckpointModel(const std::string& dir) {
  auto checkpoint = CheckpointStore::Open(dir);
  if (!checkpoint.ok()) throw std::runtime_error(checkpoint.status().message());
  auto bytes = CheckpointStore::ReadFile(*checkpoint, "rank-0.pt");
  if (!bytes.ok()) throw std::runtime_error(bytes.status().message());
  torch::serialize::InputArchive archive;
  std::istringstream in(*bytes);
  archive.load_from(in, torch::kCPU);
  std::map<std::string, torch::Tensor> tensors;
  for (const std::string& key : archive.keys()) {
    torch::Tensor tensor;
    if (key.rfind("model/", 0) == 0 && archive.try_read(key, tensor)) tensors[key] = tensor.to(torch::kFloat64);
  }
  return tensors;
}

// The largest absolute difference between two checkpoints' model tensors.
double LargestDifference(const std::string& a, const std::string& b) {
  const auto left = CheckpointModel(a), right = CheckpointModel(b);
  EXPECT_EQ(left.size(), right.size());
  EXPECT_FALSE(left.empty());
  double worst = 0;
  for (const auto& [name, tensor] : left) {
    EXPECT_TRUE(right.count(name)) << name;
    if (right.count(name)) worst = std::max(worst, (tensor - right.at(name)).abs().max().item<double>());
  }
  return worst;
}

// The cnn's members: grouped convolutions and batch norms over each member's channels. LibTorch's
// grouped convolution is another kernel than one trial's convolution, so the sums run in another
// order: after 40 steps the members' losses, metrics and weights differ from their lone twins' by
// about 1e-7 (measured), well inside this.
constexpr double kCnnTolerance = 1e-5;
TEST(FusedTrainerTest, CnnMembersEndCloseToTheSameTrialsTrainedAlone) {
  TempDir dir;
  const std::string yaml =
      "model: {type: cnn, channels: 4, stages: 1, blocks: 1}\n"
      "data: {type: digits, validation_fraction: 0.2}\n"
      "optimizer: {type: adamw, lr: 0.003}\n"
      "train: {steps: 40, batch_size: 32, eval_interval: 20, seed: 3}\n";
  std::vector<FusedMember> members;
  for (size_t k = 0; k < kMemberOverrides.size(); ++k) {
    auto recipe = ParseRecipe(yaml, dir / "cnn.yaml", kMemberOverrides[k]);
    ASSERT_TRUE(recipe.ok()) << recipe.status().message();
    members.push_back({*recipe, {}});
    members.back().options.output_dir = (dir.path() / "fused" / std::to_string(k)).string();
  }
  const std::vector<TrainResult> fused = MustTrainFused(members);
  for (size_t k = 0; k < members.size(); ++k) {
    SCOPED_TRACE("member " + std::to_string(k));
    const TrainResult alone = TrainAlone(members[k].recipe, (dir.path() / "alone" / std::to_string(k)).string());
    EXPECT_EQ(fused[k].outcome, TrainResult::Outcome::kCompleted);
    EXPECT_EQ(fused[k].parameter_count, alone.parameter_count);
    EXPECT_NEAR(fused[k].first_train_loss, alone.first_train_loss, kCnnTolerance);
    EXPECT_NEAR(fused[k].final_train_loss, alone.final_train_loss, kCnnTolerance);
    for (const auto& [name, value] : alone.final_eval) EXPECT_NEAR(fused[k].final_eval.at(name), value, kCnnTolerance) << name;
    EXPECT_LT(LargestDifference(fused[k].last_checkpoint, alone.last_checkpoint), kCnnTolerance);
  }
}

// TrainFused refuses `members` with an error that holds `fragment`, before member 0 logs anything.
void ExpectRefusedBeforeAnythingTrains(const std::vector<FusedMember>& members, const std::string& fragment) {
  const auto results = TrainFused(members);
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(results.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(results.status().message().find(fragment), std::string::npos) << results.status().message();
  EXPECT_FALSE(std::filesystem::exists(members[0].options.output_dir + "/metrics.jsonl"));
}

TEST(FusedTrainerTest, MembersThatDifferInShapeAreRefusedBeforeAnythingTrains) {
  TempDir dir;
  std::vector<FusedMember> members = Members(dir, "fused");
  members[1].recipe = MustParse(dir, {"model.hidden=[64]"});
  ExpectRefusedBeforeAnythingTrains(members, "fused member 1 sets model.hidden=[64]");
}

TEST(FusedTrainerTest, AGroupOfTorchsOptimizerIsRefusedBeforeAnythingTrains) {
  TempDir dir;
  std::vector<FusedMember> members = Members(dir, "fused");
  for (size_t k = 0; k < members.size(); ++k) {
    std::vector<std::string> overrides = kMemberOverrides[k];
    overrides.push_back("optimizer.impl=torch");
    members[k].recipe = MustParse(dir, overrides);
  }
  ExpectRefusedBeforeAnythingTrains(members, "optimizer.impl is torch; set optimizer.impl: fused");
}

// Members of `spec` (2 by default), fused; each member's model kept alive in `models`.
std::unique_ptr<FusedModel> MustFuse(const std::vector<ModelSpec>& specs, const std::vector<int64_t>& sample_shape,
                                     std::vector<std::unique_ptr<Model>>& models) {
  std::vector<Model*> members;
  for (const ModelSpec& spec : specs) {
    StatusOr<std::unique_ptr<Model>> model = BuildModel(spec, sample_shape, 3);
    if (!model.ok()) throw std::runtime_error(model.status().message());
    models.push_back(std::move(model).value());
    members.push_back(models.back().get());
  }
  auto fused = FuseModels(specs, members);
  if (!fused.ok()) throw std::runtime_error(fused.status().message());
  return std::move(fused).value();
}

// Each member's loss of a training pass: a stand-in that reaches every output.
torch::Tensor SquaredOutputs(const torch::Tensor& outputs) {
  return outputs.to(torch::kFloat32).square().flatten(1).sum(1);
}

// Under bf16 autocast (how a group trains on a GPU; LibTorch's CPU autocast takes the same path) the
// fused layers' products and their backward run in bf16, and the float parameters get float
// gradients.
TEST(FusedTrainerTest, AFusedModelLearnsUnderBf16Autocast) {
  for (const std::string type : {"mlp", "cnn"}) {
    SCOPED_TRACE(type);
    ModelSpec spec;
    spec.type = type;
    spec.cnn.stages = 1;
    const std::vector<int64_t> shape = type == "mlp" ? std::vector<int64_t>{6} : std::vector<int64_t>{1, 8, 8};
    std::vector<std::unique_ptr<Model>> models;
    const std::unique_ptr<FusedModel> fused = MustFuse({spec, spec}, shape, models);
    std::vector<int64_t> batch_shape = {4};
    batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
    torch::Tensor out, losses;
    {
      at::autocast::set_autocast_enabled(at::kCPU, true);
      at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
      out = fused->TrainingForward(torch::randn(batch_shape));
      losses = SquaredOutputs(out);
      at::autocast::set_autocast_enabled(at::kCPU, false);
      at::autocast::clear_cache();
    }
    EXPECT_EQ(out.scalar_type(), at::kBFloat16);
    fused->Backward(out, losses);
    for (const torch::Tensor& p : fused->Parameters()) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
      EXPECT_TRUE(p.grad().isfinite().all().item<bool>());
      EXPECT_GT(p.grad().abs().sum().item<double>(), 0);
    }
  }
}

// The fused mlp takes its own backward pass in training: its gradients are autograd's through its
// Forward, for each activation, with members that drop out and one that does not, and they are
// added to the gradients already there as autograd adds them.
TEST(FusedTrainerTest, TheFusedMlpsOwnBackwardGivesAutogradsGradients) {
  for (const std::string activation : {"relu", "gelu", "tanh"}) {
    SCOPED_TRACE(activation);
    std::vector<ModelSpec> specs(3);
    for (size_t k = 0; k < specs.size(); ++k) {
      specs[k].type = "mlp";
      specs[k].mlp.hidden = {12, 10};
      specs[k].mlp.activation = activation;
      specs[k].mlp.dropout = k == 0 ? 0.0 : 0.25 * static_cast<double>(k);
    }
    std::vector<std::unique_ptr<Model>> models;
    const std::unique_ptr<FusedModel> fused = MustFuse(specs, {7}, models);
    fused->SetTraining(true);
    const torch::Tensor inputs = torch::randn({9, 7});
    const std::vector<torch::Tensor> params = fused->Parameters();
    for (const torch::Tensor& p : params) p.mutable_grad() = torch::full_like(p, 0.5);

    std::vector<torch::Tensor> reference;
    torch::manual_seed(11);  // the same units dropped in both passes
    {
      const torch::Tensor losses = SquaredOutputs(fused->Forward(inputs));
      losses.sum().backward();
      for (const torch::Tensor& p : params) reference.push_back(p.grad().clone()), p.mutable_grad().fill_(0.5);
    }
    torch::manual_seed(11);
    const torch::Tensor outputs = fused->TrainingForward(inputs);
    const torch::Tensor losses = SquaredOutputs(outputs);
    fused->Backward(outputs, losses);
    for (size_t i = 0; i < params.size(); ++i) {
      SCOPED_TRACE("parameter " + std::to_string(i));
      EXPECT_TRUE(torch::allclose(params[i].grad(), reference[i], 1e-5, 1e-6))
          << (params[i].grad() - reference[i]).abs().max().item<double>();
    }
    EXPECT_GT((reference.front() - 0.5).abs().sum().item<double>(), 0);  // the pass reached the first layer
  }
}

// The fused cnn's own pieces (channels-last activations, its strided convolutions' input gradients,
// its pooling) give each member the gradients its lone model gets, on odd planes too (7 x 7, whose
// strided convolutions leave an edge). Lone activations are contiguous, so the sums run in another
// order: close, not equal.
TEST(FusedTrainerTest, TheFusedCnnsGradientsAreItsMembersLoneGradients) {
  std::vector<ModelSpec> specs(3);
  for (ModelSpec& spec : specs) {
    spec.type = "cnn";
    spec.cnn.channels = 4;
    spec.cnn.stages = 1;
    spec.cnn.blocks = 1;
  }
  std::vector<std::unique_ptr<Model>> models;
  const std::unique_ptr<FusedModel> fused = MustFuse(specs, {2, 7, 7}, models);
  fused->SetTraining(true);
  torch::manual_seed(4);
  const torch::Tensor inputs = torch::randn({5, 2, 7, 7});
  const torch::Tensor outputs = fused->TrainingForward(inputs);
  fused->Backward(outputs, SquaredOutputs(outputs));
  const std::vector<torch::Tensor> stacked = fused->Parameters();
  for (size_t k = 0; k < models.size(); ++k) {
    SCOPED_TRACE("member " + std::to_string(k));
    Model& lone = *models[k];
    lone.SetTraining(true);
    SquaredOutputs(lone.Forward(inputs).unsqueeze(0)).sum().backward();
    int compared = 0;
    for (const torch::Tensor& p : lone.Parameters()) {
      for (const torch::Tensor& s : stacked) {
        if (!p.is_alias_of(s)) continue;
        const torch::Tensor theirs = s.grad().select(0, static_cast<int64_t>(k));
        EXPECT_TRUE(torch::allclose(theirs, p.grad(), 1e-4, 1e-5)) << (theirs - p.grad()).abs().max().item<double>();
        ++compared;
      }
    }
    EXPECT_EQ(compared, static_cast<int>(lone.Parameters().size()));
  }
}

// The coordinator sizes fuse: auto groups from EstimateFusedMemberCost, which lays the models out
// without LibTorch: its parameter count is the one of the models the trainer builds.
TEST(FusedTrainerTest, TheCoordinatorsCostEstimateCountsTheParametersTheTrainerBuilds) {
  const std::vector<std::string> recipes = {
      "model: {type: mlp, hidden: [64, 64]}\ndata: {type: synthetic, features: 32, classes: 8}\n",
      "model: {type: mlp, hidden: [7]}\ndata: {type: synthetic, features: 5, task: regression}\n",
      "model: {type: cnn, channels: 16, stages: 1, blocks: 1}\ndata: {type: digits}\n",
      "model: {type: cnn, channels: 8, stages: 2, blocks: 2}\ndata: {type: digits}\n",
      "model: {type: cnn, channels: 4, stages: 0, blocks: 3}\n"
      "data: {type: csv, path: rows.csv, task: regression, shape: [3, 5, 5]}\n",
  };
  for (const std::string& yaml : recipes) {
    SCOPED_TRACE(yaml);
    const auto recipe = ParseRecipe(yaml + "train: {steps: 1}\n", "cost.yaml", {});
    ASSERT_TRUE(recipe.ok()) << recipe.status().message();
    const auto cost = EstimateFusedMemberCost(*recipe);
    ASSERT_TRUE(cost.has_value());
    const DataSpec& data = recipe->data;
    const std::vector<int64_t> shape = !data.shape.empty()      ? data.shape
                                       : data.type == "digits" ? std::vector<int64_t>{1, 8, 8}
                                                               : std::vector<int64_t>{data.features};
    const int64_t outputs = data.task == "regression" ? 1 : data.type == "digits" ? 10 : data.classes;
    auto model = BuildModel(recipe->model, shape, outputs);
    ASSERT_TRUE(model.ok()) << model.status().message();
    int64_t built = 0;
    for (const torch::Tensor& p : (*model)->Parameters()) built += p.numel();
    EXPECT_EQ(cost->parameters, built);
  }
}

}  // namespace
}  // namespace orchard::train
