// cbridge/checkpoint.cpp: activation checkpointing, as torch.utils.checkpoint (reentrant, with
// preserve_rng_state) does it, for a function written in Go.
//
// The forward pass runs the Go function without recording a graph and keeps only its inputs; the
// backward pass runs it again with the graph on and back-propagates through that. So a layer's
// activations live only while its gradient is computed: memory per layer falls from all its
// intermediates to its input, at the price of a second forward. Dropout draws the same masks in
// the recomputation (the RNG state is replayed, then put back), and autocast is on there exactly
// when it was on in the forward pass, so gradients do not change. A translation unit of its own:
// the custom-function header is heavy, and this is the one place that calls back into Go.

#include "cbridge.h"
#include "internal.hpp"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

spq_checkpoint_run_fn g_run = nullptr;
spq_checkpoint_release_fn g_release = nullptr;

// GoFunction owns a Go function handle: the Go side may forget it once the last reference, the
// autograd node's, is gone.
struct GoFunction : torch::CustomClassHolder {
  explicit GoFunction(uintptr_t f) : fn(f) {}
  ~GoFunction() override {
    if (g_release) g_release(fn);
  }
  uintptr_t fn;
};

at::Tensor call_go(uintptr_t fn, const std::vector<at::Tensor>& inputs) {
  if (!g_run) throw std::runtime_error("checkpoint: no Go callback installed");
  std::vector<spq_tensor> handles;
  handles.reserve(inputs.size());
  for (const auto& t : inputs) handles.push_back(spq_internal_wrap(t));
  at::Tensor out;
  char* err = g_run(fn, handles.data(), static_cast<int>(handles.size()), &out);
  if (err) {
    std::string msg(err);
    std::free(err);
    throw std::runtime_error(msg);
  }
  if (!out.defined()) throw std::runtime_error("checkpoint: the function returned no tensor");
  return out;
}

// Autocast is per thread, and backward may run outside the autocast region of the forward pass
// (or on another thread): record the state of the forward pass and restore it for the rerun.
struct AutocastState {
  spq_autocast_state cpu, cuda;
};

AutocastState autocast_now() { return {spq_internal_autocast_get(at::kCPU), spq_internal_autocast_get(at::kCUDA)}; }

void set_autocast(const AutocastState& s) {
  spq_internal_autocast_set(at::kCPU, s.cpu);
  spq_internal_autocast_set(at::kCUDA, s.cuda);
}

// AutocastAs sets a recorded autocast state for its lifetime, as a `with torch.autocast(...)`
// block would (the nesting count bounds the weight-cast cache to the block).
class AutocastAs {
 public:
  explicit AutocastAs(const AutocastState& s) : prev_(autocast_now()) {
    set_autocast(s);
    at::autocast::increment_nesting();
  }
  ~AutocastAs() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_autocast(prev_);
  }

 private:
  AutocastState prev_;
};

// The generators whose state the function may consume: the CPU one always, and the default
// generator of every CUDA device an input lives on (torch.utils.checkpoint's choice).
std::vector<at::Device> rng_devices(const std::vector<at::Tensor>& inputs) {
  std::vector<at::Device> devs{at::Device(at::kCPU)};
  for (const auto& t : inputs) {
    if (t.defined() && t.is_cuda() && std::find(devs.begin(), devs.end(), t.device()) == devs.end()) {
      devs.push_back(t.device());
    }
  }
  return devs;
}

std::vector<at::Tensor> rng_states(const std::vector<at::Device>& devs) {
  std::vector<at::Tensor> states;
  for (const auto& d : devs) {
    auto gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    states.push_back(gen.get_state());
  }
  return states;
}

void set_rng_states(const std::vector<at::Device>& devs, const std::vector<at::Tensor>& states) {
  for (size_t i = 0; i < devs.size(); i++) {
    auto gen = at::globalContext().defaultGenerator(devs[i]);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(states[i]);
  }
}

// RngReplay sets the generators to the forward pass's states for its lifetime and then puts
// back what they were, so the rerun neither changes the random stream of the caller nor sees
// another one (torch.random.fork_rng).
class RngReplay {
 public:
  RngReplay(std::vector<at::Device> devs, const std::vector<at::Tensor>& states)
      : devs_(std::move(devs)), saved_(rng_states(devs_)) {
    set_rng_states(devs_, states);
  }
  ~RngReplay() { set_rng_states(devs_, saved_); }

 private:
  std::vector<at::Device> devs_;
  std::vector<at::Tensor> saved_;
};

struct Checkpoint : public torch::autograd::Function<Checkpoint> {
  // Autograd runs forward with the graph off; the function's result carries this node instead.
  // inputs is a TensorList, not a variable_list: autograd counts a TensorList's tensors as
  // inputs (each gets a gradient) but a std::vector as one opaque argument.
  static variable_list forward(AutogradContext* ctx, c10::intrusive_ptr<GoFunction> fn, at::TensorList input_list) {
    std::vector<at::Tensor> inputs = input_list.vec();
    auto devs = rng_devices(inputs);
    auto states = rng_states(devs);
    auto ac = autocast_now();
    at::Tensor out = call_go(fn->fn, inputs);
    ctx->save_for_backward(inputs);
    ctx->saved_data["fn"] = c10::IValue::make_capsule(fn);
    ctx->saved_data["cpu_autocast"] = ac.cpu.enabled;
    ctx->saved_data["cuda_autocast"] = ac.cuda.enabled;
    ctx->saved_data["cpu_dtype"] = static_cast<int64_t>(ac.cpu.dtype);
    ctx->saved_data["cuda_dtype"] = static_cast<int64_t>(ac.cuda.dtype);
    std::vector<int64_t> dev_codes;
    for (const auto& d : devs) dev_codes.push_back(d.is_cuda() ? d.index() : -1);
    ctx->saved_data["rng_devices"] = dev_codes;
    ctx->saved_data["rng_states"] = at::IValue(c10::List<at::Tensor>(states));
    return {out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto holder = ctx->saved_data["fn"].toCapsule();
    auto* fn = static_cast<GoFunction*>(holder.get());
    AutocastState ac;
    ac.cpu.enabled = ctx->saved_data["cpu_autocast"].toBool();
    ac.cuda.enabled = ctx->saved_data["cuda_autocast"].toBool();
    ac.cpu.dtype = static_cast<at::ScalarType>(ctx->saved_data["cpu_dtype"].toInt());
    ac.cuda.dtype = static_cast<at::ScalarType>(ctx->saved_data["cuda_dtype"].toInt());
    std::vector<at::Device> devs;
    for (int64_t c : ctx->saved_data["rng_devices"].toIntVector()) {
      devs.push_back(c < 0 ? at::Device(at::kCPU) : at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(c)));
    }
    std::vector<at::Tensor> states = ctx->saved_data["rng_states"].toTensorVector();

    // Fresh leaves for the inputs, so that their gradients are what this node returns. The
    // function gets views of them, not the leaves: autocast caches its casts of leaves that
    // require grad (meant for weights), and a cached cast would sum the gradients of an
    // input's uses in bf16 before the cast instead of in float32 after it, as the first pass did.
    std::vector<at::Tensor> inputs, views;
    inputs.reserve(saved.size());
    views.reserve(saved.size());
    for (const auto& t : saved) {
      at::Tensor d = t.defined() ? t.detach() : t;
      if (t.defined() && t.requires_grad()) d.requires_grad_(true);
      inputs.push_back(d);
    }
    at::Tensor out;
    {
      RngReplay replay(devs, states);
      AutocastAs autocast(ac);
      at::AutoGradMode grad(true);
      for (const auto& d : inputs) views.push_back(d.defined() && d.requires_grad() ? d.view_as(d) : d);
      out = call_go(fn->fn, views);
    }
    if (grads[0].defined() && out.requires_grad()) {
      torch::autograd::backward({out}, {grads[0]});
    }
    variable_list result;
    result.reserve(inputs.size() + 1);
    result.emplace_back();  // fn
    for (const auto& d : inputs) result.push_back(d.defined() && d.requires_grad() ? d.grad() : at::Tensor());
    return result;
  }
};

}  // namespace

extern "C" {

void spq_checkpoint_set_callbacks(spq_checkpoint_run_fn run, spq_checkpoint_release_fn release) {
  g_run = run;
  g_release = release;
}

spq_error* spq_checkpoint(uintptr_t fn, const spq_tensor* args, int n, spq_tensor* out) {
  c10::intrusive_ptr<GoFunction> f;
  try {
    f = c10::make_intrusive<GoFunction>(fn);
  } catch (...) {
    if (g_release) g_release(fn);
    return spq_internal_current_error();
  }
  try {
    variable_list inputs;
    inputs.reserve(n);
    for (int i = 0; i < n; i++) inputs.push_back(args[i]->t);
    auto outs = Checkpoint::apply(std::move(f), at::TensorList(inputs));
    *out = spq_internal_wrap(outs[0]);
    return nullptr;
  } catch (...) {
    return spq_internal_current_error();
  }
}

spq_error* spq_checkpoint_set_output(void* out, spq_tensor t) {
  try {
    *static_cast<at::Tensor*>(out) = t->t;
    return nullptr;
  } catch (...) {
    return spq_internal_current_error();
  }
}

}  // extern "C"
