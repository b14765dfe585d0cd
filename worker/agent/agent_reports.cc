// Relaying trainers' metrics and checkpoints to the coordinator, and reporting how attempts ended.
#include <algorithm>
#include <functional>
#include <future>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/provenance.h"
#include "core/strategy_answer.h"
#include "worker/agent/agent_impl.h"
#include "worker/agent/exit_reason.h"

namespace orchard::worker {
namespace {

namespace fs = std::filesystem;

// What one relay call carries at most: reports (one per attempt), points in each, and bytes (well
// under the coordinator's 8 MiB message limit; a call always carries at least one report).
constexpr size_t kReportsPerCall = 100;
constexpr size_t kPointsPerReport = 5000;
constexpr size_t kBytesPerCall = 4 << 20;

// The newest step-<n> directory with a MANIFEST (a complete checkpoint), or -1.
int64_t LatestCheckpointStep(const fs::path& root) {
  int64_t latest = -1;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !fs::exists(entry.path() / "MANIFEST")) continue;
    try {
      latest = std::max<int64_t>(latest, std::stoll(name.substr(5)));
    } catch (const std::exception&) {
    }
  }
  return latest;
}

// Makes the calls at once, each on a thread of its own, and returns their statuses in order. The
// coordinator commits writes that arrive together in one durable commit, where writes one after
// another wait for a commit each: a fused group's 16 members ending took 16 commits in a row.
std::vector<Status> AllAtOnce(const std::vector<std::function<Status()>>& calls) {
  if (calls.size() == 1) return {calls.front()()};
  std::vector<std::future<Status>> pending;
  for (const auto& call : calls) pending.push_back(std::async(std::launch::async, call));
  std::vector<Status> statuses;
  for (auto& call : pending) statuses.push_back(call.get());
  return statuses;
}

// What the trainer recorded of its origins (this attempt's only: an earlier attempt's file may
// remain) and, when it completed, its final parameters' digest.
void AttachTrainerRecords(const fs::path& dir, int64_t attempt_number, v1::ReportAttemptExitRequest* exit) {
  const std::string provenance = ReadWholeFile((dir / "provenance.json").string()).value_or("");
  const StatusOr<Provenance> parsed = ParseProvenance(provenance);
  if (parsed.ok() && parsed->attempt == attempt_number && provenance.size() <= kMaxProvenanceBytes)
    exit->set_provenance_json(provenance);
  if (exit->exit_code() != 0) return;
  const std::string result_text = ReadWholeFile((dir / "result.json").string()).value_or("");
  const nlohmann::json result = nlohmann::json::parse(result_text, nullptr, false);
  if (result.is_object()) exit->set_parameter_digest(result.value("parameter_digest", ""));
}

}  // namespace

bool WorkerAgent::Impl::TakeNewRecords(Running& running) {
  std::vector<MetricRecord> fresh = running.tail->Poll();
  const bool awaited = running.answers_decisions && running.next_decision_step > 0 &&
                       std::any_of(fresh.begin(), fresh.end(),
                                   [&](const MetricRecord& r) { return r.step >= running.next_decision_step; });
  running.unsent.insert(running.unsent.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
  return awaited;
}

void WorkerAgent::Impl::RelayReports(const std::vector<Running*>& due, bool trainers_run) {
  // Set first: a coordinator out of reach is tried again at the usual period, not at every turn.
  const auto next_relay =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.poll_seconds));
  struct Answer {
    v1::Decision decision = v1::DECISION_CONTINUE;
    int64_t decided_step = -1, next_decision_step = 0;
    bool retry_later = false;  // a report the coordinator could not take now
  };
  std::vector<Answer> answers(due.size());
  for (Running* running : due) {
    TakeNewRecords(*running);
    running->next_relay = next_relay;
  }
  // All the attempts' records in one call, each attempt's a report of at most kPointsPerReport; a
  // backlog takes more calls. A call that fails keeps what earlier calls were answered.
  bool reachable = true;
  for (;;) {
    v1::ReportMetricsBatchRequest request;
    std::vector<std::pair<size_t, size_t>> sent;  // (index in due, points in its report)
    size_t bytes = 0;
    for (size_t i = 0; i < due.size() && sent.size() < kReportsPerCall && bytes < kBytesPerCall; ++i) {
      const Running& running = *due[i];
      if (running.unsent.empty() || answers[i].retry_later) continue;
      const size_t points = std::min(running.unsent.size(), kPointsPerReport);
      v1::ReportMetricsRequest* report = request.add_reports();
      report->set_attempt_id(running.attempt.attempt_id());
      report->set_token(running.attempt.token());
      for (size_t p = 0; p < points; ++p) {
        v1::MetricPoint* point = report->add_points();
        point->set_step(running.unsent[p].step);
        point->set_name(running.unsent[p].name);
        point->set_value(running.unsent[p].value);
        point->set_time(running.unsent[p].time);
      }
      bytes += report->ByteSizeLong();
      sent.emplace_back(i, points);
    }
    if (sent.empty()) break;
    const auto outcomes = link_->ReportMetricsBatch(request, Deadline(10));
    // A call that failed as a whole says nothing of its reports: all are sent again at the next relay.
    if (!outcomes.ok()) {
      reachable = false;
      break;
    }
    for (size_t k = 0; k < sent.size(); ++k) {
      const auto [i, points] = sent[k];
      const Status status = (*outcomes)[k].status();
      Answer& answer = answers[i];
      if (!IsSettled(status)) {
        answer.retry_later = true;
        continue;
      }
      // Stored, or refused for good (the attempt has ended): either way these are done.
      Running& running = *due[i];
      running.unsent.erase(running.unsent.begin(), running.unsent.begin() + static_cast<std::ptrdiff_t>(points));
      if (status.code() == StatusCode::kFailedPrecondition) answer.decision = v1::DECISION_STOP;
      if (!status.ok()) continue;
      const v1::ReportMetricsResponse& response = *(*outcomes)[k];
      if (response.decision() != v1::DECISION_CONTINUE) answer.decision = response.decision();
      if (response.decided_step() >= 0)
        answer.decided_step = response.decided_step(), answer.next_decision_step = response.next_decision_step();
    }
  }
  for (size_t i = 0; i < due.size(); ++i) {
    Running& running = *due[i];
    const Answer& answer = answers[i];
    // Only this attempt's own answers (a refused report says nothing of the step the trainer waits
    // at, and a stale worker's would land in the directory a newer attempt uses; SIGTERM stops
    // either way).
    if (running.answers_decisions && answer.decided_step >= 0) {
      running.next_decision_step = answer.next_decision_step;
      if (trainers_run) AnswerTrainer(running, answer.decision, answer.decided_step, answer.next_decision_step);
    }
    if (answer.decision == v1::DECISION_STOP) StopAttempt(running.attempt.attempt_id(), "the search strategy stopped it");
    if (answer.decision == v1::DECISION_PAUSE) StopAttempt(running.attempt.attempt_id(), "the search strategy paused it");
  }
  if (reachable) ReportNewCheckpoints(due);
}

void WorkerAgent::Impl::ReportNewCheckpoints(const std::vector<Running*>& attempts) {
  std::vector<std::pair<Running*, v1::ReportCheckpointRequest>> reports;
  for (Running* running : attempts) {
    const int64_t step = LatestCheckpointStep(running->dir / "checkpoints");
    if (step <= running->reported_checkpoint) continue;
    v1::ReportCheckpointRequest request;
    request.set_attempt_id(running->attempt.attempt_id());
    request.set_token(running->attempt.token());
    request.set_step(step);
    request.set_path(running->attempt.output_dir() + "/checkpoints/step-" + std::to_string(step));
    reports.emplace_back(running, std::move(request));
  }
  const auto deadline = Deadline(10);
  std::vector<std::function<Status()>> calls;
  for (const auto& [running, request] : reports)
    calls.push_back([this, &request = request, deadline] { return link_->ReportCheckpoint(request, deadline).status(); });
  const std::vector<Status> statuses = AllAtOnce(calls);
  for (size_t i = 0; i < reports.size(); ++i)
    if (statuses[i].ok()) reports[i].first->reported_checkpoint = reports[i].second.step();
}

void WorkerAgent::Impl::AnswerTrainer(Running& running, v1::Decision decision, int64_t decided_step,
                                      int64_t next_decision_step) {
  StrategyAnswer answer{.attempt = running.attempt.number(), .step = decided_step, .next_step = next_decision_step};
  if (decision != v1::DECISION_CONTINUE) {
    answer.decision = decision == v1::DECISION_PAUSE ? StrategyAnswer::Decision::kPause : StrategyAnswer::Decision::kStop;
    answer.next_step = 0;
  }
  // A trainer that waits nowhere acts only on a stop or pause; the step a "go on" answers is news to
  // no one (a fused member of a search that never stops trials would get a new file each evaluation).
  const bool go_on = answer.decision == StrategyAnswer::Decision::kContinue && answer.next_step <= 0;
  if (go_on && running.answered_go_on) return;
  // Unwritten (a full disk), the trainer waits out its deadline and goes on; a stop still reaches it
  // as SIGTERM.
  const Status written = WriteFileAtomically((running.dir / kStrategyAnswerFile).string(), StrategyAnswerJson(answer));
  running.answered_go_on = go_on && written.ok();
  if (!written.ok()) Say("cannot answer attempt " + std::to_string(running.attempt.attempt_id()) + "'s trainer: " + written.message());
}

void WorkerAgent::Impl::Relay() {
  const auto now = Clock::now();
  // Between relays, the report a trainer waits at a judged step for an answer to is sent at once.
  std::vector<Running*> due;
  for (auto& [id, running] : running_)
    if (TakeNewRecords(running) || now >= running.next_relay) due.push_back(&running);
  if (!due.empty()) RelayReports(due, /*trainers_run=*/true);
}

void WorkerAgent::Impl::EndRunning(std::map<int64_t, Running>::iterator it, int exit_code, int signal,
                                    const std::string& reason) {
  Running& running = it->second;
  Say("attempt " + std::to_string(it->first) + " ended: " + reason);
  running.exit = MakeExit(it->first, exit_code, signal, reason);
  // A fused group's processes are counted once, with the last of its members to end.
  const bool last_of_its_trainer = std::none_of(running_.begin(), running_.end(), [&](const auto& r) {
    return r.first != it->first && r.second.pid == running.pid;
  });
  if (last_of_its_trainer) {
    running.exit.set_cpu_seconds(running.usage.cpu_seconds);
    running.exit.set_peak_memory_bytes(running.usage.peak_memory_bytes);
    running.exit.set_gpu_peak_memory_bytes(running.usage.gpu_peak_memory_bytes);
    running.exit.set_gpu_utilization_percent(running.usage.GpuUtilizationPercent());
  }
  AttachTrainerRecords(running.dir, running.attempt.number(), &running.exit);
  finishing_.insert(running_.extract(it));
}

bool WorkerAgent::Impl::HandleExits() {
  const std::vector<TrainerExit> exits = launcher_->TakeExits();
  for (const TrainerExit& exit : exits) {
    // Every attempt the trainer trained: one, or a fused group's members.
    std::erase_if(orphaned_, [&](const auto& r) { return r.second.pid == exit.pid; });
    for (auto it = running_.begin(); it != running_.end();) {
      auto next = std::next(it);
      if (it->second.pid == exit.pid) {
        // A fused member ends as its own summary says; a trainer that died wrote none.
        const std::optional<MemberEnd> member =
            it->second.fused && exit.signal == 0 && exit.note.empty() ? MemberEndOf(it->second) : std::nullopt;
        if (member) {
          EndRunning(it, member->exit_code, 0, member->reason);
        } else {
          EndRunning(it, exit.exit_code, exit.signal, ExitReason(exit, it->second.log_path));
        }
      }
      it = next;
    }
  }
  // A fused member that ended while its group trains on (stopped, paused or diverged) is reported
  // now, and the slot it held, if any, passes to a member still training. The last member of a trainer
  // waits for its exit: until then the trainer holds its slot and GPUs.
  bool member_ended = false;
  for (auto it = running_.begin(); it != running_.end();) {
    auto next = std::next(it);
    const int pid = it->second.pid;
    const auto heir = std::find_if(running_.begin(), running_.end(),
                                   [&](const auto& r) { return r.first != it->first && r.second.pid == pid; });
    const std::optional<MemberEnd> member =
        it->second.fused && heir != running_.end() ? MemberEndOf(it->second) : std::nullopt;
    if (member) {
      if (it->second.attempt.slots() > 0) heir->second.attempt.set_slots(it->second.attempt.slots());
      EndRunning(it, member->exit_code, 0, member->reason);
      member_ended = true;
    }
    it = next;
  }
  return !exits.empty() || member_ended;
}

std::optional<MemberEnd> WorkerAgent::Impl::MemberEndOf(const Running& running) const {
  const fs::path summary = running.dir / "result.json";
  std::error_code error;
  if (!fs::exists(summary, error)) return std::nullopt;
  return FusedMemberEnd(ReadWholeFile(summary.string()).value_or(""));
}

void WorkerAgent::Impl::SampleUsage() {
  const auto now = Clock::now();
  if (running_.empty() || now < next_usage_sample_) return;
  next_usage_sample_ = now + std::chrono::seconds(1);
  std::vector<int> pids;
  for (const auto& [id, running] : running_) pids.push_back(running.pid);
  const std::map<int, ProcessUsage> usage = SampleProcessTrees(pids);
  for (auto& [id, running] : running_) {
    running.usage.Add(usage.at(running.pid));
    if (gpu_sampler_ == nullptr || gpu_sampling_failed_ || running.visible_devices.empty()) continue;
    StatusOr<GpuSample> gpu = gpu_sampler_->Sample(running.visible_devices);
    if (gpu.ok()) {
      running.usage.AddGpu(*gpu);
    } else {
      gpu_sampling_failed_ = true;
      Say("GPU memory and utilisation are not measured from now on: " + gpu.status().message());
    }
  }
}

v1::ReportAttemptExitRequest WorkerAgent::Impl::MakeExit(int64_t attempt_id, int exit_code, int signal,
                                                         const std::string& reason) const {
  v1::ReportAttemptExitRequest request;
  request.set_worker_id(worker_id_);
  request.set_attempt_id(attempt_id);
  request.set_exit_code(exit_code);
  request.set_signal(signal);
  request.set_reason(reason);
  return request;
}

void WorkerAgent::Impl::ReportExit(int64_t attempt_id, int exit_code, int signal, const std::string& reason) {
  unreported_exits_[attempt_id] = MakeExit(attempt_id, exit_code, signal, reason);
  FlushEnded();
}

void WorkerAgent::Impl::FlushEnded() {
  // Each ended attempt's last records go before its exit report.
  std::vector<Running*> ended;
  for (auto& [id, running] : finishing_) ended.push_back(&running);
  if (!ended.empty()) RelayReports(ended, /*trainers_run=*/false);
  for (auto it = finishing_.begin(); it != finishing_.end();) {
    if (!it->second.unsent.empty()) {
      ++it;  // its exit waits for its records; the others' need not
      continue;
    }
    unreported_exits_[it->first] = it->second.exit;
    it = finishing_.erase(it);
  }
  const auto deadline = Deadline(5);
  std::vector<std::function<Status()>> calls;
  for (const auto& [id, exit] : unreported_exits_)
    calls.push_back([this, &exit = exit, deadline] { return link_->ReportAttemptExit(exit, deadline); });
  const std::vector<Status> statuses = AllAtOnce(calls);
  auto it = unreported_exits_.begin();
  for (const Status& status : statuses) it = IsSettled(status) ? unreported_exits_.erase(it) : std::next(it);
}

}  // namespace orchard::worker
