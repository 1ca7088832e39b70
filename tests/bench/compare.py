#!/usr/bin/env python3
"""spanqa against Hugging Face, interleaved: `make bench-compare`.

These machines drift by tens of percent from one minute to the next, so a spanqa run and an HF
run made an hour apart say little. This script alternates them on the same batches, phase set by
phase set: for every architecture and precision it runs, ROUNDS times,

    spanqa bench (one model)  ->  hf_reference.py on the batches that run timed  ->  ...

so the sequence is S1 H1 S2 H2 ... and every adjacent pair (S1/H1, S2/H1, S2/H2, ...) gives one
spanqa/HF ratio per phase, each from two runs made minutes apart. It prints, per phase, the
median ratio with the smallest and largest, and each side's peak resident memory, and writes the
table as Markdown (table.md) beside every run's JSON. A phase that fails on either side (out of
memory, an exception, a crashed process) is shown as failed with its reason; the others go on.

    tests/bench/compare.py --models bert,roberta,deberta,longformer --precisions f32,bf16 \
        --rounds 2 --steps 2 --out-dir bench-compare

A model name ending in "+gc" (longformer+gc) trains with gradient checkpointing on both sides
(spanqa's --gradient-checkpointing, HF's gradient_checkpointing_enable()).

It needs the HF reference environment (`make parity` installs transformers into .venv) and runs
tests/bench/hf_reference.py with that interpreter. Never run by `make test` or CI.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PHASES = ["infer/seed", "infer/spanqa", "train/seed", "train/spanqa"]
LABELS = {"infer/seed": "infer padded", "infer/spanqa": "infer dynamic",
          "train/seed": "train padded", "train/spanqa": "train dynamic"}


def run(cmd, log):
    """Runs cmd, its output appended to log, never raising: what it wrote tells how it went."""
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        try:
            subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
        except OSError as e:
            f.write(f"could not start: {e}\n")


def phases_of(path):
    """{phase name: phase dict} of the first model in a bench.json; {} when it is missing/broken."""
    try:
        with open(path) as f:
            rep = json.load(f)
        return {p["name"]: p for p in rep["models"][0]["phases"]}
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return {}


def phase_error(p):
    if p is None:
        return "no result (process failed, see log)"
    if p.get("error"):
        return p["error"]
    if not p.get("sequences_per_second"):
        return "no figures"
    return None


def short(msg, n=48):
    msg = " ".join(str(msg).split())
    if "out of memory" in msg.lower() or "can't allocate" in msg.lower() or "memoryerror" in msg.lower():
        return "OOM"
    return msg if len(msg) <= n else msg[: n - 1] + "…"


def compare(model, precision, rounds, args):
    """Runs the interleaved rounds for one model and precision; returns one row per phase."""
    tag = f"{model.replace('+', '-')}-{precision}"
    name, gc = (model[:-3], True) if model.endswith("+gc") else (model, False)
    log = os.path.join(args.out_dir, tag + ".log")
    spanqa, hf = [], []
    for k in range(1, rounds + 1):
        s_json = os.path.join(args.out_dir, f"{tag}-spanqa-{k}.json")
        h_json = os.path.join(args.out_dir, f"{tag}-hf-{k}.json")
        cmd = [args.spanqa, "bench", "--models", name, "--phases", ",".join(args.phases),
               "--steps", str(args.steps), "--threads", str(args.threads), "--no-profile",
               "--output", s_json]
        if precision == "bf16":
            cmd.append("--bf16")
        if gc:
            cmd.append("--gradient-checkpointing")
        print(f"bench-compare: {tag} round {k}/{rounds}: spanqa", file=sys.stderr, flush=True)
        for stale in (s_json, h_json):  # from an earlier run into the same folder
            if os.path.exists(stale):
                os.remove(stale)
        run(cmd, log)
        spanqa.append(phases_of(s_json))
        if not os.path.exists(s_json):
            hf.append({})
            continue
        cmd = [args.python, os.path.join(REPO, "tests", "bench", "hf_reference.py"), "--spanqa", s_json,
               "--output", h_json, "--threads", str(args.threads)]
        if precision == "bf16":
            cmd.append("--bf16")
        print(f"bench-compare: {tag} round {k}/{rounds}: hf", file=sys.stderr, flush=True)
        run(cmd, log)
        hf.append(phases_of(h_json))
    rows = []
    for name in args.phases:
        # The run order is S1 H1 S2 H2 ...: pair every run with its neighbours.
        order = []
        for k in range(rounds):
            order.append(("s", spanqa[k].get(name)))
            order.append(("h", hf[k].get(name)))
        ratios = []
        for (a_side, a), (b_side, b) in zip(order, order[1:]):
            if phase_error(a) or phase_error(b):
                continue
            s, h = (a, b) if a_side == "s" else (b, a)
            ratios.append(s["sequences_per_second"] / h["sequences_per_second"])
        s_ok = [p for _, p in order[0::2] if not phase_error(p)]
        h_ok = [p for _, p in order[1::2] if not phase_error(p)]
        row = {"model": model, "precision": precision, "phase": name, "ratios": ratios,
               "spanqa_seq_s": [p["sequences_per_second"] for p in s_ok],
               "hf_seq_s": [p["sequences_per_second"] for p in h_ok],
               "spanqa_peak_mib": max((p.get("peak_rss_mib") or 0 for p in s_ok), default=None),
               "hf_peak_mib": max((p.get("peak_rss_mib") or 0 for p in h_ok), default=None),
               "spanqa_error": None if s_ok else short(phase_error(order[0][1])),
               "hf_error": None if h_ok else short(phase_error(order[1][1])),
               "other_cores": max((p.get("other_cores") or 0 for p in s_ok + h_ok), default=0)}
        rows.append(row)
    return rows


def cell(row):
    if row["ratios"]:
        r = row["ratios"]
        med = statistics.median(r)
        return f"{med:.2f}x ({min(r):.2f}-{max(r):.2f}, n={len(r)})"
    if row["spanqa_error"]:
        return f"spanqa failed: {row['spanqa_error']}"
    if row["hf_error"]:
        return f"HF failed: {row['hf_error']}"
    return "no pair"


def mib(v):
    return "-" if not v else f"{v / 1024:.2f}"


def table(rows):
    lines = ["| model | precision | phase | spanqa / HF (median, range, pairs) | seq/s spanqa | seq/s HF "
             "| peak GiB spanqa | peak GiB HF | other cores |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sq = "/".join(f"{v:.3g}" for v in r["spanqa_seq_s"]) or "-"
        hq = "/".join(f"{v:.3g}" for v in r["hf_seq_s"]) or "-"
        lines.append(f"| {r['model']} | {r['precision']} | {LABELS.get(r['phase'], r['phase'])} | {cell(r)} "
                     f"| {sq} | {hq} | {mib(r['spanqa_peak_mib'])} | {mib(r['hf_peak_mib'])} "
                     f"| {r['other_cores']:.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="bert,roberta,deberta,longformer")
    ap.add_argument("--precisions", default="f32,bf16", help="f32, bf16 or both")
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--rounds", type=int, default=2, help="spanqa/HF alternations per model and precision")
    ap.add_argument("--steps", type=int, default=2, help="timed steps (length strata) per phase")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-dir", default="bench-compare")
    ap.add_argument("--spanqa", default=os.path.join(REPO, "bin", "spanqa"))
    ap.add_argument("--python", default=os.path.join(REPO, ".venv", "bin", "python"))
    args = ap.parse_args()
    args.phases = [p for p in args.phases.split(",") if p]
    bad = [p for p in args.phases if p not in PHASES]
    if bad:
        ap.error(f"unknown phase {bad} (have {', '.join(PHASES)})")
    precisions = [p for p in args.precisions.split(",") if p]
    if any(p not in ("f32", "bf16") for p in precisions):
        ap.error("--precisions takes f32 and/or bf16")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    os.makedirs(args.out_dir, exist_ok=True)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    rows = []
    for precision in precisions:
        for model in [m for m in args.models.split(",") if m]:
            rows.extend(compare(model, precision, args.rounds, args))
            # Written after every model, so an interrupted run keeps what it measured.
            with open(os.path.join(args.out_dir, "table.md"), "w") as f:
                f.write(f"bench-compare started {started}, {args.rounds} rounds, {args.steps} steps, "
                        f"{args.threads} threads; spanqa/HF sequences per second, interleaved\n\n")
                f.write(table(rows) + "\n")
            with open(os.path.join(args.out_dir, "compare.json"), "w") as f:
                json.dump(rows, f, indent=1)
    print(table(rows))


if __name__ == "__main__":
    main()
