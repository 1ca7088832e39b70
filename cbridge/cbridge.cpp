// cbridge: the tensor half of the C ABI over libtorch, declared in cbridge.h.
//
// cbridge is two translation units: this one, with every tensor shim (library, creation,
// autograd, ops, optimisation, autocast), and distributed.cpp, with the c10d shims declared in
// distributed.h; internal.hpp holds the handle struct both need. The tensor shims share one file
// because including ATen costs ~20 s of compile time per file, and c10d's headers cost as much
// again, which is why they have a file of their own. Each shim is a few lines inside
// SPQ_TRY/SPQ_CATCH, which turn every C++ exception into a returned spq_error (nothing unwinds
// through the C ABI).
#include "cbridge.h"
#include "internal.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#if __has_include(<ATen/cuda/CUDAContext.h>) && defined(SPANQA_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#define SPQ_HAVE_CUDA 1
#endif

namespace {

std::atomic<int64_t> g_live{0};

spq_tensor wrap(at::Tensor t) {
  g_live.fetch_add(1, std::memory_order_relaxed);
  return new spq_tensor_impl{std::move(t)};
}

const at::Tensor& T(spq_tensor h) { return h->t; }

spq_error* make_error(int kind, const char* msg) {
  auto* e = static_cast<spq_error*>(std::malloc(sizeof(spq_error)));
  if (!e) return nullptr;  // nothing more we can do; the caller sees success-with-no-output
  e->kind = kind;
  e->message = strdup(msg ? msg : "unknown error");
  return e;
}

// c10::Error messages end with the C++ source location; keep only the first line, which is the
// part a Go user can act on.
std::string short_message(const char* what) {
  std::string s(what ? what : "");
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

// libtorch 1.13 reports a failed CPU allocation as a plain c10::Error from its allocator;
// recognise it so Go sees ErrOutOfMemory either way.
int error_kind(const c10::Error& e) {
  const char* m = e.what_without_backtrace();
  if (m && (std::strstr(m, "can't allocate memory") || std::strstr(m, "out of memory"))) return SPQ_ERR_OOM;
  return SPQ_ERR_TORCH;
}

at::ScalarType to_scalar_type(int d) {
  switch (d) {
    case SPQ_F32: return at::kFloat;
    case SPQ_F16: return at::kHalf;
    case SPQ_BF16: return at::kBFloat16;
    case SPQ_F64: return at::kDouble;
    case SPQ_I64: return at::kLong;
    case SPQ_I32: return at::kInt;
    case SPQ_BOOL: return at::kBool;
    case SPQ_U8: return at::kByte;
    case SPQ_I8: return at::kChar;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(d));
}

int from_scalar_type(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return SPQ_F32;
    case at::kHalf: return SPQ_F16;
    case at::kBFloat16: return SPQ_BF16;
    case at::kDouble: return SPQ_F64;
    case at::kLong: return SPQ_I64;
    case at::kInt: return SPQ_I32;
    case at::kBool: return SPQ_BOOL;
    case at::kByte: return SPQ_U8;
    case at::kChar: return SPQ_I8;
    default: return -1;
  }
}

at::Device to_device(int type, int index) {
  if (type == 0) return at::Device(at::kCPU);
  if (type == 1) return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  throw std::invalid_argument("unknown device type " + std::to_string(type));
}

at::TensorOptions opts(int dtype, int dev_type, int dev_index) {
  return at::TensorOptions().dtype(to_scalar_type(dtype)).device(to_device(dev_type, dev_index));
}

// Go passes scalars as double; on integer tensors an integral value must stay an integer
// Scalar, or type promotion would turn the result into a float tensor.
at::Scalar sc(const at::Tensor& x, double v) {
  if (!at::isFloatingType(x.scalar_type()) && !at::isComplexType(x.scalar_type()) && std::floor(v) == v &&
      std::abs(v) < 9.2e18) {
    return at::Scalar(static_cast<int64_t>(v));
  }
  return at::Scalar(v);
}

at::IntArrayRef dims(const int64_t* p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

}  // namespace

#define SPQ_TRY try {
#define SPQ_CATCH                                                              \
  }                                                                            \
  catch (const c10::OutOfMemoryError& e) {                                     \
    return make_error(SPQ_ERR_OOM, short_message(e.what_without_backtrace()).c_str()); \
  }                                                                            \
  catch (const c10::Error& e) {                                                \
    return make_error(error_kind(e), short_message(e.what_without_backtrace()).c_str()); \
  }                                                                            \
  catch (const std::bad_alloc& e) {                                            \
    return make_error(SPQ_ERR_OOM, "out of memory (std::bad_alloc)");          \
  }                                                                            \
  catch (const std::exception& e) {                                            \
    return make_error(SPQ_ERR_OTHER, short_message(e.what()).c_str());         \
  }                                                                            \
  catch (...) {                                                                \
    return make_error(SPQ_ERR_OTHER, "unknown C++ exception");                 \
  }                                                                            \
  return nullptr;

spq_tensor spq_internal_wrap(at::Tensor t) { return wrap(std::move(t)); }

spq_error* spq_internal_current_error() {
  SPQ_TRY throw;
  SPQ_CATCH
}

extern "C" {

void spq_error_free(spq_error* e) {
  if (!e) return;
  std::free(e->message);
  std::free(e);
}

// ---- library ----

const char* spq_version(void) { return TORCH_VERSION; }

int spq_runtime_version(char* buf, int n) {
  // at::show_config() reports the version the loaded library was built as.
  std::string cfg = at::show_config();
  auto pos = cfg.find("TORCH_VERSION=");
  std::string v = "unknown";
  if (pos != std::string::npos) {
    auto end = cfg.find_first_of(", \n", pos);
    v = cfg.substr(pos + 14, end - pos - 14);
  }
  std::snprintf(buf, static_cast<size_t>(n), "%s", v.c_str());
  return static_cast<int>(v.size());
}

spq_error* spq_show_config(char** out) {
  SPQ_TRY *out = strdup(at::show_config().c_str());
  SPQ_CATCH
}

void spq_free_string(char* s) { std::free(s); }
void spq_set_num_threads(int n) { at::set_num_threads(n); }
int spq_get_num_threads(void) { return at::get_num_threads(); }
void spq_manual_seed(uint64_t seed) { at::manual_seed(seed); }

int spq_cuda_is_available(void) {
#ifdef SPQ_HAVE_CUDA
  return at::cuda::is_available() ? 1 : 0;
#else
  return at::hasCUDA() ? 1 : 0;
#endif
}

int spq_cuda_device_count(void) {
#ifdef SPQ_HAVE_CUDA
  return static_cast<int>(c10::cuda::device_count());
#else
  return 0;
#endif
}

int spq_cuda_built(void) {
#ifdef SPQ_HAVE_CUDA
  return 1;
#else
  return 0;
#endif
}

spq_error* spq_cuda_info(char** out) {
  SPQ_TRY std::string s;
#ifdef SPQ_HAVE_CUDA
  s += "cuda=" + std::to_string(CUDA_VERSION / 1000) + "." + std::to_string(CUDA_VERSION % 1000 / 10) + "\n";
  // Asking the hooks for cuDNN or a device needs a driver; without one only the versions the
  // build carries are reported.
  if (at::cuda::is_available()) {
    s += "cudnn=" + std::to_string(at::detail::getCUDAHooks().versionCuDNN()) + "\n";
    for (int i = 0; i < static_cast<int>(c10::cuda::device_count()); i++) {
      const auto* p = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(i));
      s += "device" + std::to_string(i) + "=" + p->name + "|" + std::to_string(p->totalGlobalMem >> 20) + "|" +
           std::to_string(p->major) + "." + std::to_string(p->minor) + "|" + (p->major >= 8 ? "yes" : "no") + "\n";
    }
  }
#endif
  *out = strdup(s.c_str());
  SPQ_CATCH
}

spq_error* spq_cuda_synchronize(int device) {
  SPQ_TRY
#ifdef SPQ_HAVE_CUDA
  c10::cuda::CUDAGuard g(static_cast<c10::DeviceIndex>(device));
  c10::cuda::device_synchronize();
#else
  (void)device;
#endif
  SPQ_CATCH
}

int spq_grad_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }
void spq_set_grad_enabled(int on) { c10::GradMode::set_enabled(on != 0); }
int64_t spq_live_tensors(void) { return g_live.load(std::memory_order_relaxed); }

spq_error* spq_get_rng_state(spq_tensor* out) {
  SPQ_TRY auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  *out = wrap(gen.get_state());
  SPQ_CATCH
}

spq_error* spq_set_rng_state(spq_tensor state) {
  SPQ_TRY auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(T(state));
  SPQ_CATCH
}

spq_error* spq_bench_matmul(int64_t m, int64_t k, int64_t n, int reps, double* best_seconds) {
  SPQ_TRY c10::NoGradGuard no_grad;
  at::Tensor a = at::randn({m, k});
  at::Tensor b = at::randn({k, n});
  at::Tensor c = a.matmul(b);  // warm-up
  double best = 1e30;
  for (int i = 0; i < reps; i++) {
    auto start = std::chrono::steady_clock::now();
    c = a.matmul(b);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s < best) best = s;
  }
  *best_seconds = best;
  SPQ_CATCH
}

// ---- lifetime and metadata ----

void spq_free(spq_tensor t) {
  if (!t) return;
  g_live.fetch_sub(1, std::memory_order_relaxed);
  delete t;
}

int spq_dim(spq_tensor t) { return static_cast<int>(T(t).dim()); }
void spq_shape(spq_tensor t, int64_t* out) {
  auto s = T(t).sizes();
  for (size_t i = 0; i < s.size(); i++) out[i] = s[i];
}
int spq_dtype(spq_tensor t) { return from_scalar_type(T(t).scalar_type()); }
int spq_device_type(spq_tensor t) { return T(t).device().is_cuda() ? 1 : 0; }
int spq_device_index(spq_tensor t) { return T(t).device().has_index() ? T(t).device().index() : 0; }
int64_t spq_numel(spq_tensor t) { return T(t).numel(); }
int spq_requires_grad(spq_tensor t) { return T(t).requires_grad() ? 1 : 0; }
int spq_has_grad(spq_tensor t) { return T(t).grad().defined() ? 1 : 0; }
spq_error* spq_set_requires_grad(spq_tensor t, int on) {
  SPQ_TRY t->t.set_requires_grad(on != 0);
  SPQ_CATCH
}

// ---- creation and host copies ----

spq_error* spq_from_data(const void* data, int dtype, const int64_t* shape, int ndim, spq_tensor* out) {
  SPQ_TRY auto o = at::TensorOptions().dtype(to_scalar_type(dtype));
  // from_blob borrows Go memory; clone so the tensor owns its storage before Go may move on.
  *out = wrap(at::from_blob(const_cast<void*>(data), dims(shape, ndim), o).clone());
  SPQ_CATCH
}

spq_error* spq_copy_to_host(spq_tensor t, void* dst, int64_t nbytes) {
  SPQ_TRY at::Tensor c = T(t).detach().to(at::kCPU).contiguous();
  int64_t need = c.numel() * static_cast<int64_t>(c.element_size());
  if (need != nbytes) {
    throw std::invalid_argument("copy_to_host: tensor has " + std::to_string(need) + " bytes, buffer " +
                                std::to_string(nbytes));
  }
  if (nbytes > 0) std::memcpy(dst, c.data_ptr(), static_cast<size_t>(nbytes));
  SPQ_CATCH
}

spq_error* spq_empty(const int64_t* shape, int ndim, int dtype, int dt, int di, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::empty(dims(shape, ndim), opts(dtype, dt, di)));
  SPQ_CATCH
}
spq_error* spq_zeros(const int64_t* shape, int ndim, int dtype, int dt, int di, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::zeros(dims(shape, ndim), opts(dtype, dt, di)));
  SPQ_CATCH
}
spq_error* spq_ones(const int64_t* shape, int ndim, int dtype, int dt, int di, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::ones(dims(shape, ndim), opts(dtype, dt, di)));
  SPQ_CATCH
}
spq_error* spq_full(const int64_t* shape, int ndim, double v, int dtype, int dt, int di, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::full(dims(shape, ndim), v, opts(dtype, dt, di)));
  SPQ_CATCH
}
spq_error* spq_arange(double start, double end, double step, int dtype, int dt, int di, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::arange(start, end, step, opts(dtype, dt, di)));
  SPQ_CATCH
}
spq_error* spq_randn(const int64_t* shape, int ndim, int dtype, int dt, int di, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::randn(dims(shape, ndim), opts(dtype, dt, di)));
  SPQ_CATCH
}
spq_error* spq_item(spq_tensor t, double* out) {
  SPQ_TRY *out = T(t).item().toDouble();
  SPQ_CATCH
}
spq_error* spq_to(spq_tensor t, int dtype, int dt, int di, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(t).to(to_device(dt, di), to_scalar_type(dtype)));
  SPQ_CATCH
}
spq_error* spq_zeros_like(spq_tensor t, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::zeros_like(T(t)));
  SPQ_CATCH
}
spq_error* spq_ones_like(spq_tensor t, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::ones_like(T(t)));
  SPQ_CATCH
}

// ---- autograd ----

spq_error* spq_backward(spq_tensor t, spq_tensor grad, int retain_graph) {
  SPQ_TRY at::Tensor g = grad ? T(grad) : at::Tensor();
  T(t).backward(g, retain_graph != 0);
  SPQ_CATCH
}
spq_error* spq_grad(spq_tensor t, spq_tensor* out) {
  SPQ_TRY const at::Tensor& g = T(t).grad();
  *out = g.defined() ? wrap(g) : nullptr;
  SPQ_CATCH
}
spq_error* spq_zero_grad(spq_tensor t) {
  SPQ_TRY t->t.mutable_grad() = at::Tensor();
  SPQ_CATCH
}
spq_error* spq_detach(spq_tensor t, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(t).detach());
  SPQ_CATCH
}
spq_error* spq_set_data(spq_tensor t, spq_tensor src) {
  SPQ_TRY t->t.set_data(T(src));
  SPQ_CATCH
}

// ---- element-wise ----

#define UNARY(name, expr)                              \
  spq_error* spq_##name(spq_tensor a, spq_tensor* out) { \
    SPQ_TRY const at::Tensor& x = T(a);                \
    *out = wrap(expr);                                 \
    SPQ_CATCH                                          \
  }
UNARY(neg, x.neg())
UNARY(exp, x.exp())
UNARY(log, x.log())
UNARY(sqrt, x.sqrt())
UNARY(rsqrt, x.rsqrt())
UNARY(tanh, x.tanh())
UNARY(sigmoid, x.sigmoid())
UNARY(relu, x.relu())
UNARY(gelu, at::gelu(x))
UNARY(gelu_tanh, at::gelu(x, "tanh"))
UNARY(abs, x.abs())
UNARY(ceil, x.ceil())
UNARY(sign, x.sign())
UNARY(logical_not, x.logical_not())
UNARY(contiguous, x.contiguous())
UNARY(clone, x.clone())
UNARY(sum_all, x.sum())
UNARY(mean_all, x.mean())
UNARY(norm_all, x.norm())
UNARY(square, x.square())
UNARY(isfinite_all, x.isfinite().all())
#undef UNARY

#define BINARY(name, expr)                                           \
  spq_error* spq_##name(spq_tensor a, spq_tensor b, spq_tensor* out) { \
    SPQ_TRY const at::Tensor& x = T(a);                              \
    const at::Tensor& y = T(b);                                      \
    *out = wrap(expr);                                               \
    SPQ_CATCH                                                        \
  }
BINARY(add, x.add(y))
BINARY(sub, x.sub(y))
BINARY(mul, x.mul(y))
BINARY(div, x.div(y))
BINARY(matmul, x.matmul(y))
BINARY(bmm, x.bmm(y))
BINARY(logical_and, x.logical_and(y))
#undef BINARY

#define SCALAR(name, expr)                                       \
  spq_error* spq_##name(spq_tensor a, double s, spq_tensor* out) { \
    SPQ_TRY const at::Tensor& x = T(a);                          \
    *out = wrap(expr);                                           \
    SPQ_CATCH                                                    \
  }
SCALAR(add_scalar, x.add(sc(x, s)))
SCALAR(mul_scalar, x.mul(sc(x, s)))
SCALAR(div_scalar, x.div(sc(x, s)))
SCALAR(pow_scalar, x.pow(sc(x, s)))
SCALAR(rsub_scalar, at::rsub(x, sc(x, s)))
SCALAR(eq_scalar, x.eq(sc(x, s)))
SCALAR(ne_scalar, x.ne(sc(x, s)))
SCALAR(lt_scalar, x.lt(sc(x, s)))
SCALAR(le_scalar, x.le(sc(x, s)))
SCALAR(gt_scalar, x.gt(sc(x, s)))
#undef SCALAR

namespace {
c10::optional<at::Scalar> opt_scalar(const at::Tensor& x, int has, double v) {
  return has ? c10::optional<at::Scalar>(sc(x, v)) : c10::nullopt;
}
}  // namespace

spq_error* spq_clamp(spq_tensor a, int has_min, double mn, int has_max, double mx, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).clamp(opt_scalar(T(a), has_min, mn), opt_scalar(T(a), has_max, mx)));
  SPQ_CATCH
}
spq_error* spq_masked_fill(spq_tensor a, spq_tensor mask, double value, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).masked_fill(T(mask), sc(T(a), value)));
  SPQ_CATCH
}
spq_error* spq_where(spq_tensor cond, spq_tensor a, spq_tensor b, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::where(T(cond), T(a), T(b)));
  SPQ_CATCH
}

spq_error* spq_zero_(spq_tensor a) {
  SPQ_TRY a->t.zero_();
  SPQ_CATCH
}
spq_error* spq_fill_(spq_tensor a, double v) {
  SPQ_TRY a->t.fill_(sc(a->t, v));
  SPQ_CATCH
}
spq_error* spq_copy_(spq_tensor dst, spq_tensor src) {
  SPQ_TRY dst->t.copy_(T(src));
  SPQ_CATCH
}
spq_error* spq_normal_(spq_tensor a, double mean, double std) {
  SPQ_TRY a->t.normal_(mean, std);
  SPQ_CATCH
}
spq_error* spq_uniform_(spq_tensor a, double from, double to) {
  SPQ_TRY a->t.uniform_(from, to);
  SPQ_CATCH
}

// ---- shape ----

spq_error* spq_reshape(spq_tensor a, const int64_t* shape, int n, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).reshape(dims(shape, n)));
  SPQ_CATCH
}
spq_error* spq_view(spq_tensor a, const int64_t* shape, int n, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).view(dims(shape, n)));
  SPQ_CATCH
}
spq_error* spq_permute(spq_tensor a, const int64_t* d, int n, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).permute(dims(d, n)));
  SPQ_CATCH
}
spq_error* spq_expand(spq_tensor a, const int64_t* shape, int n, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).expand(dims(shape, n)));
  SPQ_CATCH
}
spq_error* spq_repeat(spq_tensor a, const int64_t* reps, int n, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).repeat(dims(reps, n)));
  SPQ_CATCH
}
spq_error* spq_transpose(spq_tensor a, int64_t d0, int64_t d1, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).transpose(d0, d1));
  SPQ_CATCH
}
spq_error* spq_unsqueeze(spq_tensor a, int64_t dim, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).unsqueeze(dim));
  SPQ_CATCH
}
spq_error* spq_squeeze_dim(spq_tensor a, int64_t dim, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).squeeze(dim));
  SPQ_CATCH
}
spq_error* spq_flatten(spq_tensor a, int64_t start, int64_t end, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).flatten(start, end));
  SPQ_CATCH
}
spq_error* spq_narrow(spq_tensor a, int64_t dim, int64_t start, int64_t length, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).narrow(dim, start, length));
  SPQ_CATCH
}
spq_error* spq_slice(spq_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).slice(dim, start, end, step));
  SPQ_CATCH
}
spq_error* spq_select(spq_tensor a, int64_t dim, int64_t index, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).select(dim, index));
  SPQ_CATCH
}
spq_error* spq_index_select(spq_tensor a, int64_t dim, spq_tensor index, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).index_select(dim, T(index)));
  SPQ_CATCH
}
spq_error* spq_gather(spq_tensor a, int64_t dim, spq_tensor index, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).gather(dim, T(index)));
  SPQ_CATCH
}

namespace {
std::vector<at::Tensor> tensor_list(const spq_tensor* ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) v.push_back(T(ts[i]));
  return v;
}
spq_error* emit_list(const std::vector<at::Tensor>& parts, spq_tensor* outs, int n_max, int* n) {
  if (static_cast<int>(parts.size()) > n_max) {
    return make_error(SPQ_ERR_OTHER, ("split produced " + std::to_string(parts.size()) +
                                      " parts, more than the " + std::to_string(n_max) + " expected").c_str());
  }
  for (size_t i = 0; i < parts.size(); i++) outs[i] = wrap(parts[i]);
  *n = static_cast<int>(parts.size());
  return nullptr;
}
}  // namespace

spq_error* spq_cat(const spq_tensor* ts, int n, int64_t dim, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::cat(tensor_list(ts, n), dim));
  SPQ_CATCH
}
spq_error* spq_stack(const spq_tensor* ts, int n, int64_t dim, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::stack(tensor_list(ts, n), dim));
  SPQ_CATCH
}
spq_error* spq_split(spq_tensor a, int64_t size, int64_t dim, spq_tensor* outs, int n_max, int* n) {
  SPQ_TRY return emit_list(T(a).split(size, dim), outs, n_max, n);
  SPQ_CATCH
}
spq_error* spq_as_strided(spq_tensor a, const int64_t* size, const int64_t* stride, int n, int64_t offset,
                          spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).as_strided(dims(size, n), dims(stride, n), offset));
  SPQ_CATCH
}
spq_error* spq_unfold(spq_tensor a, int64_t dim, int64_t size, int64_t step, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).unfold(dim, size, step));
  SPQ_CATCH
}
spq_error* spq_pad(spq_tensor a, const int64_t* pad, int npad, double value, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::constant_pad_nd(T(a), dims(pad, npad), value));
  SPQ_CATCH
}
spq_error* spq_tril(spq_tensor a, int64_t diagonal, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).tril(diagonal));
  SPQ_CATCH
}
spq_error* spq_flip(spq_tensor a, const int64_t* d, int n, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).flip(dims(d, n)));
  SPQ_CATCH
}

// ---- reductions ----

spq_error* spq_sum_dim(spq_tensor a, const int64_t* d, int n, int keepdim, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).sum(dims(d, n), keepdim != 0));
  SPQ_CATCH
}
spq_error* spq_mean_dim(spq_tensor a, const int64_t* d, int n, int keepdim, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).mean(dims(d, n), keepdim != 0));
  SPQ_CATCH
}
spq_error* spq_max_dim(spq_tensor a, int64_t dim, int keepdim, spq_tensor* values, spq_tensor* indices) {
  SPQ_TRY auto r = T(a).max(dim, keepdim != 0);
  *values = wrap(std::get<0>(r));
  *indices = wrap(std::get<1>(r));
  SPQ_CATCH
}
spq_error* spq_cumsum(spq_tensor a, int64_t dim, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).cumsum(dim));
  SPQ_CATCH
}
spq_error* spq_max_all(spq_tensor a, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).max());
  SPQ_CATCH
}

// ---- neural network ----

spq_error* spq_linear(spq_tensor x, spq_tensor w, spq_tensor b, spq_tensor* out) {
  SPQ_TRY c10::optional<at::Tensor> bias;
  if (b) bias = T(b);
  *out = wrap(at::linear(T(x), T(w), bias));
  SPQ_CATCH
}
spq_error* spq_embedding(spq_tensor weight, spq_tensor ids, int64_t padding_idx, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::embedding(T(weight), T(ids), padding_idx));
  SPQ_CATCH
}
spq_error* spq_layer_norm(spq_tensor x, int64_t nlast, spq_tensor w, spq_tensor b, double eps, spq_tensor* out) {
  SPQ_TRY const at::Tensor& in = T(x);
  if (nlast < 1 || nlast > in.dim()) throw std::invalid_argument("layer_norm: bad number of normalised dims");
  auto shape = in.sizes().slice(static_cast<size_t>(in.dim() - nlast));
  c10::optional<at::Tensor> wt, bs;
  if (w) wt = T(w);
  if (b) bs = T(b);
  *out = wrap(at::layer_norm(in, shape, wt, bs, eps));
  SPQ_CATCH
}
spq_error* spq_softmax(spq_tensor a, int64_t dim, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).softmax(dim));
  SPQ_CATCH
}
spq_error* spq_softmax_as(spq_tensor a, int64_t dim, int dtype, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).softmax(dim, to_scalar_type(dtype)));
  SPQ_CATCH
}
spq_error* spq_log_softmax(spq_tensor a, int64_t dim, spq_tensor* out) {
  SPQ_TRY *out = wrap(T(a).log_softmax(dim));
  SPQ_CATCH
}
spq_error* spq_dropout(spq_tensor a, double p, int train, spq_tensor* out) {
  SPQ_TRY *out = wrap(at::dropout(T(a), p, train != 0));
  SPQ_CATCH
}
spq_error* spq_attention(spq_tensor q, spq_tensor k, spq_tensor v, spq_tensor mask, double p, int train,
                         spq_tensor* out) {
  SPQ_TRY const at::Tensor& Q = T(q);
  c10::optional<at::Tensor> m;
  if (mask) m = T(mask);
  double dropout = train ? p : 0.0;
#if TORCH_VERSION_MAJOR >= 2
  *out = wrap(at::scaled_dot_product_attention(Q, T(k), T(v), m, dropout));
#else
  at::Tensor scores = Q.matmul(T(k).transpose(-1, -2)).div(std::sqrt(static_cast<double>(Q.size(-1))));
  if (m) scores = scores.add(*m);
  at::Tensor probs = scores.softmax(-1);
  if (dropout > 0) probs = at::dropout(probs, dropout, true);
  *out = wrap(probs.matmul(T(v)));
#endif
  SPQ_CATCH
}
spq_error* spq_cross_entropy(spq_tensor logits, spq_tensor target, int64_t ignore_index, int reduction,
                             spq_tensor* out) {
  SPQ_TRY *out = wrap(at::cross_entropy_loss(T(logits), T(target), {}, reduction, ignore_index));
  SPQ_CATCH
}
spq_error* spq_conv1d(spq_tensor x, spq_tensor w, spq_tensor b, int64_t stride, int64_t padding, int64_t groups,
                      spq_tensor* out) {
  SPQ_TRY c10::optional<at::Tensor> bias;
  if (b) bias = T(b);
  *out = wrap(at::conv1d(T(x), T(w), bias, stride, padding, 1, groups));
  SPQ_CATCH
}

// ---- optimisation ----

spq_error* spq_adamw_step(spq_tensor p, spq_tensor exp_avg, spq_tensor exp_avg_sq, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int64_t step) {
  SPQ_TRY c10::NoGradGuard no_grad;
  at::Tensor& param = p->t;
  const at::Tensor& grad = param.grad();
  if (!grad.defined()) return nullptr;
  // The operation order mirrors torch.optim.AdamW's single-tensor path so results are bitwise equal.
  param.mul_(1 - lr * weight_decay);
#if TORCH_VERSION_MAJOR >= 2
  exp_avg->t.lerp_(grad, 1 - beta1);  // torch 2.0 moved the first moment to lerp_
#else
  exp_avg->t.mul_(beta1).add_(grad, 1 - beta1);
#endif
  exp_avg_sq->t.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
  double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  double step_size = lr / bias_correction1;
  double bias_correction2_sqrt = std::sqrt(bias_correction2);
  at::Tensor denom = (exp_avg_sq->t.sqrt() / bias_correction2_sqrt).add_(eps);
  param.addcdiv_(exp_avg->t, denom, -step_size);
  SPQ_CATCH
}

spq_error* spq_adamw_step_foreach(const spq_tensor* params, const spq_tensor* exp_avgs, const spq_tensor* exp_avg_sqs,
                                  int n, double lr, double beta1, double beta2, double eps, double weight_decay,
                                  int64_t step) {
#if TORCH_VERSION_MAJOR >= 2
  SPQ_TRY c10::NoGradGuard no_grad;
  std::vector<at::Tensor> ps, gs, ms, vs;
  for (int i = 0; i < n; i++) {
    const at::Tensor& g = T(params[i]).grad();
    if (!g.defined()) continue;
    ps.push_back(T(params[i]));
    gs.push_back(g);
    ms.push_back(T(exp_avgs[i]));
    vs.push_back(T(exp_avg_sqs[i]));
  }
  if (ps.empty()) return nullptr;
  if (weight_decay != 0) at::_foreach_mul_(ps, 1 - lr * weight_decay);
  at::_foreach_lerp_(ms, gs, 1 - beta1);
  at::_foreach_mul_(vs, beta2);
  at::_foreach_addcmul_(vs, gs, gs, 1 - beta2);
  double step_size = (lr / (1 - std::pow(beta1, static_cast<double>(step)))) * -1;
  double bias_correction2_sqrt = std::pow(1 - std::pow(beta2, static_cast<double>(step)), 0.5);
  std::vector<at::Tensor> denom = at::_foreach_sqrt(vs);
  at::_foreach_div_(denom, bias_correction2_sqrt);
  at::_foreach_add_(denom, eps);
  at::_foreach_addcdiv_(ps, ms, denom, step_size);
  SPQ_CATCH
#else
  for (int i = 0; i < n; i++) {
    if (spq_error* e = spq_adamw_step(params[i], exp_avgs[i], exp_avg_sqs[i], lr, beta1, beta2, eps, weight_decay, step)) {
      return e;
    }
  }
  return nullptr;
#endif
}

spq_error* spq_grad_norms(const spq_tensor* params, int n, double* norms, int* has_grad) {
  SPQ_TRY c10::NoGradGuard no_grad;
  for (int i = 0; i < n; i++) {
    const at::Tensor& g = T(params[i]).grad();
    has_grad[i] = g.defined() ? 1 : 0;
    norms[i] = g.defined() ? g.to(at::kDouble).norm().item<double>() : 0.0;
  }
  SPQ_CATCH
}

spq_error* spq_clip_grad_norm(const spq_tensor* params, int n, double max_norm, double* total) {
  SPQ_TRY c10::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (int i = 0; i < n; i++) {
    const at::Tensor& g = T(params[i]).grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) {
    *total = 0;
    return nullptr;
  }
  // Same reduction as torch.nn.utils.clip_grad_norm_: norm of the per-tensor norms.
  std::vector<at::Tensor> norms;
  norms.reserve(grads.size());
  for (auto& g : grads) norms.push_back(g.norm());
  at::Tensor total_norm = at::stack(norms).norm();
  at::Tensor clip_coef = max_norm / (total_norm + 1e-6);
  at::Tensor clamped = clip_coef.clamp_max(1.0);
  for (auto& g : grads) g.mul_(clamped.to(g.device()));
  *total = total_norm.item<double>();
  SPQ_CATCH
}

spq_error* spq_scale_grads(const spq_tensor* params, int n, double s) {
  SPQ_TRY c10::NoGradGuard no_grad;
  for (int i = 0; i < n; i++) {
    at::Tensor g = T(params[i]).grad();
    if (g.defined()) g.mul_(s);
  }
  SPQ_CATCH
}

}  // extern "C"

// ---- mixed precision ----

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
// libtorch 2.4 replaced the CPU/GPU-specific autocast getters and setters with per-device-type
// ones.
spq_autocast_state spq_internal_autocast_get(at::DeviceType device) {
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
}

void spq_internal_autocast_set(at::DeviceType device, spq_autocast_state s) {
  at::autocast::set_autocast_dtype(device, s.dtype);
  at::autocast::set_autocast_enabled(device, s.enabled);
}
#else
spq_autocast_state spq_internal_autocast_get(at::DeviceType device) {
  if (device == at::kCPU) return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
  return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
}

void spq_internal_autocast_set(at::DeviceType device, spq_autocast_state s) {
  if (device == at::kCPU) {
    at::autocast::set_autocast_cpu_dtype(s.dtype);
    at::autocast::set_cpu_enabled(s.enabled);
  } else {
    at::autocast::set_autocast_gpu_dtype(s.dtype);
    at::autocast::set_enabled(s.enabled);
  }
}
#endif

extern "C" {

spq_error* spq_autocast_enter(int device_type, int dtype, int* prev_enabled) {
  SPQ_TRY at::DeviceType dt = device_type == 0 ? at::kCPU : at::kCUDA;
  *prev_enabled = spq_internal_autocast_get(dt).enabled ? 1 : 0;
  spq_internal_autocast_set(dt, {true, to_scalar_type(dtype)});
  at::autocast::increment_nesting();
  SPQ_CATCH
}

spq_error* spq_autocast_exit(int device_type, int prev_enabled) {
  SPQ_TRY
  // The cast cache holds lower-precision copies of weights for the duration of the region.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::DeviceType dt = device_type == 0 ? at::kCPU : at::kCUDA;
  spq_autocast_state s = spq_internal_autocast_get(dt);
  s.enabled = prev_enabled != 0;
  spq_internal_autocast_set(dt, s);
  SPQ_CATCH
}

spq_error* spq_grads_all_finite(const spq_tensor* params, int n, int* all_finite) {
  SPQ_TRY c10::NoGradGuard no_grad;
  *all_finite = 1;
  for (int i = 0; i < n; i++) {
    const at::Tensor& g = T(params[i]).grad();
    if (g.defined() && !g.isfinite().all().item<bool>()) {
      *all_finite = 0;
      break;
    }
  }
  SPQ_CATCH
}

}  // extern "C"
