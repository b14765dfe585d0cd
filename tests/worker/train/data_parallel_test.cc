// Data parallelism among real MPI ranks with real LibTorch training (run by ctest under mpirun with
// 2 and 3 ranks): broadcast of the initial state, gradient buckets (order, count, overlap, values),
// and N ranks x batch b reaching the parameters of 1 rank x batch N*b.
#include "core/file_tree.h"
#include "worker/train/data_parallel.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/recipe.h"
#include "core/strategy_answer.h"
#include "worker/comm/mpi_communicator.h"
#include "worker/train/checkpoint_store.h"
#include "worker/train/trainer.h"

namespace orchard::train {
namespace {

namespace fs = std::filesystem;

// Ranks outnumber cores (--oversubscribe): one intra-op thread each.
class OneThreadPerRank : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kOneThreadPerRank = ::testing::AddGlobalTestEnvironment(new OneThreadPerRank);

std::unique_ptr<comm::Communicator> World() {
  auto made = comm::MakeMpiCommunicator(MPI_COMM_WORLD, 60);
  EXPECT_TRUE(made.ok()) << made.status().message();
  return std::move(*made);
}

// A directory every rank shares (rank 0 makes it), removed at the end by rank 0.
class SharedDir {
 public:
  explicit SharedDir(comm::Communicator& comm) : comm_(comm) {
    char path[256] = {};
    if (comm.rank() == 0) {
      std::string pattern = (fs::temp_directory_path() / "orchard-dp-XXXXXX").string();
      std::snprintf(path, sizeof path, "%s", pattern.c_str());
      EXPECT_NE(mkdtemp(path), nullptr);
    }
    EXPECT_TRUE(comm.Broadcast({path, sizeof path, comm::DataType::kUInt8}, 0).ok());
    path_ = path;
  }
  ~SharedDir() {
    (void)comm_.Barrier();
    if (comm_.rank() == 0) RemoveTree(path_);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  comm::Communicator& comm_;
  fs::path path_;
};

torch::nn::Sequential SmallMlp() {
  return torch::nn::Sequential(torch::nn::Linear(16, 32), torch::nn::ReLU(), torch::nn::Linear(32, 32),
                               torch::nn::ReLU(), torch::nn::Linear(32, 4));
}

TEST(PlanBucketsTest, FillsFromTheLastParameterAndClosesAtTheCap) {
  // Parameter bytes: w1 2048, b1 128, w2 4096, b2 128, w3 512, b3 16; cap 600.
  auto buckets = PlanBuckets({2048, 128, 4096, 128, 512, 16}, 600);
  EXPECT_EQ(buckets, (std::vector<std::vector<size_t>>{{5, 4, 3}, {2}, {1, 0}}));
  EXPECT_EQ(PlanBuckets({2048, 128, 4096, 128, 512, 16}, int64_t{25} << 20), (std::vector<std::vector<size_t>>{{5, 4, 3, 2, 1, 0}}));
  EXPECT_TRUE(PlanBuckets({}, 100).empty());
}

TEST(DataParallelTest, BroadcastGivesEveryRankTheRootsParameters) {
  auto comm = World();
  torch::manual_seed(1000 + comm->rank());  // different on purpose
  auto model = SmallMlp();
  std::vector<torch::Tensor> state;
  for (auto& p : model->parameters()) state.push_back(p.detach());
  const int root = comm->size() - 1;
  ASSERT_TRUE(BroadcastTensors(*comm, state, root).ok());
  torch::manual_seed(1000 + root);
  auto expected = SmallMlp();
  auto expected_params = expected->parameters();
  for (size_t i = 0; i < state.size(); ++i) EXPECT_TRUE(torch::equal(state[i], expected_params[i])) << "parameter " << i;
}

// Each rank's batch is drawn from a seed of its own; every rank can therefore build all batches and
// compute the reference gradient of the mean loss itself.
torch::Tensor InputsOf(int rank) {
  torch::manual_seed(7 + rank);
  return torch::randn({8, 16});
}

void CheckBuckets(bool overlap) {
  auto comm = World();
  torch::manual_seed(3);
  auto model = SmallMlp();
  torch::manual_seed(3);
  auto reference = SmallMlp();
  GradientReducer reducer(model->parameters(), comm.get(), /*bucket_bytes=*/600, overlap);
  ASSERT_EQ(reducer.buckets(), (std::vector<std::vector<size_t>>{{5, 4, 3}, {2}, {1, 0}}));

  for (int step = 0; step < 2; ++step) {  // the second step reuses the zeroed buckets
    reducer.ZeroGrad();
    reducer.BeginBackward(true);
    model->forward(InputsOf(comm->rank())).pow(2).mean().backward();
    EXPECT_EQ(reducer.launch_order().size(), overlap ? 3u : 0u) << "buckets started during backward";
    ASSERT_TRUE(reducer.FinishBackward().ok());
    EXPECT_EQ(reducer.launch_order(), (std::vector<size_t>{0, 1, 2}));
    EXPECT_EQ(reducer.launched_during_backward(), overlap ? 3u : 0u);
  }

  torch::Tensor mean_loss = torch::zeros({});
  for (int r = 0; r < comm->size(); ++r) mean_loss = mean_loss + reference->forward(InputsOf(r)).pow(2).mean();
  (mean_loss / comm->size()).backward();
  auto got = model->parameters(), want = reference->parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(torch::allclose(got[i].grad(), want[i].grad(), 1e-5, 1e-6)) << "gradient of parameter " << i;
  }
}

TEST(DataParallelTest, BucketsStartInOrderDuringBackwardAndAverageTheGradients) { CheckBuckets(/*overlap=*/true); }
TEST(DataParallelTest, WithoutOverlapBucketsStartAfterBackward) { CheckBuckets(/*overlap=*/false); }

Recipe EquivalenceRecipe(int64_t batch, const std::string& optimizer) {
  auto recipe = ParseRecipe(
      "model: {type: mlp, hidden: [32, 32]}\n"
      "data: {type: synthetic, samples: 1200, features: 12, classes: 3}\n"
      "optimizer: " + optimizer + "\n"
      "train: {steps: 40, threads: 1, batch_size: " + std::to_string(batch) + "}\n"
      "distributed: {bucket_mb: 0.002}\n",
      "equivalence.yaml", {});
  EXPECT_TRUE(recipe.ok()) << recipe.status().message();
  return *recipe;
}

std::map<std::string, torch::Tensor> FinalModel(const std::string& out) {
  std::vector<std::string> warnings;
  auto latest = CheckpointStore(fs::path(out) / "checkpoints", 3).Latest(&warnings);
  EXPECT_TRUE(latest.ok() && latest->has_value());
  auto bytes = CheckpointStore::ReadFile(**latest, "rank-0.pt");
  EXPECT_TRUE(bytes.ok());
  torch::serialize::InputArchive archive;
  std::istringstream in(*bytes);
  archive.load_from(in);
  std::map<std::string, torch::Tensor> model;
  for (const std::string& key : archive.keys()) {
    torch::Tensor t;
    if (key.rfind("model/", 0) == 0 && archive.try_read(key, t)) model[key] = t;
  }
  return model;
}

class EquivalenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EquivalenceTest, RanksTimesBatchMatchOneRankWithTheWholeBatch) {
  auto comm = World();
  SharedDir dir(*comm);
  const int64_t b = 8;
  TrainOptions options;
  options.output_dir = dir / "ranks";
  options.communicator = comm.get();
  auto ranks = Train(EquivalenceRecipe(b, GetParam()), options);
  ASSERT_TRUE(ranks.ok()) << ranks.status().message();
  EXPECT_EQ(ranks->ranks, comm->size());
  EXPECT_GE(ranks->buckets, 2);  // small buckets, so several all-reduces per step
  if (comm->rank() != 0) return;

  TrainOptions single;
  single.output_dir = dir / "single";
  auto one = Train(EquivalenceRecipe(b * comm->size(), GetParam()), single);
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_NEAR(ranks->final_eval.at("val_loss"), one->final_eval.at("val_loss"), 1e-4);
  EXPECT_NEAR(ranks->final_train_loss, one->final_train_loss, 1e-4);
  auto a = FinalModel(dir / "ranks"), c = FinalModel(dir / "single");
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), c.size());
  for (const auto& [name, tensor] : a) {
    EXPECT_TRUE(torch::allclose(tensor, c.at(name), 1e-4, 1e-5))
        << name << ": max difference " << (tensor - c.at(name)).abs().max().item<double>();
  }
  // Every rank's random state and data position went into the checkpoint.
  for (int r = 0; r < comm->size(); ++r) EXPECT_TRUE(fs::exists(fs::path(ranks->last_checkpoint) / ("rank-" + std::to_string(r) + ".pt")));
}

INSTANTIATE_TEST_SUITE_P(Optimizers, EquivalenceTest,
                         ::testing::Values("{type: sgd, lr: 0.05, momentum: 0.9}", "{type: adamw, lr: 0.003}"),
                         [](const auto& info) { return info.index == 0 ? std::string("Sgd") : std::string("AdamW"); });

// Rank 0 waits for the strategy's answer at a judged evaluation and every rank learns it: a stop
// that arrives late ends all of them at the rung step.
TEST(DataParallelTest, AStrategysStopReachesEveryRankAtTheRungStep) {
  auto comm = World();
  SharedDir dir(*comm);
  const std::string out = dir / "run";
  const std::string answers = out + "/decision.json";
  if (comm->rank() == 0) {
    ASSERT_TRUE(WriteFileAtomically(answers, StrategyAnswerJson({.attempt = 1, .next_step = 20})).ok());
  }
  ASSERT_TRUE(comm->Barrier().ok());
  auto recipe = ParseRecipe(
      "model: {type: mlp, hidden: [16]}\n"
      "data: {type: synthetic, samples: 600, features: 8, classes: 3}\n"
      "train: {steps: 60, threads: 1, batch_size: 8, eval_interval: 10}\n"
      "sweep: {strategy: asha, parameters: {optimizer.lr: {values: [0.01]}}}\n",
      "rungs.yaml", {});
  ASSERT_TRUE(recipe.ok()) << recipe.status().message();
  // Rank 0's test thread plays the worker: it answers step 20 a second after the metrics show it.
  std::thread worker;
  if (comm->rank() == 0) {
    worker = std::thread([&] {
      for (;;) {
        std::ifstream metrics(out + "/metrics.jsonl");
        const std::string text((std::istreambuf_iterator<char>(metrics)), std::istreambuf_iterator<char>());
        if (text.find("\"name\":\"val_loss\",\"step\":20") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
      (void)WriteFileAtomically(answers, StrategyAnswerJson({1, 20, StrategyAnswer::Decision::kStop, 0}));
    });
  }
  TrainOptions options;
  options.output_dir = out;
  options.communicator = comm.get();
  options.epoch = 1;
  options.decision_file = answers;
  auto result = Train(*recipe, options);
  if (worker.joinable()) worker.join();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->outcome, TrainResult::Outcome::kPreempted) << "rank " << comm->rank();
  EXPECT_EQ(result->steps, 20) << "rank " << comm->rank();
  if (comm->rank() == 0) {
    EXPECT_EQ(fs::path(result->last_checkpoint).filename(), "step-20");
  }
}

}  // namespace
}  // namespace orchard::train
