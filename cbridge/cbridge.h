/*
 * cbridge: a flat C ABI over libtorch for spanqa's Go binding.
 *
 * Rules every function follows:
 *  - Only PODs and opaque handles cross this boundary; no C++ type, no exception.
 *  - Every fallible call returns spq_error* (NULL on success). The error is heap-allocated and
 *    owned by the caller (spq_error_free). It is returned by the same call that failed, never
 *    read from thread-local state afterwards: goroutines migrate between OS threads.
 *  - Tensor handles returned through out-parameters are new references owned by the caller
 *    (spq_free). Inputs are borrowed.
 */
#ifndef SPANQA_CBRIDGE_H
#define SPANQA_CBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spq_tensor_impl* spq_tensor;

enum spq_error_kind { SPQ_ERR_TORCH = 1, SPQ_ERR_OOM = 2, SPQ_ERR_OTHER = 3 };

typedef struct spq_error {
  int kind;      /* spq_error_kind */
  char* message; /* short text, no backtrace */
} spq_error;

void spq_error_free(spq_error* e);

/* dtype codes (stable; mirrored in torch/dtype.go) */
enum spq_dtype {
  SPQ_F32 = 0, SPQ_F16 = 1, SPQ_BF16 = 2, SPQ_F64 = 3, SPQ_I64 = 4, SPQ_I32 = 5, SPQ_BOOL = 6, SPQ_U8 = 7, SPQ_I8 = 8
};
/* device: type 0 = CPU, 1 = CUDA; index for CUDA */

/* ---- library ---- */
const char* spq_version(void); /* compile-time libtorch version, static string */
int spq_runtime_version(char* buf, int n); /* from the loaded library (config) */
spq_error* spq_show_config(char** out);    /* malloc'd; free with spq_free_string */
void spq_free_string(char* s);
void spq_set_num_threads(int n);
int spq_get_num_threads(void);
void spq_manual_seed(uint64_t seed);
int spq_cuda_built(void); /* 1 when cbridge was compiled with the CUDA shims (SPANQA_WITH_CUDA) */
int spq_cuda_is_available(void);
int spq_cuda_device_count(void);
/* One line per fact, "key=value": cuda (runtime version the build has), cudnn, then per device
   device<i>=name|total MiB|compute capability|bf16 yes/no. malloc'd; empty on CPU-only builds. */
spq_error* spq_cuda_info(char** out);
spq_error* spq_cuda_synchronize(int device);
/* grad mode is thread-local in libtorch: the Go side pins the OS thread while it changes it */
int spq_grad_enabled(void);
void spq_set_grad_enabled(int on);
int64_t spq_live_tensors(void);
spq_error* spq_get_rng_state(spq_tensor* out);
spq_error* spq_set_rng_state(spq_tensor state);

/* Times an [m,k]x[k,n] float32 matmul entirely inside C++ (best of reps, seconds): the
   "libtorch directly" reference the Go binding's overhead is measured against. */
spq_error* spq_bench_matmul(int64_t m, int64_t k, int64_t n, int reps, double* best_seconds);

/* ---- lifetime and metadata ---- */
void spq_free(spq_tensor t);
int spq_dim(spq_tensor t);
void spq_shape(spq_tensor t, int64_t* out); /* out has spq_dim entries */
int spq_dtype(spq_tensor t);
int spq_device_type(spq_tensor t);
int spq_device_index(spq_tensor t);
int64_t spq_numel(spq_tensor t);
int spq_requires_grad(spq_tensor t);
int spq_has_grad(spq_tensor t); /* 1 when t.grad() is defined */
spq_error* spq_set_requires_grad(spq_tensor t, int on);

/* ---- creation and host copies ---- */
spq_error* spq_from_data(const void* data, int dtype, const int64_t* shape, int ndim, spq_tensor* out);
spq_error* spq_copy_to_host(spq_tensor t, void* dst, int64_t nbytes); /* t must match dst's dtype */
spq_error* spq_empty(const int64_t* shape, int ndim, int dtype, int dev_type, int dev_index, spq_tensor* out);
spq_error* spq_zeros(const int64_t* shape, int ndim, int dtype, int dev_type, int dev_index, spq_tensor* out);
spq_error* spq_ones(const int64_t* shape, int ndim, int dtype, int dev_type, int dev_index, spq_tensor* out);
spq_error* spq_full(const int64_t* shape, int ndim, double value, int dtype, int dev_type, int dev_index, spq_tensor* out);
spq_error* spq_arange(double start, double end, double step, int dtype, int dev_type, int dev_index, spq_tensor* out);
spq_error* spq_randn(const int64_t* shape, int ndim, int dtype, int dev_type, int dev_index, spq_tensor* out);
spq_error* spq_item(spq_tensor t, double* out);
spq_error* spq_to(spq_tensor t, int dtype, int dev_type, int dev_index, spq_tensor* out);
spq_error* spq_zeros_like(spq_tensor t, spq_tensor* out);
spq_error* spq_ones_like(spq_tensor t, spq_tensor* out);

/* ---- autograd ---- */
spq_error* spq_backward(spq_tensor t, spq_tensor grad /* nullable */, int retain_graph);
spq_error* spq_grad(spq_tensor t, spq_tensor* out); /* *out NULL when no grad */
spq_error* spq_zero_grad(spq_tensor t);             /* sets grad undefined (set_to_none) */
spq_error* spq_detach(spq_tensor t, spq_tensor* out);
/* t.set_data(src): t keeps its identity (and autograd leaf status) but takes src's storage,
   dtype and device, as `param.data = param.data.to(...)` does in PyTorch. */
spq_error* spq_set_data(spq_tensor t, spq_tensor src);

/* Activation checkpointing (checkpoint.cpp). fn names a Go function (a cgo.Handle): run calls
   it on n argument handles (the callee owns and frees them) and hands its result to
   spq_checkpoint_set_output(out, result) before returning; it returns NULL or a malloc'd error
   message. release is called once when nothing can call fn any more. */
typedef char* (*spq_checkpoint_run_fn)(uintptr_t fn, spq_tensor* args, int n, void* out);
typedef void (*spq_checkpoint_release_fn)(uintptr_t fn);
void spq_checkpoint_set_callbacks(spq_checkpoint_run_fn run, spq_checkpoint_release_fn release);
spq_error* spq_checkpoint(uintptr_t fn, const spq_tensor* args, int n, spq_tensor* out);
spq_error* spq_checkpoint_set_output(void* out, spq_tensor t);

/* ---- element-wise ---- */
#define SPQ_UNARY(name) spq_error* spq_##name(spq_tensor a, spq_tensor* out);
SPQ_UNARY(neg) SPQ_UNARY(exp) SPQ_UNARY(log) SPQ_UNARY(sqrt) SPQ_UNARY(rsqrt) SPQ_UNARY(tanh)
SPQ_UNARY(sigmoid) SPQ_UNARY(relu) SPQ_UNARY(gelu) SPQ_UNARY(gelu_tanh) SPQ_UNARY(abs) SPQ_UNARY(ceil)
SPQ_UNARY(sign) SPQ_UNARY(logical_not) SPQ_UNARY(contiguous) SPQ_UNARY(clone) SPQ_UNARY(sum_all)
SPQ_UNARY(mean_all) SPQ_UNARY(norm_all) SPQ_UNARY(square) SPQ_UNARY(isfinite_all)
#undef SPQ_UNARY

#define SPQ_BINARY(name) spq_error* spq_##name(spq_tensor a, spq_tensor b, spq_tensor* out);
SPQ_BINARY(add) SPQ_BINARY(sub) SPQ_BINARY(mul) SPQ_BINARY(div) SPQ_BINARY(matmul) SPQ_BINARY(bmm)
SPQ_BINARY(logical_and)
#undef SPQ_BINARY

#define SPQ_SCALAR(name) spq_error* spq_##name(spq_tensor a, double s, spq_tensor* out);
SPQ_SCALAR(add_scalar) SPQ_SCALAR(mul_scalar) SPQ_SCALAR(div_scalar) SPQ_SCALAR(pow_scalar)
SPQ_SCALAR(rsub_scalar) SPQ_SCALAR(eq_scalar) SPQ_SCALAR(ne_scalar) SPQ_SCALAR(lt_scalar)
SPQ_SCALAR(le_scalar) SPQ_SCALAR(gt_scalar)
#undef SPQ_SCALAR

spq_error* spq_clamp(spq_tensor a, int has_min, double min, int has_max, double max, spq_tensor* out);
spq_error* spq_masked_fill(spq_tensor a, spq_tensor mask, double value, spq_tensor* out);
spq_error* spq_where(spq_tensor cond, spq_tensor a, spq_tensor b, spq_tensor* out);

/* in place: these modify a and return nothing new */
spq_error* spq_zero_(spq_tensor a);
spq_error* spq_fill_(spq_tensor a, double v);
spq_error* spq_copy_(spq_tensor dst, spq_tensor src);
spq_error* spq_normal_(spq_tensor a, double mean, double std);
spq_error* spq_uniform_(spq_tensor a, double from, double to);

/* ---- shape ---- */
spq_error* spq_reshape(spq_tensor a, const int64_t* shape, int ndim, spq_tensor* out);
spq_error* spq_view(spq_tensor a, const int64_t* shape, int ndim, spq_tensor* out);
spq_error* spq_permute(spq_tensor a, const int64_t* dims, int ndim, spq_tensor* out);
spq_error* spq_expand(spq_tensor a, const int64_t* shape, int ndim, spq_tensor* out);
spq_error* spq_repeat(spq_tensor a, const int64_t* reps, int ndim, spq_tensor* out);
spq_error* spq_transpose(spq_tensor a, int64_t d0, int64_t d1, spq_tensor* out);
spq_error* spq_unsqueeze(spq_tensor a, int64_t dim, spq_tensor* out);
spq_error* spq_squeeze_dim(spq_tensor a, int64_t dim, spq_tensor* out);
spq_error* spq_flatten(spq_tensor a, int64_t start, int64_t end, spq_tensor* out);
spq_error* spq_narrow(spq_tensor a, int64_t dim, int64_t start, int64_t length, spq_tensor* out);
spq_error* spq_slice(spq_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, spq_tensor* out);
spq_error* spq_select(spq_tensor a, int64_t dim, int64_t index, spq_tensor* out);
spq_error* spq_index_select(spq_tensor a, int64_t dim, spq_tensor index, spq_tensor* out);
spq_error* spq_gather(spq_tensor a, int64_t dim, spq_tensor index, spq_tensor* out);
spq_error* spq_cat(const spq_tensor* ts, int n, int64_t dim, spq_tensor* out);
spq_error* spq_stack(const spq_tensor* ts, int n, int64_t dim, spq_tensor* out);
/* split into chunks of size `size` along dim; outs must hold n_max entries; *n receives the count */
spq_error* spq_split(spq_tensor a, int64_t size, int64_t dim, spq_tensor* outs, int n_max, int* n);
spq_error* spq_as_strided(spq_tensor a, const int64_t* size, const int64_t* stride, int ndim, int64_t offset, spq_tensor* out);
spq_error* spq_unfold(spq_tensor a, int64_t dim, int64_t size, int64_t step, spq_tensor* out);
spq_error* spq_pad(spq_tensor a, const int64_t* pad, int npad, double value, spq_tensor* out);
spq_error* spq_tril(spq_tensor a, int64_t diagonal, spq_tensor* out);
spq_error* spq_flip(spq_tensor a, const int64_t* dims, int ndim, spq_tensor* out);

/* ---- reductions ---- */
spq_error* spq_sum_dim(spq_tensor a, const int64_t* dims, int ndim, int keepdim, spq_tensor* out);
spq_error* spq_mean_dim(spq_tensor a, const int64_t* dims, int ndim, int keepdim, spq_tensor* out);
spq_error* spq_max_dim(spq_tensor a, int64_t dim, int keepdim, spq_tensor* values, spq_tensor* indices);
spq_error* spq_cumsum(spq_tensor a, int64_t dim, spq_tensor* out);
spq_error* spq_max_all(spq_tensor a, spq_tensor* out);

/* ---- neural network ---- */
spq_error* spq_linear(spq_tensor x, spq_tensor w, spq_tensor b /* nullable */, spq_tensor* out);
spq_error* spq_embedding(spq_tensor weight, spq_tensor ids, int64_t padding_idx, spq_tensor* out);
spq_error* spq_layer_norm(spq_tensor x, int64_t nlast, spq_tensor w, spq_tensor b, double eps, spq_tensor* out);
spq_error* spq_softmax(spq_tensor a, int64_t dim, spq_tensor* out);
spq_error* spq_softmax_as(spq_tensor a, int64_t dim, int dtype, spq_tensor* out); /* computed and returned in dtype */
spq_error* spq_log_softmax(spq_tensor a, int64_t dim, spq_tensor* out);
spq_error* spq_dropout(spq_tensor a, double p, int train, spq_tensor* out);
/* softmax(q k^T / sqrt(head_dim) + mask) v, with dropout p on the probabilities when train:
   q, k, v [B, heads, L, head_dim], mask additive and broadcastable to [B, heads, L, L]
   (nullable). libtorch 2.x: one fused scaled_dot_product_attention (the kernel HF's default
   "sdpa" attention calls); 1.13: the same sequence of operations spanqa used before. */
spq_error* spq_attention(spq_tensor q, spq_tensor k, spq_tensor v, spq_tensor mask, double p, int train,
                         spq_tensor* out);
/* reduction: 0 none, 1 mean, 2 sum */
spq_error* spq_cross_entropy(spq_tensor logits, spq_tensor target, int64_t ignore_index, int reduction, spq_tensor* out);
spq_error* spq_conv1d(spq_tensor x, spq_tensor w, spq_tensor b, int64_t stride, int64_t padding, int64_t groups, spq_tensor* out);

/* ---- optimisation ----
   Each call runs, under no-grad, the sequence of libtorch operations that torch.optim or
   torch.nn.utils runs (not one fused kernel), so that a dozen operations cost one C call; the
   optimizer's policy (decay groups, schedule, step counts) stays in Go (package train). */
/* torch.optim.AdamW's single-tensor update on p using p.grad, in the operation order of the torch
   release the libtorch belongs to (lerp_ for the first moment from 2.0); skips when no grad. */
spq_error* spq_adamw_step(spq_tensor p, spq_tensor exp_avg, spq_tensor exp_avg_sq, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int64_t step);
/* The same update for n parameters at once with libtorch's _foreach kernels, in the operation
   order of torch.optim.AdamW's multi-tensor path (its default for CUDA parameters); parameters
   without a gradient are skipped. On libtorch 1.13 it runs the single-tensor update per
   parameter. */
spq_error* spq_adamw_step_foreach(const spq_tensor* params, const spq_tensor* exp_avgs, const spq_tensor* exp_avg_sqs,
                                  int n, double lr, double beta1, double beta2, double eps, double weight_decay,
                                  int64_t step);
/* L2 norm of each parameter's grad (0 and has_grad[i]=0 when none) in float64 host doubles */
spq_error* spq_grad_norms(const spq_tensor* params, int n, double* norms, int* has_grad);
/* torch.nn.utils.clip_grad_norm_: total norm as torch computes it; grads scaled by
   clamp(max_norm/(total+1e-6), max=1). Returns the total norm. */
spq_error* spq_clip_grad_norm(const spq_tensor* params, int n, double max_norm, double* total);
/* grads *= s for all params with a grad (gradient accumulation / loss scaling) */
spq_error* spq_scale_grads(const spq_tensor* params, int n, double s);

/* ---- mixed precision ---- */
/* Autocast is thread-local in libtorch; the Go side pins the OS thread around it.
   device_type 0 = CPU (bfloat16), 1 = CUDA (float16 or bfloat16). Returns the previous state
   through prev_enabled so exit can restore it. */
spq_error* spq_autocast_enter(int device_type, int dtype, int* prev_enabled);
spq_error* spq_autocast_exit(int device_type, int prev_enabled);
/* all_finite = 1 when every existing gradient of params is finite (fp16 loss scaling) */
spq_error* spq_grads_all_finite(const spq_tensor* params, int n, int* all_finite);

#ifdef __cplusplus
}
#endif
#endif
