#include "dataplane/policy/acl_consolidator.h"

#include <rte_lcore.h>

#include <chrono>
#include <cstring>
#include <string>

namespace np::policy {

Result<std::shared_ptr<const AclContexts>> AclConsolidator::BuildBaseOnly(const PolicyImage& image,
                                                                          uint32_t partitions) {
  // No previous classifier: one base per direction with every partition's
  // rules, every partition base-served (or without rules), no overlays.
  return AclContexts::Build(image, nullptr, partitions);
}

AclConsolidator::AclConsolidator(uint64_t quiet_ns, Builder builder)
    : quiet_ns_(quiet_ns), builder_(std::move(builder)) {}

AclConsolidator::~AclConsolidator() { Join(); }

void AclConsolidator::PolicyApplied(const PolicyTables& current, uint64_t now_ns) {
  ++epoch_;  // a build in flight was for older tables
  pending_ = current.acl().overlay_count() > 0;
  quiet_until_ns_ = now_ns + quiet_ns_;
}

void* AclConsolidator::Run(void* arg) {
  Job& job = *static_cast<Job*>(arg);
  const auto started = std::chrono::steady_clock::now();
  job.result.emplace((*job.builder)(*job.image, job.partitions));
  job.build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  job.done.store(true, std::memory_order_release);
  return nullptr;
}

void AclConsolidator::Start(const PolicyTables& current) {
  auto job = std::make_unique<Job>();
  job->image = current.shared_image();
  job->partitions = current.acl().partitions();
  job->builder = &builder_;
  job->source = &current;
  job->generation = current.generation();
  job->epoch = epoch_;
  job->overlays_before = current.acl().overlay_count();
  const int rc = rte_ctrl_thread_create(&job->thread, "np-acl-consol", nullptr, Run, job.get());
  pending_ = false;  // one attempt per quiet period
  if (rc != 0) {
    ++failed_;
    last_error_ = std::string("cannot start the rte_acl consolidation thread: ") + std::strerror(-rc);
    return;
  }
  ++started_;
  job_ = std::move(job);
}

void AclConsolidator::Join() {
  if (job_ == nullptr) return;
  pthread_join(job_->thread, nullptr);
  job_.reset();  // frees a result nobody published
}

std::optional<AclConsolidator::Done> AclConsolidator::Poll(const PolicyTables* current, uint64_t now_ns) {
  std::optional<Done> done;
  if (build_finished()) {
    std::unique_ptr<Job> job = std::move(job_);
    pthread_join(job->thread, nullptr);  // it has returned or is returning
    // The pointer alone could be a new allocation at a freed address: the
    // epoch (bumped by every apply) and the generation say it is the same.
    const bool current_tables = current != nullptr && current == job->source &&
                                current->generation() == job->generation && job->epoch == epoch_;
    if (!job->result->ok()) {
      ++failed_;
      last_error_ = job->result->error().message;
    } else if (!current_tables) {
      ++discarded_;  // the apply that superseded it started a new quiet period
    } else {
      done.emplace(Done{current->WithClassifier(std::move(*job->result).value()), job->build_ms,
                        job->overlays_before});
      ++consolidated_;
    }
  }
  if (!done && job_ == nullptr && pending_ && current != nullptr && now_ns >= quiet_until_ns_) {
    if (current->acl().overlay_count() > 0) Start(*current);
    else pending_ = false;
  }
  return done;
}

}  // namespace np::policy
