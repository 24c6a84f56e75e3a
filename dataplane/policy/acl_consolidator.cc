#include "dataplane/policy/acl_consolidator.h"

#include <rte_lcore.h>

#include <chrono>
#include <cstring>
#include <string>

namespace np::policy {

Result<std::shared_ptr<const AclContexts>> AclConsolidator::BuildBaseOnly(const PolicyImage& image,
                                                                          uint32_t partitions) {
  // No previous classifier: one base with every partition's rules (both
  // directions), every partition base-served (or without rules), no overlays.
  return AclContexts::Build(image, nullptr, partitions);
}

AclConsolidator::AclConsolidator(uint64_t quiet_ns, Builder builder)
    : quiet_ns_(quiet_ns), builder_(std::move(builder)) {}

AclConsolidator::~AclConsolidator() { Join(); }

bool AclConsolidator::IsApplied(const std::shared_ptr<const AclContexts>& acl) const {
  // Owner equality: a weak_ptr keeps its control block, so a classifier
  // allocated where a freed one was is never taken for it.
  return acl != nullptr && !applied_acl_.owner_before(acl) && !acl.owner_before(applied_acl_);
}

void AclConsolidator::PolicyApplied(const PolicyTables& current, uint64_t now_ns) {
  if (IsApplied(current.shared_acl())) return;  // same classifier: nothing to restart
  applied_acl_ = current.shared_acl();
  ++epoch_;  // a build in flight was for another classifier
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
  job->source_acl = current.shared_acl();
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
    // Still the classifier it was built to replace (the job holds it: no
    // ABA), though the tables may be newer ones that kept it whole.
    const bool current_classifier = current != nullptr && job->epoch == epoch_ &&
                                    current->shared_acl() == job->source_acl;
    if (!job->result->ok()) {
      ++failed_;
      last_error_ = job->result->error().message;
    } else if (!current_classifier ||
               (current->shared_image() != job->image &&  // newer tables that kept the classifier: O(identities)
                !job->result->value()->Serves(current->image(), current->acl().partitions()))) {
      ++discarded_;  // the apply that superseded it started a new quiet period
    } else {
      done.emplace(Done{current->WithClassifier(std::move(*job->result).value()), job->build_ms,
                        job->overlays_before});
      applied_acl_ = done->tables->shared_acl();
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
