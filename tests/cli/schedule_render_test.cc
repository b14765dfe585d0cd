// The schedules' CLI text, and what each `orchard schedule` command prints, from hand-made API
// messages.
#include "cli/schedule_render.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace orchard::cli {
namespace {

v1::ScheduleDetails NightlyDetails() {
  v1::ScheduleDetails details;
  v1::Schedule* s = details.mutable_schedule();
  s->set_name("nightly");
  s->set_owner("alice");
  s->set_version(2);
  s->set_cron("0 2 * * *");
  s->set_time_zone("Europe/Berlin");
  s->set_overlap("skip");
  s->set_model("digits");
  s->set_promotion_margin(0.01);
  s->set_recipe_file("/recipes/nightly.yaml");
  s->add_overrides("train.steps=200");
  s->set_next_slot(1795309200);  // 2026-11-22 01:00 UTC
  s->set_next_slot_local("2026-11-22 02:00 Europe/Berlin");
  v1::ScheduleVersion* v = details.add_versions();
  v->set_version(2);
  v->set_created_at(1795176000);  // 2026-11-20 12:00 UTC
  v->set_cron("0 2 * * *");
  v->set_time_zone("Europe/Berlin");
  v->set_overlap("skip");
  v->set_recipe_file("/recipes/nightly.yaml");
  v1::ScheduleRun* failed = details.add_runs();
  failed->set_number(2);
  failed->set_version(2);
  failed->set_slot_local("2026-11-21 02:00 Europe/Berlin");
  failed->set_fired_by("cron");
  failed->set_state("failed");
  failed->set_reason("data.path /d/2026-11-21/train.csv does not exist");
  v1::ScheduleRun* ran = details.add_runs();
  ran->set_number(1);
  ran->set_version(1);
  ran->set_slot_local("2026-11-20 15:03 Europe/Berlin");
  ran->set_fired_by("run-now");
  ran->set_sweep_id(7);
  ran->set_state("completed");
  *s->mutable_last_run() = *failed;
  return details;
}

TEST(ScheduleRender, ScheduleShowsTheNextFiringInItsZoneAndUtcVersionsAndRuns) {
  const std::string text = ScheduleText(NightlyDetails());
  EXPECT_NE(text.find("schedule nightly (version 2, owner alice): active"), std::string::npos) << text;
  EXPECT_NE(text.find("recipe /recipes/nightly.yaml --set train.steps=200"), std::string::npos) << text;
  EXPECT_NE(text.find("challenges model digits (promoted when better by 0.01)"), std::string::npos) << text;
  EXPECT_NE(text.find("next firing 2026-11-22 02:00 Europe/Berlin (2026-11-22 01:00 UTC)"), std::string::npos) << text;
  EXPECT_NE(text.find("2026-11-20 12:00 UTC"), std::string::npos) << text;
  EXPECT_NE(text.find("\n2    2        2026-11-21 02:00 Europe/Berlin  cron      -      failed     "
                      "data.path /d/2026-11-21/train.csv does not exist\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n1    1        2026-11-20 15:03 Europe/Berlin  run-now   7      completed  -\n"),
            std::string::npos)
      << text;
}

TEST(ScheduleRender, ScheduleListAndWhatAddDid) {
  v1::ScheduleDetails details = NightlyDetails();
  const std::string table = SchedulesTable({details.schedule()});
  EXPECT_NE(table.find("nightly  alice  0 2 * * *  Europe/Berlin  2        2026-11-22 02:00 Europe/Berlin  run 2 failed"),
            std::string::npos)
      << table;
  details.mutable_schedule()->set_paused(true);
  EXPECT_NE(SchedulesTable({details.schedule()}).find("paused"), std::string::npos);

  v1::AddScheduleResponse added;
  *added.mutable_schedule() = NightlyDetails().schedule();
  added.set_outcome("new version");
  added.add_changed("recipe");
  added.add_changed("cron");
  EXPECT_EQ(AddedScheduleText(added),
            "schedule nightly: new version 2 (changed: recipe, cron)\n"
            "  next firing 2026-11-22 02:00 Europe/Berlin (2026-11-22 01:00 UTC)\n");
  added.set_outcome("unchanged");
  EXPECT_NE(AddedScheduleText(added).find("is unchanged (version 2); nothing to do"), std::string::npos);
}

TEST(ScheduleRender, ARunNowRunSaysWhereToFollowIt) {
  EXPECT_EQ(ScheduleRunText("nightly", NightlyDetails().runs(1)),
            "schedule nightly, run 1 completed (sweep 7) for 2026-11-20 15:03 Europe/Berlin\n"
            "follow it with: orchard watch 7\n");
}

// --json prints the response as one JSON document on one line.
nlohmann::json OneJsonLine(const std::string& text) {
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  return nlohmann::json::parse(text);
}

TEST(ScheduleRender, AddPrintsWhatItDidOrTheResponse) {
  v1::AddScheduleResponse added;
  *added.mutable_schedule() = NightlyDetails().schedule();
  added.set_outcome("created");
  std::ostringstream text, json;
  PrintAddedSchedule(added, /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "created schedule nightly (version 1): '0 2 * * *' in Europe/Berlin\n"
            "  next firing 2026-11-22 02:00 Europe/Berlin (2026-11-22 01:00 UTC)\n");
  PrintAddedSchedule(added, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["outcome"], "created");
  EXPECT_EQ(document["schedule"]["time_zone"], "Europe/Berlin");
  EXPECT_EQ(document["changed"], nlohmann::json::array());
}

TEST(ScheduleRender, ListPrintsTheTableOrHowToAddOne) {
  v1::ListSchedulesResponse none;
  std::ostringstream empty;
  PrintSchedules(none, /*json=*/false, empty);
  EXPECT_EQ(empty.str(), "no schedules (orchard schedule add NAME --cron ... --recipe FILE)\n");
  std::ostringstream empty_json;
  PrintSchedules(none, /*json=*/true, empty_json);
  EXPECT_EQ(OneJsonLine(empty_json.str()), nlohmann::json::parse(R"({"schedules": []})"));

  v1::ListSchedulesResponse listed;
  *listed.add_schedules() = NightlyDetails().schedule();
  std::ostringstream text, json;
  PrintSchedules(listed, /*json=*/false, text);
  EXPECT_EQ(text.str(), SchedulesTable({listed.schedules(0)}));
  PrintSchedules(listed, /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  ASSERT_EQ(document["schedules"].size(), 1u);
  EXPECT_EQ(document["schedules"][0]["name"], "nightly");
  EXPECT_EQ(document["schedules"][0]["next_slot"], "1795309200");  // int64 as a string, as proto3 JSON has it
  EXPECT_EQ(document["schedules"][0]["last_run"]["state"], "failed");
}

TEST(ScheduleRender, ShowPrintsTheDetails) {
  std::ostringstream text, json;
  PrintScheduleDetails(NightlyDetails(), /*json=*/false, text);
  EXPECT_EQ(text.str(), ScheduleText(NightlyDetails()));
  PrintScheduleDetails(NightlyDetails(), /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["schedule"]["overrides"], nlohmann::json::array({"train.steps=200"}));
  EXPECT_EQ(document["versions"].size(), 1u);
  EXPECT_EQ(document["runs"][1]["sweep_id"], "7");
  EXPECT_EQ(document["runs"][0]["sweep_id"], "0") << "zeros are printed, so scripts find every key";
}

TEST(ScheduleRender, PauseSaysHowToResume) {
  v1::Schedule schedule = NightlyDetails().schedule();
  schedule.set_paused(true);
  std::ostringstream text, json;
  PrintPausedSchedule(schedule, "nightly", /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "schedule nightly is paused; slots that pass are not caught up (orchard schedule resume nightly)\n");
  PrintPausedSchedule(schedule, "nightly", /*json=*/true, json);
  EXPECT_EQ(OneJsonLine(json.str())["paused"], true);
}

TEST(ScheduleRender, ResumeGivesTheNextFiringInBothZonesOrSaysThereIsNone) {
  v1::Schedule schedule = NightlyDetails().schedule();
  std::ostringstream text;
  PrintResumedSchedule(schedule, "nightly", /*json=*/false, text);
  EXPECT_EQ(text.str(), "schedule nightly is active; next firing 2026-11-22 02:00 Europe/Berlin (2026-11-22 01:00 UTC)\n");
  schedule.set_next_slot(0);
  std::ostringstream never, json;
  PrintResumedSchedule(schedule, "nightly", /*json=*/false, never);
  EXPECT_EQ(never.str(), "schedule nightly is active; its cron never fires again\n");
  PrintResumedSchedule(schedule, "nightly", /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["paused"], false);
  EXPECT_EQ(document["next_slot"], "0");
}

TEST(ScheduleRender, RemoveSaysTheSweepsAreKept) {
  std::ostringstream text, json;
  PrintRemovedSchedule(v1::RemoveScheduleResponse(), "nightly", /*json=*/false, text);
  EXPECT_EQ(text.str(), "removed schedule nightly with its versions and runs; the sweeps it fired are kept\n");
  PrintRemovedSchedule(v1::RemoveScheduleResponse(), "nightly", /*json=*/true, json);
  EXPECT_EQ(json.str(), "{}\n");
}

TEST(ScheduleRender, RunNowPrintsTheRunAndItsReason) {
  std::ostringstream text, json;
  const v1::ScheduleRun failed = NightlyDetails().runs(0);
  PrintScheduleRun(failed, "nightly", /*json=*/false, text);
  EXPECT_EQ(text.str(),
            "schedule nightly, run 2 failed for 2026-11-21 02:00 Europe/Berlin\n"
            "  data.path /d/2026-11-21/train.csv does not exist\n");
  PrintScheduleRun(failed, "nightly", /*json=*/true, json);
  const nlohmann::json document = OneJsonLine(json.str());
  EXPECT_EQ(document["state"], "failed");
  EXPECT_EQ(document["fired_by"], "cron");
  EXPECT_EQ(document["number"], "2");
}

}  // namespace
}  // namespace orchard::cli
