// The warm trainer: a process that has loaded LibTorch once and forks a child per trial, so a trial
// starts in milliseconds instead of paying LibTorch's load time. Each child is a fresh copy (its
// own memory, its own crash), with stdout and stderr going to the trial's log.
//
// Protocol, one JSON object per line. Requests on stdin:
//   {"id": 7, "args": ["recipe.yaml", "--out", "dir"], "log": "dir/attempt-1.log", "env": {"K": "V"}}
// Replies on stdout:
//   {"id": 7, "pid": 1234}                          the child runs
//   {"id": 7, "error": "cannot open the log ..."}   it does not
//   {"pid": 1234, "exit_code": 0, "signal": 0}      a child ended (exit_code -1 when signalled)
// End of stdin ends the zygote; children then receive SIGKILL (they die with their parent).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace orchard::train {

// Serves requests until stdin closes; `run(args)` is the trainer's command line entry point, called
// in each child. LibTorch must not have started threads or CUDA before this is called.
int ServeZygote(const std::function<int(const std::vector<std::string>&)>& run);

}  // namespace orchard::train
