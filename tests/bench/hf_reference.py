#!/usr/bin/env python3
"""OPTIONAL: Hugging Face reference figures for `spanqa bench`, in spanqa's bench.json format.

Nothing runs this automatically (`make test` runs Go tests only); it needs Python with torch and
transformers, as GPU machines usually have. It times, on the same device, what HF's Trainer does
for one optimizer step (train mode, forward with start/end positions, backward,
clip_grad_norm_(1.0), torch.optim.AdamW with Trainer's decay groups, zero_grad) and no_grad
inference in eval mode, on exactly the batches spanqa timed: it reads spanqa's bench.json, rebuilds
each stratum's timed batch (batch size, padded length, every row's length and question length)
with random token ids, and estimates an epoch the same way (see train/bench/plan.go). Then

    bin/spanqa bench --output bench.json                         # spanqa, any device
    python3 tests/bench/hf_reference.py --spanqa bench.json --output hf_bench.json
    bin/spanqa bench --from bench.json --compare hf_bench.json   # spanqa/HF ratios

Run it from anywhere: the repository's Go package folder named `torch` must not shadow PyTorch,
so the repository root is dropped from sys.path. `--dry-run` checks the plan without torch.
"""

import argparse
import datetime
import json
import os
import platform
import random
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The repository root holds Go's torch/ folder, which Python would import as a namespace package.
sys.path = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

SCHEMA = "spanqa-bench/1"
CLEAN_OTHER_CORES = 0.25  # as train/bench: a step disturbed by more is run again
LEARNING_RATE, MAX_GRAD_NORM, WEIGHT_DECAY = 3e-5, 1.0, 0.01


# --- machine load (Linux /proc; zeros elsewhere) -----------------------------------------------

def cpu_ticks():
    """(busy ticks of the machine, ticks of this process), USER_HZ = 100."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        busy = sum(float(v) for i, v in enumerate(fields) if i not in (0, 4, 5) and i <= 8)
        t = os.times()
        return busy, (t.user + t.system) * 100
    except OSError:
        return 0.0, 0.0


def other_cores(a, b, wall):
    if wall <= 0:
        return 0.0
    return max(0.0, (b[0] - a[0]) - (b[1] - a[1])) / 100 / wall


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return [0.0, 0.0, 0.0]


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_mib(field="VmHWM:"):
    """A /proc/self/status memory field (VmHWM: peak, VmRSS: now) in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":")[0].strip() == "model name":
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# --- batches -----------------------------------------------------------------------------------

def rows_batch(rows, length, layout, vocab, rng):
    """Token ids, attention mask, token types and answer positions for rows [(n, q)] padded to
    length: [CLS] q [SEP] c [SEP] (or <s> q </s></s> c </s>), q being the index of the first
    separator, as train/bench/windows.go lays out its synthetic windows."""
    seps = 2 if layout["double_sep"] else 1
    ids, mask, types, starts, ends = [], [], [], [], []
    for n, q in rows:
        row = [rng.randrange(1000, vocab) for _ in range(n)]
        row[0], row[n - 1] = layout["cls"], layout["sep"]
        for k in range(q, min(q + seps, n - 1)):
            row[k] = layout["sep"]
        ids.append(row + [layout["pad"]] * (length - n))
        mask.append([1] * n + [0] * (length - n))
        types.append([0] * (q + 1) + [1] * (n - q - 1) + [0] * (length - n))
        lo, hi = min(q + seps, n - 2), n - 2
        s = rng.randint(lo, hi)
        starts.append(s)
        ends.append(min(hi, s + rng.randrange(4)))
    return ids, mask, types, starts, ends


def estimate(strata, seconds):
    """Epoch seconds: every stratum at its timed batch's FLOP rate (train/bench/plan.go)."""
    t = 0.0
    for st, s in zip(strata, seconds):
        if st["rep_flops"] > 0:
            t += st["flops"] / (st["rep_flops"] / s)
        else:
            t += st["batches"] * s
    return t


# --- torch ---------------------------------------------------------------------------------------

def measure_roofline(torch, device, dtype, reps):
    shapes = []
    for m, k, n in ((1024, 1024, 1024), (2048, 2048, 2048), (3072, 768, 3072)):
        a = torch.randn(m, k, device=device).to(dtype)
        b = torch.randn(k, n, device=device).to(dtype)
        with torch.no_grad():
            a @ b
            sync(torch, device)
            best = None
            for _ in range(reps):
                t0 = time.perf_counter()
                a @ b
                sync(torch, device)
                d = time.perf_counter() - t0
                best = d if best is None else min(best, d)
        shapes.append({"M": m, "K": k, "N": n, "gflops": 2 * m * k * n / best / 1e9})
    name = "bfloat16" if dtype == torch.bfloat16 else "float32"
    return {"gflops": max(s["gflops"] for s in shapes), "dtype": name, "shapes": shapes}


def sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_model(transformers, torch, model, device):
    cfg = dict(model["config"])
    model_type = cfg.pop("model_type")
    config = transformers.AutoConfig.for_model(model_type, **cfg)
    return transformers.AutoModelForQuestionAnswering.from_config(config).to(device)


def trainer_optimizer(torch, model):
    """torch.optim.AdamW with HF Trainer's groups: no decay for biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if "bias" in name or "LayerNorm" in name or "layernorm" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8)


def run_phase(torch, model, opt, phase, layout, vocab, device, args, rng):
    train = phase["mode"] == "train"
    model.train(train)
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
                if args.bf16 else None)

    def step(batch):
        ids, mask, types, starts, ends = batch
        # Tensors are made on the host and moved, as a data loader's batches are.
        inputs = {"input_ids": torch.tensor(ids).to(device),
                  "attention_mask": torch.tensor(mask).to(device)}
        if layout["type_ids"] and model.config.type_vocab_size > 1:
            inputs["token_type_ids"] = torch.tensor(types).to(device)
        ctx = autocast if autocast is not None else _Null()
        if train:
            inputs["start_positions"] = torch.tensor(starts).to(device)
            inputs["end_positions"] = torch.tensor(ends).to(device)
            with ctx:
                loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            opt.step()
            model.zero_grad(set_to_none=True)
        else:
            with torch.no_grad(), ctx:
                out = model(**inputs)
            out.start_logits.float().cpu()
            out.end_logits.float().cpu()
        sync(torch, device)

    strata = phase["strata"]
    batches = [rows_batch(st["rep_rows"], st["rep_length"], layout, vocab, rng) for st in strata]
    res = {k: phase[k] for k in ("name", "mode", "setting", "batch", "epoch_flops",
                                 "mean_padded_length", "padding_efficiency", "strata")}
    res["start_rss_mib"] = rss_mib("VmRSS:")
    res["peak_rss_reset"] = reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    step(batches[-1])  # warm-up on the costliest batch
    res["warmup_seconds"] = time.perf_counter() - t0
    steps, seconds = [], []
    load0, c_phase, w_phase = loadavg()[0], cpu_ticks(), time.perf_counter()
    for k, b in enumerate(batches):
        best = None
        for run in range(args.retries + 1):
            c0, t0 = cpu_ticks(), time.perf_counter()
            step(b)
            d = time.perf_counter() - t0
            oc = other_cores(c0, cpu_ticks(), d)
            if best is None or oc < best["other_cores"]:
                best = {"batch": strata[k]["rep_batch"], "length": strata[k]["rep_length"],
                        "seconds": d, "data_wait_seconds": 0.0, "other_cores": oc}
            best["runs"] = run + 1
            if oc <= CLEAN_OTHER_CORES:
                break
        steps.append(best)
        seconds.append(best["seconds"])
        print(f"hf:   {phase['name']} step {k + 1}/{len(batches)}: "
              f"{best['batch']}x{best['length']} in {best['seconds']:.2f}s", file=sys.stderr)
    wall = time.perf_counter() - w_phase
    epoch = estimate(strata, seconds)
    seqs = sum(st["sequences"] for st in strata)
    real_tokens = phase["mean_padded_length"] * phase["padding_efficiency"] * seqs
    res.update({
        "steps": steps,
        "epoch_seconds": epoch,
        "sequences_per_second": seqs / epoch,
        "tokens_per_second": real_tokens / epoch,
        "gflops": phase["epoch_flops"] / epoch / 1e9,
        "peak_rss_mib": rss_mib("VmHWM:"),
        "peak_device_mib": (torch.cuda.max_memory_allocated(device) / 2**20
                            if device.type == "cuda" else None),
        "data_wait_fraction": 0.0,
        "go_allocs_per_step": 0, "go_bytes_per_step": 0,
        "other_cores": other_cores(c_phase, cpu_ticks(), wall),
        "loadavg_start": load0, "loadavg_end": loadavg()[0],
    })
    return res


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spanqa", required=True, help="spanqa's bench.json: models, batches, strata")
    ap.add_argument("--output", default="hf_bench.json")
    ap.add_argument("--device", default=None, help="cpu or cuda[:N] (default: spanqa's)")
    ap.add_argument("--models", default="", help="comma-separated names or keys (default: all)")
    ap.add_argument("--phases", default="", help="comma-separated phase names (default: all)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: the threads spanqa's run used; 0: torch's)")
    ap.add_argument("--retries", type=int, default=2, help="reruns of a disturbed step")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (Trainer --bf16)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dry-run", action="store_true", help="check the plan; no torch needed")
    args = ap.parse_args()

    with open(args.spanqa) as f:
        ref = json.load(f)
    if ref.get("schema") != SCHEMA:
        sys.exit(f"{args.spanqa}: schema {ref.get('schema')!r}, want {SCHEMA!r}")
    want_models = {m for m in args.models.split(",") if m}
    want_phases = {p for p in args.phases.split(",") if p}
    models = [m for m in ref["models"] if not want_models or want_models & {m["name"], m["key"]}]
    rng = random.Random(args.seed)

    if args.dry_run:
        for m in models:
            vocab = m["config"]["vocab_size"]
            for ph in m["phases"]:
                if want_phases and ph["name"] not in want_phases or failed(ph):
                    continue
                for st in ph["strata"]:
                    ids, mask, _, s, e = rows_batch(st["rep_rows"], st["rep_length"], m["layout"], vocab, rng)
                    assert len(ids) == st["rep_batch"] and all(len(r) == st["rep_length"] for r in ids)
                    assert all(sum(r) == n for r, (n, _) in zip(mask, st["rep_rows"]))
                fake = [st["rep_flops"] / 1e10 for st in ph["strata"]]
                print(f"{m['name']} {ph['name']}: {len(ph['strata'])} batches, "
                      f"epoch at 10 GFLOP/s: {estimate(ph['strata'], fake):.0f} s")
        return

    import torch  # noqa: E402 (optional dependencies, imported only for a real run)
    import transformers

    device = torch.device(args.device or ref.get("device", "cpu"))
    threads = ref["host"].get("threads", 0) if args.threads is None else args.threads
    if threads > 0 and device.type == "cpu":
        torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    out = {
        "schema": SCHEMA, "source": "hf",
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": str(device), "quick": ref.get("quick", False),
        "precision": "bfloat16" if args.bf16 else "float32",
        "gradient_checkpointing": bool(ref.get("gradient_checkpointing")),
        "host": {"cpu_model": cpu_model(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                 "libtorch": f"torch {torch.__version__}, transformers {transformers.__version__}",
                 "loadavg_start": loadavg(), "loadavg_end": [0, 0, 0]},
        "roofline": measure_roofline(torch, device, torch.bfloat16 if args.bf16 else torch.float32, 5),
        "models": [],
    }
    print(f"hf: roofline {out['roofline']['gflops']:.1f} GFLOP/s", file=sys.stderr)
    for m in models:
        model = build_model(transformers, torch, m, device)
        if ref.get("gradient_checkpointing"):
            model.gradient_checkpointing_enable()
        opt = None
        mr = {k: m[k] for k in ("key", "name", "model_type", "config", "max_length", "windows",
                                "lengths", "layout")}
        mr["parameters"] = sum(p.numel() for p in model.parameters())
        mr["phases"] = []
        for ph in m["phases"]:
            if want_phases and ph["name"] not in want_phases:
                continue
            head = {k: ph[k] for k in ("name", "mode", "setting", "batch")}
            if failed(ph):
                # Nothing to run: spanqa's phase has no batches (it failed: out of memory, say).
                print(f"hf: {m['name']} {ph['name']}: skipped, spanqa's phase failed: {ph.get('error')}", file=sys.stderr)
                mr["phases"].append(dict(head, error=f"not run: spanqa's phase failed ({ph.get('error')})"))
                continue
            if ph["mode"] == "train" and opt is None:
                opt = trainer_optimizer(torch, model)
            try:
                res = run_phase(torch, model, opt, ph, m["layout"], m["config"]["vocab_size"], device, args, rng)
            except (RuntimeError, MemoryError) as e:  # torch's out of memory and kernel errors
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                print(f"hf: {m['name']} {ph['name']}: failed: {msg}", file=sys.stderr)
                mr["phases"].append(dict(head, error=f"HF failed: {msg}"))
                continue
            res["mfu"] = res["gflops"] / out["roofline"]["gflops"]
            print(f"hf: {m['name']} {ph['name']}: {res['sequences_per_second']:.3f} seq/s, "
                  f"MFU {100 * res['mfu']:.1f}%", file=sys.stderr)
            mr["phases"].append(res)
        for ph in mr["phases"]:  # speed-up of spanqa's batching over the seed's, in HF
            seed = next((p for p in mr["phases"] if p["name"] == ph["mode"] + "/seed" and not p.get("error")), None)
            if ph["setting"] != "seed" and seed and not ph.get("error"):
                ph["speedup_vs_seed"] = ph["sequences_per_second"] / seed["sequences_per_second"]
        out["models"].append(mr)
        del model, opt
    out["host"]["loadavg_end"] = loadavg()
    with open(args.output, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"hf: wrote {args.output}", file=sys.stderr)


def failed(phase):
    """Whether spanqa's bench.json holds no batches for this phase (it failed there)."""
    return bool(phase.get("error")) or not phase.get("strata")


if __name__ == "__main__":
    main()
