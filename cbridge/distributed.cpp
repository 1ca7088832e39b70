// cbridge/distributed.cpp: the data-parallel shims declared in distributed.h, over c10d.
//
// A translation unit of its own so that the c10d and Gloo headers (and their compile time) stay
// out of cbridge.cpp. Every shim catches everything and returns an spq_error, like cbridge.cpp.
#include "distributed.h"
#include "internal.hpp"

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

// libtorch 1.13 has Gloo under USE_C10D_GLOO (set by TorchConfig) but Debian ships the gloo
// headers separately (libgloo-dev): without them this build simply has no Gloo backend.
#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define SPQ_HAVE_GLOO 1
#endif

#if defined(SPANQA_WITH_CUDA) && defined(USE_C10D_NCCL)
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define SPQ_HAVE_NCCL 1
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

// Since libtorch 2.0 the backends (Gloo, NCCL) derive from c10d::Backend and ProcessGroup is a
// dispatching wrapper; in 1.13 they derive from ProcessGroup. Both bases have the collectives
// used here with the same signatures.
#if TORCH_VERSION_MAJOR >= 2
using BackendBase = c10d::Backend;
#else
using BackendBase = c10d::ProcessGroup;
#endif

spq_error* make_error(int kind, const std::string& msg) {
  auto* e = static_cast<spq_error*>(std::malloc(sizeof(spq_error)));
  if (!e) return nullptr;
  e->kind = kind;
  e->message = strdup(msg.empty() ? "unknown error" : msg.c_str());
  return e;
}

// First line only: c10::Error and Gloo append C++ source locations and backtraces.
std::string first_line(const char* what) {
  std::string s(what ? what : "");
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

}  // namespace

#define DIST_TRY try {
#define DIST_CATCH                                                                      \
  }                                                                                     \
  catch (const c10::Error& e) {                                                         \
    return make_error(SPQ_ERR_TORCH, first_line(e.what_without_backtrace()));           \
  }                                                                                     \
  catch (const std::bad_alloc&) {                                                       \
    return make_error(SPQ_ERR_OOM, "out of memory (std::bad_alloc)");                   \
  }                                                                                     \
  catch (const std::exception& e) {                                                     \
    return make_error(SPQ_ERR_OTHER, first_line(e.what()));                             \
  }                                                                                     \
  catch (...) {                                                                         \
    return make_error(SPQ_ERR_OTHER, "unknown C++ exception");                          \
  }                                                                                     \
  return nullptr;

struct spq_pg_impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<BackendBase> pg;
  std::chrono::milliseconds timeout{0};
  int rank = 0;
  int world = 1;
  int backend = 0;
  // Where the byte and barrier collectives put their buffers: CPU for Gloo, the rank's GPU for
  // NCCL (which only moves device memory).
  at::Device device{at::kCPU};
};

namespace {

bool is_loopback(const std::string& addr) {
  return addr.rfind("127.", 0) == 0 || addr == "localhost" || addr == "::1";
}

// wait blocks for w at most the group's timeout. Work::wait throws "Operation timed out!" when
// the time runs out and rethrows the backend's error (Gloo: "Connection closed by peer" when a
// rank died); both become one message naming the operation.
void wait(spq_pg pg, const c10::intrusive_ptr<c10d::Work>& w, const std::string& what) {
  if (!w) throw std::logic_error(what + ": no collective was launched");
  try {
    if (!w->wait(pg->timeout)) throw std::runtime_error("aborted");
  } catch (const c10::Error& e) {
    if (!w->isCompleted()) {
      throw std::runtime_error(what + ": no answer from the other ranks within the timeout (" +
                               std::to_string(pg->timeout.count()) + " ms)");
    }
    throw std::runtime_error(what + ": " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw std::runtime_error(what + ": " + first_line(e.what()));
  }
}

// Groups consecutive tensors of one dtype and device into buckets of at most cap bytes (a larger
// tensor gets a bucket of its own), so that one collective moves many small tensors.
std::vector<std::vector<size_t>> plan_buckets(const std::vector<at::Tensor>& ts, int64_t cap) {
  std::vector<std::vector<size_t>> out;
  int64_t bytes = 0;
  for (size_t i = 0; i < ts.size(); i++) {
    const auto& t = ts[i];
    int64_t nb = t.numel() * static_cast<int64_t>(t.element_size());
    bool fresh = out.empty() || bytes + nb > cap;
    if (!fresh) {
      const auto& first = ts[out.back().front()];
      fresh = first.scalar_type() != t.scalar_type() || first.device() != t.device();
    }
    if (fresh) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(i);
    bytes += nb;
  }
  return out;
}

at::Tensor flatten(const std::vector<at::Tensor>& ts, const std::vector<size_t>& idx) {
  std::vector<at::Tensor> parts;
  parts.reserve(idx.size());
  for (size_t i : idx) parts.push_back(ts[i].reshape({-1}));
  return at::cat(parts);
}

void unflatten(const at::Tensor& flat, const std::vector<at::Tensor>& ts, const std::vector<size_t>& idx) {
  int64_t off = 0;
  for (size_t i : idx) {
    auto n = ts[i].numel();
    ts[i].copy_(flat.narrow(0, off, n).view(ts[i].sizes()));
    off += n;
  }
}

std::vector<at::Tensor> tensors(const spq_tensor* ts, int n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) out.push_back(ts[i]->t);
  return out;
}

}  // namespace

// ---- gradient reducer state ----
//
// The autograd hooks hold a weak reference to this state: a hook that outlives its reducer (the
// accumulator node can outlive it while some graph still references it) finds it expired and
// does nothing.
namespace {

struct Bucket {
  std::vector<size_t> members;  // indices into ReducerState::params
  size_t pending = 0;           // gradients not yet accumulated in the current backward
  bool launched = false;
  at::Tensor flat;  // gradients then one has-gradient flag per member, all-reduced in place
  c10::intrusive_ptr<c10d::Work> work;
};

struct ReducerState {
  spq_pg pg = nullptr;
  std::vector<at::Tensor> params;
  // Kept alive: they carry our hooks. (A shared_ptr up to libtorch 2.x's switch to intrusive_ptr.)
  std::vector<decltype(torch::autograd::impl::grad_accumulator(std::declval<const at::Tensor&>()))> accumulators;
  std::vector<size_t> bucket_of;
  std::vector<Bucket> buckets;
  size_t next = 0;  // the next bucket to launch: strictly in index order, identical on every rank
  bool armed = false;
  int overlapped = 0;
  std::exception_ptr error;  // a launch that failed inside a hook, reported by finish
  std::mutex mu;

  void launch(size_t k) {
    Bucket& b = buckets[k];
    b.launched = true;
    std::vector<at::Tensor> parts;
    parts.reserve(b.members.size() + 1);
    const auto& first = params[b.members.front()];
    auto flags = at::zeros({static_cast<int64_t>(b.members.size())}, first.options().requires_grad(false));
    for (size_t j = 0; j < b.members.size(); j++) {
      const auto& p = params[b.members[j]];
      const auto& g = p.grad();
      if (g.defined()) {
        parts.push_back(g.reshape({-1}));
        flags[static_cast<int64_t>(j)].fill_(1);
      } else {
        parts.push_back(at::zeros({p.numel()}, p.options().requires_grad(false)));
      }
    }
    parts.push_back(flags);
    b.flat = at::cat(parts);
    std::vector<at::Tensor> v{b.flat};
    b.work = pg->pg->allreduce(v);
  }

  // launch_ready launches every complete bucket from next on, stopping at the first incomplete
  // one so that the order of collectives never depends on this rank's timing.
  void launch_ready(bool in_backward) {
    while (next < buckets.size() && buckets[next].pending == 0) {
      launch(next);
      next++;
      if (in_backward) overlapped++;
    }
  }

  void on_grad(size_t i) {
    std::lock_guard<std::mutex> lk(mu);
    if (!armed || error) return;
    Bucket& b = buckets[bucket_of[i]];
    if (b.launched || b.pending == 0) return;
    try {
      at::NoGradGuard ng;
      if (--b.pending == 0) launch_ready(true);
    } catch (...) {
      // Thrown through autograd this would surface as a backward error with no context; keep it
      // for finish, which names it.
      error = std::current_exception();
    }
  }
};

}  // namespace

struct spq_reducer_impl {
  std::shared_ptr<ReducerState> s;
};

extern "C" {

int spq_dist_has_backend(int backend) {
  switch (backend) {
#ifdef SPQ_HAVE_GLOO
    case SPQ_BACKEND_GLOO: return 1;
#endif
#ifdef SPQ_HAVE_NCCL
    case SPQ_BACKEND_NCCL: return 1;
#endif
    default: return 0;
  }
}

int spq_dist_nccl_version(void) {
#if defined(SPQ_HAVE_NCCL) && defined(NCCL_MAJOR)
  // The headers' version: the wheel's libnccl is the one they came with.
  return NCCL_MAJOR * 10000 + NCCL_MINOR * 100 + NCCL_PATCH;
#else
  return 0;
#endif
}

spq_error* spq_dist_init(const char* addr, int port, int rank, int world, int backend, int64_t timeout_ms,
                         int client_only, const char* prefix, int device_index, const char* iface, spq_pg* out) {
  DIST_TRY
  *out = nullptr;
  if (world < 1 || rank < 0 || rank >= world) {
    throw std::invalid_argument("rank " + std::to_string(rank) + " out of range for world size " + std::to_string(world));
  }
  if (port <= 0 || port > 65535) throw std::invalid_argument("port " + std::to_string(port) + " out of range");
  auto pg = std::make_unique<spq_pg_impl>();
  pg->timeout = std::chrono::milliseconds(timeout_ms);
  pg->rank = rank;
  pg->world = world;
  pg->backend = backend;

  // Rendezvous: rank 0 hosts the store and waits (up to the timeout) for the others to connect,
  // as torch.distributed's env:// does; under torchrun's agent everybody is a client.
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = !client_only && rank == 0;
  so.numWorkers = client_only ? c10::nullopt : c10::optional<std::size_t>(static_cast<std::size_t>(world));
  so.waitWorkers = false;  // counted below, with an error that says who is missing
  so.timeout = pg->timeout;
  std::string host(addr ? addr : "");
  try {
    pg->store = c10::make_intrusive<c10d::TCPStore>(host, so);
  } catch (const c10::Error& e) {
    throw std::runtime_error("rendezvous: TCPStore at " + host + ":" + std::to_string(port) + ": " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw std::runtime_error("rendezvous: TCPStore at " + host + ":" + std::to_string(port) + ": " + first_line(e.what()));
  }
  if (prefix && *prefix) pg->store = c10::make_intrusive<c10d::PrefixStore>(prefix, pg->store);
  pg->store->setTimeout(pg->timeout);
  // Every rank checks in and waits for the others, so that a missing rank is reported as such
  // (TCPStore's own wait for workers gives up silently in 1.13, and Gloo's connect then fails
  // with a bare "Socket Timeout" after a second timeout).
  {
    const std::string key = "spanqa/rendezvous/joined";
    auto deadline = std::chrono::steady_clock::now() + pg->timeout;
    int64_t joined = pg->store->add(key, 1);
    while (joined < world) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("rendezvous: only " + std::to_string(joined) + " of " + std::to_string(world) +
                                 " ranks arrived at " + host + ":" + std::to_string(port) + " within " +
                                 std::to_string(pg->timeout.count()) + " ms");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      joined = pg->store->add(key, 0);
    }
  }

  switch (backend) {
    case SPQ_BACKEND_GLOO: {
#ifdef SPQ_HAVE_GLOO
      auto opts = c10d::ProcessGroupGloo::Options::create(pg->timeout);
      std::string ifs(iface ? iface : "");
      if (!ifs.empty()) {
        size_t start = 0;
        while (start <= ifs.size()) {
          auto comma = ifs.find(',', start);
          auto name = ifs.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          if (!name.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      } else if (is_loopback(host)) {
        // All ranks are on this machine: loopback works even where the host name does not
        // resolve (containers, sandboxes).
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      opts->threads = 2;
      try {
        pg->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(pg->store, rank, world, opts);
      } catch (const c10::Error& e) {
        throw std::runtime_error("rendezvous: gloo could not connect the ranks: " + first_line(e.what_without_backtrace()));
      } catch (const std::exception& e) {
        throw std::runtime_error("rendezvous: gloo could not connect the ranks: " + first_line(e.what()));
      }
      break;
#else
      throw std::runtime_error("this cbridge was built without Gloo (install libgloo-dev and rebuild)");
#endif
    }
    case SPQ_BACKEND_NCCL: {
#ifdef SPQ_HAVE_NCCL
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = pg->timeout;
      pg->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg->store, rank, world, opts);
      pg->device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_index));
      break;
#else
      (void)device_index;
      throw std::runtime_error("this cbridge was built without NCCL (build against a CUDA libtorch)");
#endif
    }
    default:
      throw std::invalid_argument("unknown backend code " + std::to_string(backend));
  }
  *out = pg.release();
  DIST_CATCH
}

void spq_dist_free(spq_pg pg) { delete pg; }

spq_error* spq_dist_broadcast(spq_pg pg, const spq_tensor* ts, int n, int root, int64_t bucket_bytes) {
  DIST_TRY
  at::NoGradGuard ng;  // parameters are leaves that require grad: copy_ into them must not record
  auto v = tensors(ts, n);
  auto plan = plan_buckets(v, bucket_bytes);
  std::vector<at::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  c10d::BroadcastOptions o;
  o.rootRank = root;
  for (const auto& idx : plan) {
    flats.push_back(flatten(v, idx));
    std::vector<at::Tensor> one{flats.back()};
    works.push_back(pg->pg->broadcast(one, o));
  }
  for (size_t k = 0; k < plan.size(); k++) {
    wait(pg, works[k], "broadcast (bucket " + std::to_string(k + 1) + " of " + std::to_string(plan.size()) + ")");
    if (pg->rank != root) unflatten(flats[k], v, plan[k]);
  }
  DIST_CATCH
}

spq_error* spq_dist_allreduce(spq_pg pg, const spq_tensor* ts, int n, double scale, int64_t bucket_bytes) {
  DIST_TRY
  at::NoGradGuard ng;
  auto v = tensors(ts, n);
  auto plan = plan_buckets(v, bucket_bytes);
  std::vector<at::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (const auto& idx : plan) {
    flats.push_back(flatten(v, idx));
    std::vector<at::Tensor> one{flats.back()};
    works.push_back(pg->pg->allreduce(one));  // SUM: Gloo has no AVG, so scale afterwards
  }
  for (size_t k = 0; k < plan.size(); k++) {
    wait(pg, works[k], "allreduce (bucket " + std::to_string(k + 1) + " of " + std::to_string(plan.size()) + ")");
    if (scale != 1.0) flats[k].mul_(scale);
    unflatten(flats[k], v, plan[k]);
  }
  DIST_CATCH
}

spq_error* spq_dist_barrier(spq_pg pg) {
  DIST_TRY
  c10d::BarrierOptions o;
  if (pg->device.is_cuda()) o.device_ids = {pg->device.index()};
  wait(pg, pg->pg->barrier(o), "barrier");
  DIST_CATCH
}

spq_error* spq_dist_allgather_bytes(spq_pg pg, const void* data, int64_t n, void** out, int64_t* lens) {
  DIST_TRY
  *out = nullptr;
  at::NoGradGuard ng;
  auto world = static_cast<size_t>(pg->world);
  auto on = at::TensorOptions().device(pg->device);
  // Gloo's allgather moves equal-sized tensors: first the lengths, then everything padded to
  // the longest.
  auto len = at::full({1}, n, on.dtype(at::kLong));
  std::vector<std::vector<at::Tensor>> lout(1);
  for (size_t r = 0; r < world; r++) lout[0].push_back(at::empty({1}, on.dtype(at::kLong)));
  std::vector<at::Tensor> lin{len};
  wait(pg, pg->pg->allgather(lout, lin), "allgather (lengths)");
  int64_t longest = 0, total = 0;
  for (size_t r = 0; r < world; r++) {
    lens[r] = lout[0][r].item<int64_t>();
    longest = std::max(longest, lens[r]);
    total += lens[r];
  }
  if (longest == 0) return nullptr;
  auto mine = at::zeros({longest}, at::kByte);
  if (n > 0) std::memcpy(mine.data_ptr(), data, static_cast<size_t>(n));
  std::vector<at::Tensor> din{mine.to(pg->device)};
  std::vector<std::vector<at::Tensor>> dout(1);
  for (size_t r = 0; r < world; r++) dout[0].push_back(at::empty({longest}, on.dtype(at::kByte)));
  wait(pg, pg->pg->allgather(dout, din), "allgather (bytes)");
  auto* buf = static_cast<uint8_t*>(std::malloc(static_cast<size_t>(std::max<int64_t>(total, 1))));
  if (!buf) throw std::bad_alloc();
  int64_t off = 0;
  for (size_t r = 0; r < world; r++) {
    auto host = dout[0][r].to(at::kCPU).contiguous();
    std::memcpy(buf + off, host.data_ptr(), static_cast<size_t>(lens[r]));
    off += lens[r];
  }
  *out = buf;
  DIST_CATCH
}

void spq_dist_free_bytes(void* p) { std::free(p); }

spq_error* spq_reducer_new(spq_pg pg, const spq_tensor* params, int n, int64_t bucket_bytes, spq_reducer* out) {
  DIST_TRY
  *out = nullptr;
  auto s = std::make_shared<ReducerState>();
  s->pg = pg;
  // Backward produces gradients roughly from the last parameter to the first: buckets in reverse
  // order fill (and launch) while backward is still working on earlier layers.
  for (int i = n - 1; i >= 0; i--) {
    const auto& t = params[i]->t;
    if (t.requires_grad()) s->params.push_back(t);
  }
  if (s->params.empty()) throw std::invalid_argument("no parameter requires grad");
  for (const auto& idx : plan_buckets(s->params, bucket_bytes)) {
    Bucket b;
    b.members = idx;
    s->buckets.push_back(std::move(b));
  }
  s->bucket_of.resize(s->params.size());
  for (size_t k = 0; k < s->buckets.size(); k++) {
    for (size_t i : s->buckets[k].members) s->bucket_of[i] = k;
  }
  std::weak_ptr<ReducerState> weak = s;
  for (size_t i = 0; i < s->params.size(); i++) {
    auto acc = torch::autograd::impl::grad_accumulator(s->params[i]);
    if (!acc) throw std::invalid_argument("parameter " + std::to_string(i) + " has no gradient accumulator (not a leaf?)");
    acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [weak, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          if (auto st = weak.lock()) st->on_grad(i);
          return outputs;
        }));
    s->accumulators.push_back(std::move(acc));
  }
  *out = new spq_reducer_impl{std::move(s)};
  DIST_CATCH
}

spq_error* spq_reducer_arm(spq_reducer r) {
  DIST_TRY
  auto& s = *r->s;
  std::lock_guard<std::mutex> lk(s.mu);
  for (auto& b : s.buckets) {
    b.pending = b.members.size();
    b.launched = false;
    b.flat = at::Tensor();
    b.work.reset();
  }
  s.next = 0;
  s.overlapped = 0;
  s.error = nullptr;
  s.armed = true;
  DIST_CATCH
}

spq_error* spq_reducer_finish(spq_reducer r, double scale, int* overlapped) {
  DIST_TRY
  auto& s = *r->s;
  std::lock_guard<std::mutex> lk(s.mu);
  at::NoGradGuard ng;
  s.armed = false;
  if (s.error) std::rethrow_exception(s.error);
  *overlapped = s.overlapped;
  // Buckets still incomplete hold parameters that got no gradient on this rank (or no backward
  // ran at all): they go now, with zeros and a has-gradient flag of 0 for those parameters.
  for (auto& b : s.buckets) {
    if (!b.launched) b.pending = 0;
  }
  s.launch_ready(false);
  const auto nb = s.buckets.size();
  for (size_t k = 0; k < nb; k++) {
    Bucket& b = s.buckets[k];
    wait(s.pg, b.work, "allreduce of gradients (bucket " + std::to_string(k + 1) + " of " + std::to_string(nb) + ")");
    if (scale != 1.0) b.flat.mul_(scale);
    const auto m = static_cast<int64_t>(b.members.size());
    auto flags = b.flat.narrow(0, b.flat.numel() - m, m).to(at::kCPU, at::kDouble);
    const double* has = flags.data_ptr<double>();
    int64_t off = 0;
    for (int64_t j = 0; j < m; j++) {
      auto& p = s.params[b.members[static_cast<size_t>(j)]];
      auto n = p.numel();
      auto view = b.flat.narrow(0, off, n).view(p.sizes());
      off += n;
      if (has[j] <= 0) continue;  // no rank had a gradient: keep none, as one process would
      auto& g = p.mutable_grad();
      if (g.defined()) {
        g.copy_(view);
      } else {
        g = view.clone();
      }
    }
    b.work.reset();
    b.flat = at::Tensor();
  }
  // Ready for another round even when the caller finishes again without arming (a step where
  // this rank had no data): every bucket is launched afresh then.
  for (auto& b : s.buckets) {
    b.launched = false;
    b.pending = 0;
  }
  s.next = 0;
  DIST_CATCH
}

int spq_reducer_num_buckets(spq_reducer r) { return static_cast<int>(r->s->buckets.size()); }

void spq_reducer_free(spq_reducer r) { delete r; }

}  // extern "C"
