#include "cli/sweep_follow.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "cli/render.h"
#include "orchard/v1/sweep_service.grpc.pb.h"

namespace orchard::cli {
namespace {

std::atomic<bool> interrupted{false};
void OnInterrupt(int) { interrupted.store(true); }

int EndCode(const v1::Sweep& sweep) { return sweep.state() == v1::SWEEP_COMPLETED ? kExitOk : kExitSweepFailed; }

// How long --wait keeps trying to reach a coordinator that went away (a restart takes seconds).
constexpr double kWaitForCoordinatorSeconds = 600;

}  // namespace

int FollowSweep(const CoordinatorCalls& calls, int64_t sweep_id, bool cancel_on_interrupt) {
  const GlobalOptions& global = calls.global();
  std::ostream& out = *global.out;
  std::ostream& err = *global.err;
  // Only stdout can be a terminal to redraw on; a stream a test passes is not.
  const bool tty = global.out == &std::cout && isatty(STDOUT_FILENO) && !global.json;
  std::signal(SIGINT, OnInterrupt);
  v1::SweepService::Stub stub(calls.channel());
  std::deque<std::string> recent;
  v1::Sweep last;
  size_t drawn_lines = 0;
  std::mutex draw_mu;  // guards recent, last and drawn_lines: the reader and the ticker both draw
  auto redraw = [&] {
    const std::string block = ProgressBlock(last, {recent.begin(), recent.end()}, Now());
    if (drawn_lines > 0) out << "\x1b[" << drawn_lines << "F\x1b[J";
    out << block << std::flush;
    drawn_lines = static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
  };
  bool canceled = false;
  while (true) {
    grpc::ClientContext context;
    v1::WatchSweepRequest request;
    request.set_sweep_id(sweep_id);
    auto reader = stub.WatchSweep(&context, request);
    bool done = false;  // guarded by done_mu
    std::mutex done_mu;
    std::condition_variable done_wake;
    // Runs beside the blocking Read: cancels the call on Ctrl-C so we can act on it (the signal handler
    // can only set a flag, so it looks every 50 ms), and on a terminal redraws every second so elapsed
    // and estimated time keep moving between events. It ends as soon as the stream does.
    std::thread interrupt_watch([&] {
      auto next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (!interrupted.load()) {
        {
          std::unique_lock<std::mutex> lock(done_mu);
          if (done_wake.wait_for(lock, std::chrono::milliseconds(50), [&] { return done; })) break;
        }
        if (!tty || std::chrono::steady_clock::now() < next_tick) continue;
        next_tick += std::chrono::seconds(1);
        std::lock_guard<std::mutex> lock(draw_mu);
        if (drawn_lines > 0) redraw();
      }
      if (interrupted.load()) context.TryCancel();
    });
    v1::SweepEvent event;
    while (reader->Read(&event)) {
      std::lock_guard<std::mutex> lock(draw_mu);
      last = event.sweep();
      if (!event.message().empty()) {
        recent.push_back(event.message());
        if (recent.size() > 5) recent.pop_front();
        if (!tty && !global.json) PrintSweepEvent(event, out);
      }
      if (tty) redraw();
    }
    {
      std::lock_guard<std::mutex> lock(done_mu);
      done = true;
      done_wake.notify_all();
    }
    interrupt_watch.join();
    const grpc::Status status = reader->Finish();
    if (interrupted.load()) {
      interrupted.store(false);
      if (!cancel_on_interrupt || canceled) {
        err << "orchard: stopped watching; sweep " << sweep_id << " goes on (orchard watch " << sweep_id << ")\n";
        return kExitInterrupted;
      }
      canceled = true;
      err << "\norchard: canceling sweep " << sweep_id << "; running trials checkpoint and stop (Ctrl-C again to leave now)\n";
      v1::CancelSweepRequest cancel;
      cancel.set_sweep_id(sweep_id);
      v1::Sweep ignored;
      (void)stub.CancelSweep(Deadline().get(), cancel, &ignored);
      continue;
    }
    if (!status.ok()) return calls.Fail(status);
    break;
  }
  PrintSweepEnd(last, /*with_progress=*/!tty, Now(), global.json, out);
  return canceled ? kExitInterrupted : EndCode(last);
}

int WaitForSweepEnd(const CoordinatorCalls& calls, int64_t sweep_id) {
  const GlobalOptions& global = calls.global();
  std::signal(SIGINT, OnInterrupt);
  v1::SweepService::Stub stub(calls.channel());
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  double unreachable_since = 0;
  while (true) {
    v1::Sweep sweep;
    const grpc::Status status = stub.GetSweep(Deadline(10).get(), request, &sweep);
    if (status.ok()) {
      unreachable_since = 0;
      if (sweep.state() != v1::SWEEP_RUNNING && sweep.trials_by_state().count("running") == 0) {
        PrintSweepEnd(sweep, /*with_progress=*/true, Now(), global.json, *global.out);
        return EndCode(sweep);
      }
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
               status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      if (unreachable_since == 0) {
        unreachable_since = Now();
        *global.err << "orchard: lost the coordinator at " << global.coordinator << "; waiting for it to come back\n";
      } else if (Now() - unreachable_since > kWaitForCoordinatorSeconds) {
        return calls.Fail(status);
      }
    } else {
      return calls.Fail(status);
    }
    for (int i = 0; i < 20 && !interrupted.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (interrupted.load()) {
      *global.err << "orchard: stopped waiting; sweep " << sweep_id << " goes on (orchard watch " << sweep_id << ")\n";
      return kExitInterrupted;
    }
  }
}

}  // namespace orchard::cli
