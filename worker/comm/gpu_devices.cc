#include "worker/comm/gpu_devices.h"

#include <charconv>

namespace orchard::comm {
namespace {

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> entries;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string entry = list.substr(start, end - start);
    const size_t first = entry.find_first_not_of(" \t");
    const size_t last = entry.find_last_not_of(" \t");
    entries.push_back(first == std::string::npos ? "" : entry.substr(first, last - first + 1));
    start = end + 1;
  }
  return entries;
}

}  // namespace

StatusOr<std::string> ChildVisibleDevices(const char* worker_visible, const std::vector<int>& ordinals) {
  std::vector<std::string> entries;
  if (worker_visible) entries = SplitList(worker_visible);
  std::string visible;
  for (const int ordinal : ordinals) {
    std::string entry;
    if (!worker_visible) {
      if (ordinal < 0) return InvalidArgument("GPU ordinal " + std::to_string(ordinal) + " is negative");
      entry = std::to_string(ordinal);
    } else {
      if (ordinal < 0 || ordinal >= static_cast<int>(entries.size()) || entries[ordinal].empty())
        return InvalidArgument("GPU ordinal " + std::to_string(ordinal) + " is not in this worker's CUDA_VISIBLE_DEVICES=\"" +
                               std::string(worker_visible) + "\"");
      entry = entries[ordinal];
    }
    visible += (visible.empty() ? "" : ",") + entry;
  }
  return visible;
}

StatusOr<int> GpuOfLocalRank(const std::string& device, int local_rank, int local_size, int visible_gpus,
                             bool visible_set_for_rank) {
  if (device == "cpu" || visible_gpus == 0) return -1;  // without a GPU, the trainer says what is missing
  if (local_rank < 0 || local_size <= 0 || local_rank >= local_size)
    return InvalidArgument("local rank " + std::to_string(local_rank) + " of " + std::to_string(local_size) +
                           " on this node is not a rank (OMPI_COMM_WORLD_LOCAL_RANK/LOCAL_SIZE)");
  if (visible_set_for_rank && visible_gpus == 1 && local_size > 1) {
    if (device.rfind("cuda:", 0) == 0 && device != "cuda:0")
      return InvalidArgument("train.device is " + device + " but this rank sees one GPU, its own "
                             "(CUDA_VISIBLE_DEVICES): use train.device: cuda (or auto)");
    return 0;
  }
  if (local_size > visible_gpus)
    return FailedPrecondition(std::to_string(local_size) + " ranks run on this node but it has " +
                              std::to_string(visible_gpus) + " visible GPU(s): each rank needs a GPU of its own "
                              "(NCCL refuses two ranks on one GPU). Start at most " + std::to_string(visible_gpus) +
                              " ranks per node (mpirun --map-by ppr:" + std::to_string(visible_gpus) +
                              ":node), give each rank a GPU of its own (CUDA_VISIBLE_DEVICES per rank, as Slurm's "
                              "--gpus-per-task=1 does), or train on CPU (train.device: cpu)");
  if (device.rfind("cuda:", 0) == 0) {
    int named = -1;
    const char* digits = device.data() + 5;
    const auto [end, error] = std::from_chars(digits, device.data() + device.size(), named);
    if (error != std::errc() || end != device.data() + device.size() || named < 0)
      return InvalidArgument("train.device \"" + device + "\" is not cuda:N");
    if (local_size > 1)
      return InvalidArgument("train.device is " + device + ", one GPU, but under mpirun each of this node's " +
                             std::to_string(local_size) + " ranks trains on a GPU of its own (local rank i on GPU i): "
                             "use train.device: cuda (or auto)");
    if (named >= visible_gpus)
      return FailedPrecondition("train.device is " + device + " but this node has " + std::to_string(visible_gpus) +
                                " visible GPU(s)");
    return named;
  }
  return local_rank;
}

}  // namespace orchard::comm
