// Internal to cbridge: C++ definitions that more than one translation unit needs. Never
// included from Go; cbridge.h and distributed.h stay plain C.
#ifndef SPANQA_CBRIDGE_INTERNAL_HPP
#define SPANQA_CBRIDGE_INTERNAL_HPP

#include <ATen/core/Tensor.h>

#include "cbridge.h"

// The opaque tensor handle behind spq_tensor: one at::Tensor (a reference-counted handle to
// the same TensorImpl that libtorch shares, so copying it never copies data).
struct spq_tensor_impl {
  at::Tensor t;
};

// For the translation units other than cbridge.cpp: a handle counted in spq_live_tensors, and
// an spq_error for the exception being handled (call inside a catch block only).
spq_tensor spq_internal_wrap(at::Tensor t);
spq_error* spq_internal_current_error();

// One device type's autocast state (per thread in libtorch), read and set through the one
// version guard in cbridge.cpp (libtorch 2.4 changed the API).
struct spq_autocast_state {
  bool enabled = false;
  at::ScalarType dtype = at::kBFloat16;
};
spq_autocast_state spq_internal_autocast_get(at::DeviceType device);
void spq_internal_autocast_set(at::DeviceType device, spq_autocast_state s);

#endif
