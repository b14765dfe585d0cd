// Schedules through the coordinator, against a real SQLite file with a hand-set clock: versions,
// pause and resume, firing at the right instants (daylight saving included), catch-up once after a
// downtime, the overlap policies, run-now, a run that fails for missing data, and runs skipped
// because their data has not changed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/sha256.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

using namespace std::chrono;
using orchard::testing::WriteFile;

// "YYYY-MM-DD HH:MM[:SS]" in UTC -> Unix seconds.
int64_t Utc(const std::string& text) {
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0, s = 0;
  EXPECT_GE(std::sscanf(text.c_str(), "%d-%u-%u %u:%u:%u", &y, &mo, &d, &h, &mi, &s), 5) << text;
  return sys_days{year{y} / month{mo} / day{d}}.time_since_epoch().count() * 86400 + h * 3600 + mi * 60 + s;
}


// A nightly retraining: fresh data in a folder per day, relative to the recipe's file.
constexpr const char* kRecipe = R"(name: nightly-${date}
model: {type: mlp, hidden: [8]}
data: {type: csv, path: data/${date}/train.csv}
train: {steps: 5, batch_size: 8}
sweep:
  strategy: grid
  metric: val_loss
  parameters:
    optimizer.lr: {values: [0.1, 0.01]}
)";

class SchedulesTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    clock_.Set(Utc("2026-11-20 12:00"));
    Reopen();
  }

  v1::AddScheduleRequest Request(const std::string& name, const std::string& cron, const std::string& overlap = "",
                                 const std::string& recipe = kRecipe) {
    v1::AddScheduleRequest request;
    request.set_name(name);
    request.set_cron(cron);
    request.set_time_zone("Europe/Berlin");
    request.set_recipe_yaml(recipe);
    request.set_recipe_file(dir_ / "nightly.yaml");
    request.set_overlap(overlap);
    return request;
  }

  v1::AddScheduleResponse Add(const std::string& name, const std::string& cron, const std::string& overlap = "") {
    auto added = coordinator_->AddSchedule(Request(name, cron, overlap));
    EXPECT_TRUE(added.ok()) << added.status().message();
    return added.ok() ? *added : v1::AddScheduleResponse();
  }

  // The day's data, as the upstream job would deliver it.
  void DeliverData(const std::string& date) {
    std::filesystem::create_directories(dir_ / ("data/" + date));
    WriteFile(dir_ / ("data/" + date + "/train.csv"), "a,b,label\n1,2,0\n3,4,1\n");
  }

  // Moves the clock to `utc` and fires what is due, as the server's loop does every second.
  void FireAt(const std::string& utc) {
    clock_.Set(Utc(utc));
    const Status fired = coordinator_->FireDueSchedules();
    ASSERT_TRUE(fired.ok()) << fired.message();
  }

  // Oldest first.
  std::vector<v1::ScheduleRun> Runs(const std::string& name) {
    auto details = coordinator_->GetSchedule(name, 1000);
    EXPECT_TRUE(details.ok()) << details.status().message();
    if (!details.ok()) return {};
    return {details->runs().rbegin(), details->runs().rend()};
  }
};

TEST_F(SchedulesTest, AddingAChangedScheduleMakesANewVersionAndAnUnchangedOneIsANoOp) {
  const v1::AddScheduleResponse created = Add("nightly", "0 2 * * *");
  EXPECT_EQ(created.outcome(), "created");
  EXPECT_EQ(created.schedule().version(), 1);
  EXPECT_EQ(created.schedule().overlap(), "skip");
  EXPECT_EQ(created.schedule().owner(), kLocalUser);
  EXPECT_EQ(created.schedule().next_slot(), Utc("2026-11-21 01:00"));
  EXPECT_EQ(created.schedule().next_slot_local(), "2026-11-21 02:00 Europe/Berlin");

  const v1::AddScheduleResponse again = Add("nightly", "0 2 * * *");
  EXPECT_EQ(again.outcome(), "unchanged");
  EXPECT_EQ(again.schedule().version(), 1);
  EXPECT_EQ(again.changed_size(), 0);

  v1::AddScheduleRequest changed = Request("nightly", "0 3 * * *", "", std::string(kRecipe) + "# retuned\n");
  auto version2 = coordinator_->AddSchedule(changed);
  ASSERT_TRUE(version2.ok()) << version2.status().message();
  EXPECT_EQ(version2->outcome(), "new version");
  EXPECT_EQ(version2->schedule().version(), 2);
  EXPECT_EQ(std::vector<std::string>(version2->changed().begin(), version2->changed().end()),
            (std::vector<std::string>{"recipe", "cron"}));
  changed.add_overrides("train.steps=7");
  EXPECT_EQ(coordinator_->AddSchedule(changed)->changed(0), "overrides");

  // The versions keep their recipes: the schedule needs no file once added.
  const v1::ScheduleDetails details = coordinator_->GetSchedule("nightly", 0).value();
  ASSERT_EQ(details.versions_size(), 3);
  EXPECT_EQ(details.versions(0).version(), 3);
  EXPECT_EQ(details.versions(0).overrides(0), "train.steps=7");
  EXPECT_EQ(details.versions(2).cron(), "0 2 * * *");
  EXPECT_EQ(details.versions(2).recipe_yaml(), kRecipe);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "nightly.yaml"));
  ASSERT_EQ(coordinator_->ListSchedules().value().size(), 1u);
}

TEST_F(SchedulesTest, MistakesAreRefusedAtAddTimeNamingThemAndNothingIsStored) {
  struct Case {
    const char* what;
    v1::AddScheduleRequest request;
    std::vector<std::string> expected;  // substrings of the message
  };
  auto with = [](v1::AddScheduleRequest request, auto change) {
    change(request);
    return request;
  };
  const Case cases[] = {
      {"cron field", Request("n", "0 25 * * *"), {"hour", "25"}},
      {"zone", with(Request("n", "0 2 * * *"), [](auto& r) { r.set_time_zone("Mars/Olympus_Mons"); }),
       {"Mars/Olympus_Mons"}},
      {"variable", Request("n", "0 2 * * *", "", "name: x-${dat}\nmodel: {type: mlp}\ndata: {type: synthetic}\ntrain: {steps: 1}\n"),
       {"nightly.yaml:1:9", "${dat}", "${date}", "${run}"}},
      {"recipe field", Request("n", "0 2 * * *", "", std::string(kRecipe) + "optimizer: {lrr: 0.1}\n"),
       {"the recipe with the variables of run 1 at 2026-11-21 02:00 Europe/Berlin", "lrr"}},
      {"overlap", Request("n", "0 2 * * *", "sometimes"), {"overlap", "skip, allow or replace"}},
      {"name", Request("../n", "0 2 * * *"), {"name", "../n"}},
      {"a cron that never fires", Request("n", "0 0 30 2 *"), {"never fires"}},
      {"negative margin",
       with(Request("n", "0 2 * * *"),
            [](auto& r) {
              r.set_model("digits");
              r.set_promotion_margin(-0.1);
            }),
       {"promotion_margin", "at least 0"}},
      {"margin without a model", with(Request("n", "0 2 * * *"), [](auto& r) { r.set_promotion_margin(0.1); }),
       {"--model"}},
  };
  for (const Case& c : cases) {
    auto added = coordinator_->AddSchedule(c.request);
    ASSERT_FALSE(added.ok()) << c.what;
    EXPECT_EQ(added.status().code(), StatusCode::kInvalidArgument) << c.what;
    for (const std::string& part : c.expected)
      EXPECT_NE(added.status().message().find(part), std::string::npos) << c.what << ": " << added.status().message();
  }
  EXPECT_TRUE(coordinator_->ListSchedules().value().empty());
}

TEST_F(SchedulesTest, AFiringSubmitsTheRecipeWithItsVariablesAsTheOwnerAtTheSlotAndNotBefore) {
  v1::AddScheduleRequest request = Request("nightly", "0 2 * * *");
  request.set_model("digits");
  request.set_promotion_margin(0.01);
  ASSERT_TRUE(coordinator_->AddSchedule(request, "alice").ok());
  DeliverData("2026-11-21");
  FireAt("2026-11-21 00:59:59");  // 01:59:59 in Berlin
  EXPECT_TRUE(Runs("nightly").empty());
  FireAt("2026-11-21 01:00:00");
  FireAt("2026-11-21 01:00:01");
  const auto runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].number(), 1);
  EXPECT_EQ(runs[0].fired_by(), "cron");
  EXPECT_EQ(runs[0].slot(), Utc("2026-11-21 01:00"));
  EXPECT_EQ(runs[0].slot_local(), "2026-11-21 02:00 Europe/Berlin");
  EXPECT_EQ(runs[0].state(), "running");
  EXPECT_EQ(runs[0].missed(), 0);
  const v1::Sweep sweep = coordinator_->GetSweep(runs[0].sweep_id()).value();
  EXPECT_EQ(sweep.name(), "nightly-2026-11-21");
  EXPECT_EQ(sweep.owner(), "alice");
  EXPECT_EQ(sweep.schedule(), "nightly");
  EXPECT_EQ(sweep.trials_total(), 2);
  const v1::ScheduleDetails details = coordinator_->GetSchedule("nightly", 0).value();
  EXPECT_EQ(details.schedule().runs(), 1);
  EXPECT_EQ(details.schedule().last_run().sweep_id(), sweep.id());
  EXPECT_EQ(details.schedule().next_slot_local(), "2026-11-22 02:00 Europe/Berlin");
}

TEST_F(SchedulesTest, FiringsFollowTheWallClockAcrossDaylightSavingChanges) {
  clock_.Set(Utc("2026-03-27 12:00"));
  Add("spring", "30 2 * * *", "allow");
  for (const char* date : {"2026-03-28", "2026-03-29", "2026-03-30"}) DeliverData(date);
  for (int64_t t = Utc("2026-03-27 12:00"); t <= Utc("2026-03-30 12:00"); t += 60) {
    clock_.Set(static_cast<double>(t));
    ASSERT_TRUE(coordinator_->FireDueSchedules().ok());
  }
  const auto runs = Runs("spring");
  ASSERT_EQ(runs.size(), 3u);
  // 02:30 does not exist on the 29th: the run fires at the jump to 03:00 CEST, with that day's date.
  EXPECT_EQ(runs[0].slot_local(), "2026-03-28 02:30 Europe/Berlin");
  EXPECT_EQ(runs[1].slot(), Utc("2026-03-29 01:00"));
  EXPECT_EQ(runs[1].slot_local(), "2026-03-29 03:00 Europe/Berlin");
  EXPECT_EQ(runs[2].slot_local(), "2026-03-30 02:30 Europe/Berlin");
  for (const auto& run : runs) EXPECT_EQ(run.state(), "running") << run.reason();
  EXPECT_EQ(coordinator_->GetSweep(runs[1].sweep_id())->name(), "nightly-2026-03-29");
}

TEST_F(SchedulesTest, SlotsMissedWhileTheCoordinatorWasDownAreCaughtUpOnceOnTheLatest) {
  Add("nightly", "0 2 * * *");
  DeliverData("2026-11-21");
  FireAt("2026-11-21 01:00");
  ASSERT_EQ(Runs("nightly").size(), 1u);
  ASSERT_TRUE(coordinator_->Cancel(Runs("nightly")[0].sweep_id()).ok());

  // Down from Saturday morning until Tuesday 10:00: the nights of Sunday, Monday and Tuesday passed.
  coordinator_.reset();
  clock_.Set(Utc("2026-11-24 09:00"));
  DeliverData("2026-11-24");
  Reopen();
  FireAt("2026-11-24 09:00");
  FireAt("2026-11-24 09:00:01");
  const auto runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].fired_by(), "catch-up");
  EXPECT_EQ(runs[1].slot_local(), "2026-11-24 02:00 Europe/Berlin");
  EXPECT_EQ(runs[1].missed(), 2);
  EXPECT_NE(runs[1].reason().find("2 earlier slots were missed"), std::string::npos) << runs[1].reason();
  EXPECT_EQ(runs[1].state(), "running");
  EXPECT_EQ(coordinator_->GetSweep(runs[1].sweep_id())->name(), "nightly-2026-11-24");
  FireAt("2026-11-25 00:59");
  EXPECT_EQ(Runs("nightly").size(), 2u);
}

TEST_F(SchedulesTest, OverlapPoliciesSkipAllowOrReplaceThePreviousRun) {
  for (const char* policy : {"skip", "allow", "replace"}) Add(policy, "0 2 * * *", policy);
  DeliverData("2026-11-21");
  DeliverData("2026-11-22");
  FireAt("2026-11-21 01:00");
  FireAt("2026-11-22 01:00");  // no worker ran the first night's sweeps: they are still going

  const auto skip = Runs("skip");
  ASSERT_EQ(skip.size(), 2u);
  EXPECT_EQ(skip[1].state(), "skipped");
  EXPECT_EQ(skip[1].sweep_id(), 0);
  EXPECT_NE(skip[1].reason().find("sweep (" + std::to_string(skip[0].sweep_id()) + ") was still running"),
            std::string::npos)
      << skip[1].reason();

  const auto allow = Runs("allow");
  ASSERT_EQ(allow.size(), 2u);
  EXPECT_EQ(allow[0].state(), "running");
  EXPECT_EQ(allow[1].state(), "running");

  const auto replace = Runs("replace");
  ASSERT_EQ(replace.size(), 2u);
  EXPECT_EQ(replace[0].state(), "canceled");
  EXPECT_EQ(replace[1].state(), "running");
  EXPECT_NE(replace[1].reason().find("replaced sweep " + std::to_string(replace[0].sweep_id())), std::string::npos)
      << replace[1].reason();

  // Once the previous run has ended, skip fires again.
  ASSERT_TRUE(coordinator_->Cancel(skip[0].sweep_id()).ok());
  DeliverData("2026-11-23");
  FireAt("2026-11-23 01:00");
  EXPECT_EQ(Runs("skip").back().state(), "running");
}

TEST_F(SchedulesTest, MissingDataFailsThatRunWithItsReasonAndTheScheduleFiresAgain) {
  Add("nightly", "0 2 * * *");
  FireAt("2026-11-21 01:00");
  auto runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state(), "failed");
  EXPECT_EQ(runs[0].sweep_id(), 0);
  EXPECT_NE(runs[0].reason().find("data/2026-11-21/train.csv does not exist (schedule nightly, run 1 for "
                                  "2026-11-21 02:00 Europe/Berlin)"),
            std::string::npos)
      << runs[0].reason();
  EXPECT_TRUE(coordinator_->ListSweeps(10, "").value().items.empty());

  DeliverData("2026-11-22");
  FireAt("2026-11-22 01:00");
  runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].number(), 2);
  EXPECT_EQ(runs[1].state(), "running");
}

TEST_F(SchedulesTest, WithSkipIfDataUnchangedAFiringOnTheLastCompletedRunsDataIsSkippedWithItsReason) {
  // The nightly recipe reading one file that upstream replaces, instead of a folder per day.
  std::string recipe = kRecipe;
  const std::string daily = "data/${date}/train.csv";
  recipe.replace(recipe.find(daily), daily.size(), "data/latest/train.csv");
  v1::AddScheduleRequest request = Request("nightly", "0 2 * * *", "", recipe);
  request.set_skip_if_data_unchanged(true);
  ASSERT_TRUE(coordinator_->AddSchedule(request).ok());
  DeliverData("latest");
  const std::string data = dir_ / "data/latest/train.csv";

  // Night 1 runs and completes.
  FireAt("2026-11-21 01:00");
  const std::string worker = Register(2);
  const auto complete_the_running_sweep = [&] {
    for (const v1::Attempt& attempt : Lease(worker, 2)) {
      ASSERT_TRUE(ReportMetric(attempt, "val_loss", 0.5, 5).ok());
      ASSERT_TRUE(Exit(worker, attempt, 0).ok());
    }
  };
  complete_the_running_sweep();
  auto runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state(), "completed");
  ASSERT_EQ(runs[0].data_size(), 1);
  EXPECT_EQ(runs[0].data(0).path(), data);
  EXPECT_EQ(runs[0].data(0).sha256(), Sha256Hex("a,b,label\n1,2,0\n3,4,1\n"));

  // Night 2, the same data: skipped, saying why.
  FireAt("2026-11-22 01:00");
  runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].state(), "skipped");
  EXPECT_EQ(runs[1].sweep_id(), 0);
  EXPECT_NE(runs[1].reason().find("the data is unchanged since run 1 (sweep " + std::to_string(runs[0].sweep_id()) +
                                  ", completed): 1 file with the same sha256"),
            std::string::npos)
      << runs[1].reason();
  EXPECT_EQ(runs[1].data(0).sha256(), runs[0].data(0).sha256());

  // Night 3, new data of the same size: it runs.
  WriteFile(data, "a,b,label\n1,2,1\n3,4,0\n");
  FireAt("2026-11-23 01:00");
  runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].state(), "running");
  EXPECT_EQ(runs[2].data(0).sha256(), Sha256Hex("a,b,label\n1,2,1\n3,4,0\n"));
  EXPECT_TRUE(coordinator_->GetSchedule("nightly", 1).value().schedule().skip_if_data_unchanged());
  complete_the_running_sweep();

  // A new version of the schedule (other overrides) runs once on the same data, then skips again.
  request.add_overrides("train.steps=6");
  ASSERT_EQ(coordinator_->AddSchedule(request).value().outcome(), "new version");
  FireAt("2026-11-24 01:00");
  complete_the_running_sweep();
  FireAt("2026-11-25 01:00");
  runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[3].state(), "completed");
  EXPECT_EQ(runs[3].version(), 2);
  EXPECT_EQ(runs[4].state(), "skipped") << runs[4].reason();
  EXPECT_NE(runs[4].reason().find("since run 4"), std::string::npos) << runs[4].reason();
}

TEST_F(SchedulesTest, APausedScheduleDoesNotFireAndResumingDoesNotCatchUpThePause) {
  Add("nightly", "0 2 * * *");
  for (const char* date : {"2026-11-21", "2026-11-22"}) DeliverData(date);
  const v1::Schedule paused = coordinator_->PauseSchedule("nightly").value();
  EXPECT_TRUE(paused.paused());
  EXPECT_EQ(paused.next_slot(), 0);
  EXPECT_TRUE(coordinator_->PauseSchedule("nightly").ok()) << "idempotent";
  FireAt("2026-11-21 01:00");
  EXPECT_TRUE(Runs("nightly").empty());

  clock_.Set(Utc("2026-11-21 12:00"));
  const v1::Schedule resumed = coordinator_->ResumeSchedule("nightly").value();
  EXPECT_FALSE(resumed.paused());
  EXPECT_EQ(resumed.next_slot_local(), "2026-11-22 02:00 Europe/Berlin");
  FireAt("2026-11-21 12:00:01");
  EXPECT_TRUE(Runs("nightly").empty()) << "the slot passed while paused is not caught up";
  FireAt("2026-11-22 01:00");
  ASSERT_EQ(Runs("nightly").size(), 1u);
  EXPECT_EQ(Runs("nightly")[0].slot_local(), "2026-11-22 02:00 Europe/Berlin");
}

TEST_F(SchedulesTest, RemovingForgetsTheScheduleButNotItsSweeps) {
  Add("nightly", "0 2 * * *");
  DeliverData("2026-11-21");
  FireAt("2026-11-21 01:00");
  const int64_t sweep_id = Runs("nightly")[0].sweep_id();
  ASSERT_TRUE(coordinator_->RemoveSchedule("nightly").ok());
  EXPECT_EQ(coordinator_->GetSchedule("nightly", 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(coordinator_->RemoveSchedule("nightly").code(), StatusCode::kNotFound);
  EXPECT_EQ(coordinator_->GetSweep(sweep_id)->schedule(), "nightly");
  EXPECT_EQ(coordinator_->GetSweep(sweep_id)->state(), v1::SWEEP_RUNNING);
  // The name can be used again, from version 1 and run 1.
  EXPECT_EQ(Add("nightly", "0 2 * * *").schedule().version(), 1);
  DeliverData("2026-11-22");
  FireAt("2026-11-22 01:00");
  EXPECT_EQ(Runs("nightly").size(), 1u);
}

TEST_F(SchedulesTest, RunNowFiresAtOnceLeavesTheCronAloneAndRespectsTheOverlapPolicy) {
  Add("nightly", "0 2 * * *");
  clock_.Set(Utc("2026-11-20 14:03:20"));
  DeliverData("2026-11-20");
  ASSERT_TRUE(coordinator_->PauseSchedule("nightly").ok());
  const v1::ScheduleRun first = coordinator_->RunScheduleNow("nightly").value();
  EXPECT_EQ(first.fired_by(), "run-now");
  EXPECT_EQ(first.slot_local(), "2026-11-20 15:03 Europe/Berlin");
  EXPECT_EQ(first.state(), "running");
  EXPECT_EQ(coordinator_->GetSweep(first.sweep_id())->name(), "nightly-2026-11-20");

  // The first run is still going and the policy is skip: refused, and nothing recorded.
  auto refused = coordinator_->RunScheduleNow("nightly");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("(" + std::to_string(first.sweep_id()) + ") is still running"),
            std::string::npos)
      << refused.status().message();
  EXPECT_EQ(Runs("nightly").size(), 1u);

  // With replace, the first is canceled; the cron's own slot still fires once resumed.
  auto replacing = Request("nightly", "0 2 * * *", "replace");
  ASSERT_TRUE(coordinator_->AddSchedule(replacing).ok());
  const v1::ScheduleRun second = coordinator_->RunScheduleNow("nightly").value();
  EXPECT_EQ(second.version(), 2);
  EXPECT_EQ(coordinator_->GetSweep(first.sweep_id())->state(), v1::SWEEP_CANCELED);
  ASSERT_TRUE(coordinator_->ResumeSchedule("nightly").ok());
  DeliverData("2026-11-21");
  FireAt("2026-11-21 01:00");
  const auto runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].fired_by(), "cron");
  EXPECT_EQ(runs[2].number(), 3);

  // A missing file fails a run-now run the same way, and it is returned as failed.
  clock_.Set(Utc("2026-11-25 12:00"));
  ASSERT_TRUE(coordinator_->Cancel(runs[2].sweep_id()).ok());
  const v1::ScheduleRun failed = coordinator_->RunScheduleNow("nightly").value();
  EXPECT_EQ(failed.state(), "failed");
  EXPECT_NE(failed.reason().find("data/2026-11-25/train.csv does not exist"), std::string::npos) << failed.reason();
}

TEST_F(SchedulesTest, SchedulesSurviveARestart) {
  v1::AddScheduleRequest request = Request("nightly", "0 2 * * *", "allow");
  ASSERT_TRUE(coordinator_->AddSchedule(request, "bob").ok());
  ASSERT_TRUE(coordinator_->PauseSchedule("nightly").ok());
  Reopen();
  const auto schedules = coordinator_->ListSchedules("bob").value();
  ASSERT_EQ(schedules.size(), 1u);
  EXPECT_TRUE(schedules[0].paused());
  EXPECT_EQ(schedules[0].overlap(), "allow");
  EXPECT_TRUE(coordinator_->ListSchedules("alice").value().empty());
  EXPECT_EQ(coordinator_->ScheduleOwner("nightly").value(), "bob");
}

}  // namespace
}  // namespace orchard::coordinator
