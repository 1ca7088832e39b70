/*
 * cbridge/distributed.h: data-parallel collectives over libtorch's c10d (TCPStore rendezvous,
 * ProcessGroupGloo on CPU, ProcessGroupNCCL on CUDA builds) for spanqa's torch/dist package.
 *
 * Same rules as cbridge.h: PODs and opaque handles only, every fallible call returns spq_error*
 * (NULL on success, owned by the caller), tensor handles are borrowed.
 *
 * Timeouts: every blocking call waits at most the group's timeout (given at init) and then
 * fails with an error naming the operation; a peer that died makes the call fail as soon as the
 * transport notices (usually at once). After a failure the group is broken: the caller should
 * stop using it and may leak it rather than free it (freeing waits for queued work, which can
 * take another timeout per queued collective).
 */
#ifndef SPANQA_CBRIDGE_DISTRIBUTED_H
#define SPANQA_CBRIDGE_DISTRIBUTED_H

#include <stdint.h>

#include "cbridge.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spq_pg_impl* spq_pg;
typedef struct spq_reducer_impl* spq_reducer;

/* backend codes (mirrored in torch/dist) */
enum spq_backend { SPQ_BACKEND_GLOO = 1, SPQ_BACKEND_NCCL = 2 };

/* 1 when this build of cbridge can create the backend */
int spq_dist_has_backend(int backend);
/* NCCL's version as major*10000+minor*100+patch (ncclGetVersion's code), 0 without NCCL */
int spq_dist_nccl_version(void);

/* Rendezvous and process-group creation.
 *   addr, port     the TCPStore (MASTER_ADDR, MASTER_PORT); rank 0 hosts it unless client_only
 *   client_only    every rank connects as a client (torchrun's agent already hosts the store)
 *   prefix         key prefix inside the store ("" for none)
 *   timeout_ms     rendezvous and every later collective
 *   device_index   CUDA device of this rank for NCCL (ignored by Gloo)
 *   iface          network interfaces for Gloo, comma-separated (GLOO_SOCKET_IFNAME); "" picks
 *                  loopback when addr is a loopback address, else this host's name */
spq_error* spq_dist_init(const char* addr, int port, int rank, int world, int backend, int64_t timeout_ms,
                         int client_only, const char* prefix, int device_index, const char* iface, spq_pg* out);
void spq_dist_free(spq_pg pg);

/* Broadcast tensors from root in place, flattened into buckets of at most bucket_bytes. */
spq_error* spq_dist_broadcast(spq_pg pg, const spq_tensor* ts, int n, int root, int64_t bucket_bytes);
/* All-reduce tensors in place: the sum over ranks times scale (1/world: the mean), flattened
 * into buckets of at most bucket_bytes. */
spq_error* spq_dist_allreduce(spq_pg pg, const spq_tensor* ts, int n, double scale, int64_t bucket_bytes);
spq_error* spq_dist_barrier(spq_pg pg);
/* Every rank contributes n bytes (n may differ between ranks); *out receives the concatenation
 * in rank order (malloc'd, free with spq_dist_free_bytes; NULL when empty) and lens (world
 * entries) each rank's length. */
spq_error* spq_dist_allgather_bytes(spq_pg pg, const void* data, int64_t n, void** out, int64_t* lens);
void spq_dist_free_bytes(void* p);

/* ---- gradient reducer: DDP-style bucketed all-reduce overlapped with backward ----
 * Parameters (those requiring grad) are grouped, in reverse order, into buckets of at most
 * bucket_bytes. After spq_reducer_arm, the next backward launches each bucket's asynchronous
 * all-reduce from an autograd hook as soon as all of its gradients are accumulated (buckets in
 * index order, so every rank issues the same collectives in the same order), while backward goes
 * on with the earlier layers. spq_reducer_finish launches what is left (parameters that got no
 * gradient on this rank contribute zeros), waits, and writes sum*scale back into each .grad; a
 * parameter that no rank gave a gradient keeps none. *overlapped receives how many buckets were
 * launched during backward. */
spq_error* spq_reducer_new(spq_pg pg, const spq_tensor* params, int n, int64_t bucket_bytes, spq_reducer* out);
spq_error* spq_reducer_arm(spq_reducer r);
spq_error* spq_reducer_finish(spq_reducer r, double scale, int* overlapped);
int spq_reducer_num_buckets(spq_reducer r);
void spq_reducer_free(spq_reducer r);

#ifdef __cplusplus
}
#endif
#endif
