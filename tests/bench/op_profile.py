#!/usr/bin/env python3
"""Where a step's time goes inside libtorch, by operator: the breakdown behind bench-compare.

spanqa and HF run the same libtorch kernels on the same batches, so a ratio near 1 between them
says little about headroom; this says what the time is spent on. It profiles (torch.profiler)
HF's BertForQuestionAnswering at bert-base size with random weights: one training step as
Trainer takes it (forward, backward, clipping, AdamW) and one no-grad inference batch, and
groups the operators' self CPU time into matrix products, attention, element-wise/normalisation,
dropout, optimizer and the rest. Never run by make test or CI.

    .venv/bin/python tests/bench/op_profile.py [--threads 2] [--train-batch 4] [--eval-batch 8] [--length 384] [--top 8]
"""

import argparse
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

GROUPS = [
    ("matrix products", ("aten::mm", "addmm", "bmm", "matmul", "linear", "baddbmm", "addmv")),
    ("attention (fused sdpa)", ("scaled_dot_product", "flash_attention")),
    ("dropout (RNG + mask)", ("bernoulli", "dropout")),
    ("softmax, layer norm, gelu", ("softmax", "layer_norm", "gelu", "nll_loss")),
    ("optimizer (AdamW, clipping)", ("lerp", "addcmul", "addcdiv", "_foreach", "vector_norm", "clamp", "sqrt")),
]


def group_of(name):
    n = name.lower()
    for g, keys in GROUPS:
        if any(k in n for k in keys):
            return g
    return "other (copies, adds, views, ...)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-batch", type=int, default=4)
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=384)
    ap.add_argument("--top", type=int, default=8, help="also list the N largest operators")
    args = ap.parse_args()
    import torch
    import transformers
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = transformers.BertConfig()
    model = transformers.BertForQuestionAnswering(cfg)
    decay = [p for n, p in model.named_parameters() if "bias" not in n and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=3e-5)

    def batch(b):
        ids = torch.randint(1000, 30000, (b, args.length))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}

    def train_step():
        model.train()
        out = model(**batch(args.train_batch), start_positions=torch.tensor([5] * args.train_batch),
                    end_positions=torch.tensor([9] * args.train_batch))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()

    def infer_step():
        model.eval()
        with torch.no_grad():
            out = model(**batch(args.eval_batch))
            out.start_logits.tolist()

    for name, fn in (("training step", train_step), ("inference batch", infer_step)):
        fn()  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        totals = {}
        for e in prof.key_averages():
            totals[group_of(e.key)] = totals.get(group_of(e.key), 0) + e.self_cpu_time_total
        total = sum(totals.values())
        print(f"{name} (bert-base, {'train' if fn is train_step else 'eval'} batch "
              f"{args.train_batch if fn is train_step else args.eval_batch}x{args.length}, "
              f"{args.threads} threads, torch {torch.__version__}): {total / 1e6:.2f} s of operator self time")
        for g, t in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"  {g:32s} {100 * t / total:5.1f}%")
        print("  largest operators:")
        for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:args.top]:
            print(f"    {e.key:40s} {100 * e.self_cpu_time_total / total:5.1f}%  ({group_of(e.key)})")


if __name__ == "__main__":
    main()
