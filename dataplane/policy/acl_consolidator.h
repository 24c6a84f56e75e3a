// Background consolidation of rte_acl overlays (acl_classifier.h,
// "Partitions"). A label change leaves overlay contexts, and a burst with a
// flow of an overlaid partition pays an extra rte_acl call on a cold trie
// (+11 % per flow at 10k policies after one change, up to +26 %); the base
// absorbs them only once overlays pass 1/kAclOverlayShare of the rules. So
// once policy has been quiet for kConsolidationQuietNs after an apply that
// left overlays, ONE build of a base-only classifier for the current image
// runs on a control thread, and the main lcore publishes the same tables
// with that classifier (PolicyTables::WithClassifier) - same image, same
// generation, same rule indices - if they are still the current ones.
//
// What counts as a change: an apply that built a new classifier (a rule,
// identity set or CIDR changed). One that kept the classifier whole
// (AclContexts::Serves: pods coming and going with existing identities, a
// new IP -> identity map) neither restarts the quiet period nor makes a
// build in flight stale - the result then goes onto the newer tables, which
// it serves just as well (checked with Serves before publishing). Pod churn
// in a large cluster publishes policy sections all the time; without this,
// consolidation could wait for ever.
//
// Threading. Everything here but the build runs on the main lcore (the
// loader's ApplyPolicy and Tick). The builder thread reads only its own Job:
// a shared_ptr to the immutable image (the tables it came from may be freed
// meanwhile), and writes its result there before Job::done (release; the
// main lcore reads it after an acquire load, then joins). At most one build
// is in flight; a newer apply never waits for it: the epoch moves on and the
// result is discarded when it lands. The destructor joins (it may wait for
// one build: ~0.5 s at 10k policies, ~5 s at 100k). The job holds the
// classifier it replaces, so a superseded one lives until its build lands.
//
// rte_acl off the EAL threads. DPDK 22.11's rte_acl_create/add_rules/build
// are "not multi-thread safe" for ONE context; ours is private to the
// builder until published. What they share with other threads: the EAL
// tailq list of ACL contexts, under rte_mcfg_tailq_write_lock (a rwlock in
// the shared memory config, fine from any pthread), and the rte_malloc heap
// (rte_zmalloc_socket/rte_free, under the heap's spinlock; with SOCKET_ID_ANY
// an unregistered thread, whose rte_socket_id() is SOCKET_ID_ANY, gets the
// first socket with memory). The build's scratch is plain calloc. Checked on
// the installed librte_acl.so.23 (22.11.11): its only EAL imports are
// rte_zmalloc, rte_zmalloc_socket, rte_free, rte_mcfg_tailq_{read,write}_
// {lock,unlock}, rte_eal_tailq_register, rte_log, rte_cpu_get_flag_enabled,
// rte_vect_get_max_simd_bitwidth and rte_errno (thread-local): no lcore id,
// no mempool cache, no memzone. So the thread is not registered with
// rte_thread_register (which would take an lcore id); it is an EAL control
// thread (rte_ctrl_thread_create) only to run on the control CPUs rather
// than inherit the main lcore's affinity. Caveat: AclContext::memory_bytes
// is a heap-usage delta, so a build overlapping other rte_malloc use (an
// apply on the main lcore) can misattribute bytes; it is a statistic only.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "dataplane/policy/policy_tables.h"

namespace np::policy {

// Quiet period before a consolidation starts. Policy sections come in
// bursts (a rollout relabels pods one by one, the control plane publishes
// each change within ~100 ms); a full build costs ~0.5 s of a CPU at 10k
// policies and ~5 s at 100k, so starting one per change of a burst would
// mostly build classifiers that are discarded. 1 s lets a burst settle and
// still returns classification to the base-only cost within ~1.5 s (10k).
inline constexpr uint64_t kConsolidationQuietNs = 1'000'000'000;

class AclConsolidator {
 public:
  // What builds a base-only classifier from an image (tests inject one that
  // holds the build in flight); runs on the builder thread.
  using Builder =
      std::function<Result<std::shared_ptr<const AclContexts>>(const PolicyImage& image, uint32_t partitions)>;
  static Result<std::shared_ptr<const AclContexts>> BuildBaseOnly(const PolicyImage& image, uint32_t partitions);

  explicit AclConsolidator(uint64_t quiet_ns = kConsolidationQuietNs, Builder builder = BuildBaseOnly);
  ~AclConsolidator();
  AclConsolidator(const AclConsolidator&) = delete;
  AclConsolidator& operator=(const AclConsolidator&) = delete;

  // After every policy apply, with the tables now published. When their
  // classifier is not the one applied last: a build in flight is stale from
  // now on, and the quiet period starts again if `current` has overlays.
  void PolicyApplied(const PolicyTables& current, uint64_t now_ns);

  struct Done {
    std::unique_ptr<PolicyTables> tables;  // to publish in place of `current`
    double build_ms;                       // wall time of the background build
    uint32_t overlays_before;              // overlay contexts `current` had
  };
  // Main lcore, periodically, with the published tables: collects a
  // finished build (the tables to publish when it still replaces
  // `current`'s classifier), then starts one if policy has been quiet long
  // enough.
  std::optional<Done> Poll(const PolicyTables* current, uint64_t now_ns);

  bool building() const { return job_ != nullptr; }
  bool build_finished() const { return job_ != nullptr && job_->done.load(std::memory_order_acquire); }
  uint64_t started() const { return started_; }
  uint64_t consolidated() const { return consolidated_; }
  uint64_t discarded() const { return discarded_; }  // superseded by a newer apply
  uint64_t failed() const { return failed_; }
  const std::string& last_error() const { return last_error_; }

 private:
  struct Job {
    std::shared_ptr<const PolicyImage> image;
    uint32_t partitions = 0;
    const Builder* builder = nullptr;
    std::shared_ptr<const AclContexts> source_acl;  // the overlaid classifier it replaces
    uint64_t epoch = 0;
    uint32_t overlays_before = 0;
    std::optional<Result<std::shared_ptr<const AclContexts>>> result;  // written by the builder
    double build_ms = 0;
    std::atomic<bool> done{false};  // release by the builder once result is set
    pthread_t thread{};
  };
  static void* Run(void* arg);
  bool IsApplied(const std::shared_ptr<const AclContexts>& acl) const;
  void Start(const PolicyTables& current);
  void Join();

  const uint64_t quiet_ns_;
  const Builder builder_;
  std::unique_ptr<Job> job_;
  uint64_t epoch_ = 0;        // bumped by every apply that changed the classifier
  std::weak_ptr<const AclContexts> applied_acl_;  // the current tables' (owner-compared: no ABA)
  bool pending_ = false;      // the current tables have overlays and no build was started for them
  uint64_t quiet_until_ns_ = 0;
  uint64_t started_ = 0;
  uint64_t consolidated_ = 0;
  uint64_t discarded_ = 0;
  uint64_t failed_ = 0;
  std::string last_error_;
};

}  // namespace np::policy
