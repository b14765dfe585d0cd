#include "worker/train/checkpoint_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/crc32c.h"
#include "core/file_tree.h"

namespace orchard::train {
namespace fs = std::filesystem;
namespace {

constexpr char kManifest[] = "MANIFEST";
constexpr int kManifestFormat = 1;
constexpr char kEpochFile[] = "EPOCH";

Status ErrnoError(const std::string& what, const fs::path& path) {
  return Internal(what + " " + path.string() + ": " + std::strerror(errno));
}

// Writes `bytes` to `path` and fsyncs it before returning.
Status WriteDurably(const fs::path& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", path);
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = ErrnoError("cannot write", path);
      ::close(fd);
      return s;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = ErrnoError("cannot fsync", path);
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return ErrnoError("cannot close", path);
  return OkStatus();
}

Status SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? OkStatus() : ErrnoError("cannot fsync directory", dir);
}

std::optional<int64_t> StepOfDirectory(const fs::path& dir) {
  std::string name = dir.filename().string();
  if (name.rfind("step-", 0) != 0 || name.size() == 5) return std::nullopt;
  std::string digits = name.substr(5);
  if (!std::all_of(digits.begin(), digits.end(), ::isdigit) || digits.size() > 18) return std::nullopt;
  return std::stoll(digits);
}

// The epoch recorded in <root>/EPOCH; 0 when none is.
int64_t RecordedEpoch(const fs::path& root) {
  std::ifstream in(root / kEpochFile);
  int64_t epoch = 0;
  return in >> epoch ? epoch : 0;
}

// An exclusive flock on <root>/EPOCH.lock while it lives, for fenced writers only: claiming an epoch
// and checking it before publishing a checkpoint then exclude each other, leaving no window between
// a stale writer's check and its rename.
class EpochLock {
 public:
  EpochLock(const fs::path& root, bool fenced) {
    if (!fenced) return;
    fd_ = ::open((root / (std::string(kEpochFile) + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      status_ = ErrnoError("cannot open the epoch lock in", root);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) {
        status_ = ErrnoError("cannot lock the epoch in", root);
        return;
      }
  }
  ~EpochLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  EpochLock(const EpochLock&) = delete;
  EpochLock& operator=(const EpochLock&) = delete;
  const Status& status() const { return status_; }

 private:
  int fd_ = -1;
  Status status_;
};

}  // namespace

CheckpointStore::CheckpointStore(fs::path root, int64_t keep, int64_t epoch)
    : root_(std::move(root)), keep_(keep), epoch_(epoch) {}

Status CheckpointStore::CheckEpoch() const {
  if (epoch_ == 0) return OkStatus();
  const int64_t recorded = RecordedEpoch(root_);
  if (recorded != epoch_)
    return Aborted("fenced: attempt " + std::to_string(recorded) + " of this trial owns " + root_.string() +
                   ", not this attempt " + std::to_string(epoch_) + "; a stale attempt must not write checkpoints");
  return OkStatus();
}

Status CheckpointStore::Claim() {
  if (epoch_ == 0) return OkStatus();
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return Internal("cannot create checkpoint directory " + root_.string() + ": " + ec.message());
  const EpochLock lock(root_, true);
  RETURN_IF_ERROR(lock.status());
  const int64_t recorded = RecordedEpoch(root_);
  if (recorded > epoch_) return CheckEpoch();
  RemoveLeftovers();  // earlier attempts' (this one owns the root from here on)
  if (recorded == epoch_) return OkStatus();
  const fs::path temp = root_ / (std::string(".") + kEpochFile + ".tmp-" + std::to_string(::getpid()));
  RETURN_IF_ERROR(WriteDurably(temp, std::to_string(epoch_) + "\n"));
  fs::rename(temp, root_ / kEpochFile, ec);
  if (ec) return Internal("cannot record the epoch in " + root_.string() + ": " + ec.message());
  return SyncDirectory(root_);
}

Status CheckpointStore::Commit(int64_t step, const std::vector<CheckpointFile>& files,
                               const nlohmann::json& metadata) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return Internal("cannot create checkpoint directory " + root_.string() + ": " + ec.message());
  const fs::path final_dir = root_ / ("step-" + std::to_string(step));
  const fs::path temp_dir = root_ / (".step-" + std::to_string(step) + ".tmp-" + std::to_string(::getpid()));
  ec = RemoveTree(temp_dir);
  fs::create_directory(temp_dir, ec);
  if (ec) return Internal("cannot create " + temp_dir.string() + ": " + ec.message());
  // A commit that fails (a full disk, say) leaves no half-written directory behind.
  struct RemoveUnpublished {
    const fs::path& dir;
    ~RemoveUnpublished() {
      RemoveTree(dir);
    }
  } remove_unpublished{temp_dir};

  nlohmann::json manifest = {{"format", kManifestFormat}, {"step", step}, {"epoch", epoch_}, {"metadata", metadata}};
  manifest["files"] = nlohmann::json::array();
  for (const CheckpointFile& f : files) {
    if (f.name.empty() || f.name.find('/') != std::string::npos || f.name == kManifest || f.name[0] == '.') {
      return InvalidArgument("checkpoint file name \"" + f.name + "\" must be a plain file name");
    }
    RETURN_IF_ERROR(WriteDurably(temp_dir / f.name, f.bytes));
    manifest["files"].push_back({{"name", f.name},
                                 {"size", f.bytes.size()},
                                 {"crc32c", Crc32c(f.bytes.data(), f.bytes.size())}});
  }
  manifest["written_at"] = std::chrono::duration<double>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  RETURN_IF_ERROR(WriteDurably(temp_dir / kManifest, manifest.dump(2) + "\n"));
  RETURN_IF_ERROR(SyncDirectory(temp_dir));
  {
    const EpochLock lock(root_, epoch_ > 0);
    Status published = lock.status();
    if (published.ok()) published = CheckEpoch();
    if (!published.ok()) {
      ec = RemoveTree(temp_dir);
      return published;
    }
    ec = RemoveTree(final_dir);
    fs::rename(temp_dir, final_dir, ec);
    if (ec) return Internal("cannot rename " + temp_dir.string() + " into place: " + ec.message());
    RETURN_IF_ERROR(SyncDirectory(root_));
    RemoveLeftovers();
  }
  return ApplyRetention();
}

void CheckpointStore::RemoveLeftovers() const {
  const std::string own_suffix = ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    const bool temporary = (name.rfind(".step-", 0) == 0 || name.rfind(std::string(".") + kEpochFile, 0) == 0) &&
                           name.find(".tmp-") != std::string::npos;
    if (!temporary || name.size() < own_suffix.size() ||
        name.compare(name.size() - own_suffix.size(), own_suffix.size(), own_suffix) == 0)
      continue;
    RemoveTree(entry.path());
  }
}

StatusOr<Checkpoint> CheckpointStore::Open(const fs::path& dir) {
  std::optional<int64_t> step = StepOfDirectory(dir);
  if (!step) return InvalidArgument(dir.string() + ": not a checkpoint directory (expected step-<n>)");
  std::ifstream in(dir / kManifest);
  if (!in) return DataLoss(dir.string() + ": no MANIFEST (an incomplete checkpoint)");
  Checkpoint cp;
  cp.step = *step;
  cp.dir = dir;
  try {
    in >> cp.manifest;
    if (cp.manifest.at("format").get<int>() != kManifestFormat) {
      return DataLoss(dir.string() + "/MANIFEST: unknown format " + cp.manifest.at("format").dump());
    }
    if (cp.manifest.at("step").get<int64_t>() != cp.step) {
      return DataLoss(dir.string() + "/MANIFEST: step does not match the directory name");
    }
    for (const auto& f : cp.manifest.at("files")) {
      fs::path file = dir / f.at("name").get<std::string>();
      std::error_code ec;
      auto size = fs::file_size(file, ec);
      if (ec || size != f.at("size").get<uint64_t>()) {
        return DataLoss(file.string() + ": missing or of the wrong size (manifest says " +
                        f.at("size").dump() + " bytes)");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return DataLoss(dir.string() + "/MANIFEST: cannot parse: " + e.what());
  }
  return cp;
}

StatusOr<std::string> CheckpointStore::ReadFile(const Checkpoint& cp, const std::string& name) {
  for (const auto& f : cp.manifest.at("files")) {
    if (f.at("name") != name) continue;
    std::ifstream in(cp.dir / name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::string data = bytes.str();
    if (!in || data.size() != f.at("size").get<uint64_t>() ||
        Crc32c(data.data(), data.size()) != f.at("crc32c").get<uint32_t>()) {
      return DataLoss((cp.dir / name).string() + ": checksum mismatch (corrupt checkpoint)");
    }
    return data;
  }
  return NotFound(cp.dir.string() + ": the checkpoint has no file " + name);
}

std::vector<Checkpoint> CheckpointStore::List() const {
  std::vector<Checkpoint> out;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return out;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (!StepOfDirectory(entry.path())) continue;
    auto cp = Open(entry.path());
    if (cp.ok()) out.push_back(std::move(*cp));
  }
  std::sort(out.begin(), out.end(), [](const Checkpoint& a, const Checkpoint& b) { return a.step < b.step; });
  return out;
}

StatusOr<std::optional<Checkpoint>> CheckpointStore::Latest(std::vector<std::string>* warnings) const {
  std::vector<std::pair<int64_t, fs::path>> candidates;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return std::optional<Checkpoint>();
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (auto step = StepOfDirectory(entry.path())) candidates.emplace_back(*step, entry.path());
  }
  std::sort(candidates.rbegin(), candidates.rend());
  for (const auto& [step, dir] : candidates) {
    auto cp = Open(dir);
    Status verified = cp.status();
    if (cp.ok()) {
      for (const auto& f : cp->manifest.at("files")) {
        verified = ReadFile(*cp, f.at("name").get<std::string>()).status();
        if (!verified.ok()) break;
      }
    }
    if (verified.ok()) return std::optional<Checkpoint>(std::move(*cp));
    if (warnings) warnings->push_back("skipping damaged checkpoint: " + verified.message());
  }
  return std::optional<Checkpoint>();
}

Status CheckpointStore::ApplyRetention() {
  std::vector<Checkpoint> all = List();
  for (size_t i = 0; i + keep_ < all.size(); ++i) {
    std::error_code ec;
    ec = RemoveTree(all[i].dir);
    if (ec) return Internal("cannot remove old checkpoint " + all[i].dir.string() + ": " + ec.message());
  }
  return OkStatus();
}

}  // namespace orchard::train
