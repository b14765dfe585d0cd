#include "orchard/v1/state_names.h"

namespace orchard::v1 {

std::string TrialStateName(TrialState state) {
  switch (state) {
    case TRIAL_PENDING: return "pending";
    case TRIAL_RUNNING: return "running";
    case TRIAL_COMPLETED: return "completed";
    case TRIAL_FAILED: return "failed";
    case TRIAL_STOPPED: return "stopped";
    case TRIAL_CANCELED: return "canceled";
    case TRIAL_PAUSED: return "paused";
    default: return "unknown";
  }
}

std::string SweepStateName(SweepState state) {
  switch (state) {
    case SWEEP_RUNNING: return "running";
    case SWEEP_COMPLETED: return "completed";
    case SWEEP_FAILED: return "failed";
    case SWEEP_CANCELED: return "canceled";
    default: return "unknown";
  }
}

TrialState TrialStateFromName(const std::string& name) {
  for (TrialState state : {TRIAL_PENDING, TRIAL_RUNNING, TRIAL_COMPLETED, TRIAL_FAILED, TRIAL_STOPPED, TRIAL_CANCELED,
                           TRIAL_PAUSED})
    if (TrialStateName(state) == name) return state;
  return TRIAL_STATE_UNSPECIFIED;
}

SweepState SweepStateFromName(const std::string& name) {
  for (SweepState state : {SWEEP_RUNNING, SWEEP_COMPLETED, SWEEP_FAILED, SWEEP_CANCELED})
    if (SweepStateName(state) == name) return state;
  return SWEEP_STATE_UNSPECIFIED;
}

}  // namespace orchard::v1
