#include "cli/schedule_render.h"

#include <sstream>

#include "cli/render.h"

namespace orchard::cli {
namespace {

// "next firing 2026-11-22 02:00 Europe/Berlin (2026-11-22 01:00 UTC)", or why there is none.
std::string NextFiring(const v1::Schedule& schedule) {
  if (schedule.paused()) return "paused: no firing until resumed";
  if (schedule.next_slot() == 0) return "the cron never fires again";
  return "next firing " + schedule.next_slot_local() + " (" + FormatUtcTime(static_cast<double>(schedule.next_slot())) + ")";
}

// "run 12 running (sweep 34)", "run 13 skipped".
std::string RunSummary(const v1::ScheduleRun& run) {
  return "run " + std::to_string(run.number()) + " " + run.state() +
         (run.sweep_id() > 0 ? " (sweep " + std::to_string(run.sweep_id()) + ")" : "");
}

}  // namespace

std::string SchedulesTable(const std::vector<v1::Schedule>& schedules) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "OWNER", "CRON", "ZONE", "VERSION", "NEXT", "LAST RUN"}};
  for (const v1::Schedule& s : schedules)
    rows.push_back({s.name(), s.owner(), s.cron(), s.time_zone(), std::to_string(s.version()),
                    s.paused() ? "paused" : s.next_slot() == 0 ? "never" : s.next_slot_local(),
                    s.has_last_run() ? RunSummary(s.last_run()) : "-"});
  return Table(rows);
}

std::string ScheduleText(const v1::ScheduleDetails& details) {
  const v1::Schedule& s = details.schedule();
  std::ostringstream out;
  out << "schedule " << s.name() << " (version " << s.version() << ", owner " << s.owner() << "): "
      << (s.paused() ? "paused" : "active") << "\n";
  out << "  cron '" << s.cron() << "' in " << s.time_zone() << ", overlap " << s.overlap()
      << (s.skip_if_data_unchanged() ? ", skip if data unchanged" : "") << "\n";
  out << "  recipe " << (s.recipe_file().empty() ? "(stored)" : s.recipe_file());
  for (const std::string& o : s.overrides()) out << " --set " << o;
  out << "\n";
  if (!s.model().empty())
    out << "  challenges model " << s.model() << " (promoted when better by " << FormatValue(s.promotion_margin()) << ")\n";
  out << "  " << NextFiring(s) << "\n";
  out << "\nversions:\n";
  std::vector<std::vector<std::string>> versions = {{"VERSION", "MADE", "CRON", "ZONE", "OVERLAP", "MODEL", "RECIPE"}};
  for (const v1::ScheduleVersion& v : details.versions())
    versions.push_back({std::to_string(v.version()), FormatUtcTime(v.created_at()), v.cron(), v.time_zone(), v.overlap(),
                        v.model().empty() ? "-" : v.model(), v.recipe_file().empty() ? "(stored)" : v.recipe_file()});
  out << Table(versions);
  if (details.runs().empty()) {
    out << "\nno runs yet\n";
    return out.str();
  }
  out << "\nruns, newest first:\n";
  std::vector<std::vector<std::string>> runs = {{"RUN", "VERSION", "SLOT", "FIRED BY", "SWEEP", "STATE", "REASON"}};
  for (const v1::ScheduleRun& r : details.runs())
    runs.push_back({std::to_string(r.number()), std::to_string(r.version()), r.slot_local(), r.fired_by(),
                    r.sweep_id() > 0 ? std::to_string(r.sweep_id()) : "-", r.state(), r.reason().empty() ? "-" : r.reason()});
  out << Table(runs);
  // What each run fired on, so a person sees which data a nightly model was trained on.
  bool heading = false;
  for (const v1::ScheduleRun& r : details.runs()) {
    if (r.data().empty()) continue;
    if (!heading) out << "\ndata of each run (sha256):\n";
    heading = true;
    for (const v1::DataFile& f : r.data())
      out << "  run " << r.number() << "  " << f.sha256().substr(0, 16) << "  " << f.bytes() << " bytes  " << f.path() << "\n";
  }
  return out.str();
}

std::string AddedScheduleText(const v1::AddScheduleResponse& response) {
  const v1::Schedule& s = response.schedule();
  std::string text;
  if (response.outcome() == "created") {
    text = "created schedule " + s.name() + " (version 1): '" + s.cron() + "' in " + s.time_zone();
  } else if (response.outcome() == "new version") {
    std::string changed;
    for (const std::string& c : response.changed()) changed += (changed.empty() ? "" : ", ") + c;
    text = "schedule " + s.name() + ": new version " + std::to_string(s.version()) + " (changed: " + changed + ")";
  } else {
    text = "schedule " + s.name() + " is unchanged (version " + std::to_string(s.version()) + "); nothing to do";
  }
  return text + "\n  " + NextFiring(s) + "\n";
}

std::string ScheduleRunText(const std::string& schedule, const v1::ScheduleRun& run) {
  std::string text = "schedule " + schedule + ", " + RunSummary(run) + " for " + run.slot_local() + "\n";
  if (!run.reason().empty()) text += "  " + run.reason() + "\n";
  if (run.sweep_id() > 0) text += "follow it with: orchard watch " + std::to_string(run.sweep_id()) + "\n";
  return text;
}


void PrintAddedSchedule(const v1::AddScheduleResponse& response, bool json, std::ostream& out) {
  if (json) return PrintJson(response, out);
  out << AddedScheduleText(response);
}

void PrintSchedules(const v1::ListSchedulesResponse& response, bool json, std::ostream& out) {
  if (json) return PrintJson(response, out);
  if (response.schedules().empty())
    out << "no schedules (orchard schedule add NAME --cron ... --recipe FILE)\n";
  else
    out << SchedulesTable({response.schedules().begin(), response.schedules().end()});
}

void PrintScheduleDetails(const v1::ScheduleDetails& details, bool json, std::ostream& out) {
  if (json) return PrintJson(details, out);
  out << ScheduleText(details);
}

void PrintPausedSchedule(const v1::Schedule& schedule, const std::string& name, bool json, std::ostream& out) {
  if (json) return PrintJson(schedule, out);
  out << "schedule " << name << " is paused; slots that pass are not caught up (orchard schedule resume " << name
      << ")\n";
}

void PrintResumedSchedule(const v1::Schedule& schedule, const std::string& name, bool json, std::ostream& out) {
  if (json) return PrintJson(schedule, out);
  if (schedule.next_slot() == 0)
    out << "schedule " << name << " is active; its cron never fires again\n";
  else
    out << "schedule " << name << " is active; next firing " << schedule.next_slot_local() << " ("
        << FormatUtcTime(static_cast<double>(schedule.next_slot())) << ")\n";
}

void PrintRemovedSchedule(const v1::RemoveScheduleResponse& response, const std::string& name, bool json,
                          std::ostream& out) {
  if (json) return PrintJson(response, out);
  out << "removed schedule " << name << " with its versions and runs; the sweeps it fired are kept\n";
}

void PrintScheduleRun(const v1::ScheduleRun& run, const std::string& name, bool json, std::ostream& out) {
  if (json) return PrintJson(run, out);
  out << ScheduleRunText(name, run);
}

}  // namespace orchard::cli
