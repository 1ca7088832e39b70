#!/usr/bin/env python3
"""Key figures for tests/gpu/check.sh's summary.md, one line per call, from what a step wrote.

    figures.py doctor  doctor.txt
    figures.py parity  parity.log
    figures.py train   eval_results.json wall_seconds_file [min_f1]
    figures.py bench   bench.json [gpu name]      (also: bench-table for the summary's table)
    figures.py hf      spanqa_bench.json hf_bench.json
    figures.py serve   serve.json
    figures.py goals   OUT gpu_name               (the issue's H100 goals, met or not)

Standard library only (no torch: the repository's Go folder named torch must not shadow
PyTorch, and none is needed). Missing or partial inputs give "n/a" rather than an error: the
summary is written whatever happened.
"""

import json
import os
import re
import sys

# Dense peak TFLOP/s per GPU (vendor datasheets; no sparsity): bf16 on tensor cores, and
# float32 without TF32, which libtorch leaves off for matmuls by default. Matched in order
# against the name CUDA reports.
PEAKS = [
    ("GH200", 989.4, 66.9),
    ("H200", 989.4, 66.9),
    ("H100 PCIe", 756.5, 51.2),
    ("H100 NVL", 835.5, 60.0),
    ("H100", 989.4, 66.9),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("A100", 312.0, 19.5),
]


def peak(gpu, precision):
    for key, bf16, f32 in PEAKS:
        if key.lower() in (gpu or "").lower():
            return bf16 if precision == "bfloat16" else f32
    return None


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def doctor(path):
    try:
        text = open(path).read()
    except OSError:
        return "n/a"
    keep = []
    for key in ("libtorch:", "CUDA:", "GPU 0:", "c10d:"):
        m = re.search(r"^" + re.escape(key) + r"\s*(.*)$", text, re.M)
        if m:
            keep.append(key.rstrip(":") + " " + m.group(1).strip())
    return "; ".join(keep) or "n/a"


def gpu_name(path):
    try:
        m = re.search(r"^GPU 0:\s*([^,]+),", open(path).read(), re.M)
    except OSError:
        return ""
    return m.group(1).strip() if m else ""


def parity(path):
    try:
        text = open(path).read()
    except OSError:
        return "n/a"
    out = []
    for kind, pat in (("f32", r"PARITY (\S+) \((\w+) models\): logits max \|diff\| (\S+), loss rel \S+, worst gradient rel L2 (\S+)"),
                      ("bf16", r"BF16 (\S+) \((\w+) models\): logits rel L2 (\S+), loss rel \S+, gradients rel L2 (\S+)")):
        rows = re.findall(pat, text)
        if rows:
            src = rows[0][1]
            worst_l = max(float(r[2]) for r in rows)
            worst_g = max(float(r[3]) for r in rows)
            out.append("%s: %d archs (%s weights), logits %.2g, grads %.2g" % (kind, len(rows), src, worst_l, worst_g))
    steps = re.findall(r"ADAMW (\S+) \(\w+ models\): (\d+) steps", text)
    if steps:
        out.append("AdamW: %d archs x %s steps" % (len(steps), steps[0][1]))
    fails = re.findall(r"^\s*--- FAIL: (\S+)", text, re.M)
    if fails:
        out.append("FAILED: " + ", ".join(fails[:6]))
    skips = re.findall(r"^\s*--- SKIP: (\S+)", text, re.M)
    if skips and not out:
        out.append("skipped: " + ", ".join(skips[:4]))
    return "; ".join(out) or "n/a"


def train(path, wall_file, min_f1=None):
    r = load(path)
    if not r:
        return "no eval_results.json"
    try:
        secs = "%.0f s wall" % float(open(wall_file).read())
    except (OSError, ValueError):
        secs = "wall time n/a"
    # The trainer's own figure (steps and evaluation, without start-up and data generation).
    try:
        log = open(os.path.join(os.path.dirname(os.path.dirname(path)), "logs", "train.log")).read()
        m = re.search(r"^train: done: (\d+) steps in ([^ ]+) \(([^)]*)\)", log, re.M)
        if m:
            secs += " (trainer: %s steps in %s, %s)" % m.groups()
    except OSError:
        pass
    f1, em = r.get("eval_f1"), r.get("eval_exact_match")
    s = "F1 %.2f, EM %.2f, %s" % (f1, em, secs)
    if min_f1 is not None:
        s += " (F1 >= %s: %s)" % (min_f1, "yes" if f1 >= float(min_f1) else "NO")
    return s


def phases(rep):
    for m in rep.get("models", []):
        for p in m.get("phases", []):
            yield m, p


def bench(path, gpu=""):
    rep = load(path)
    if not rep:
        return "no bench.json"
    pk = peak(gpu, rep.get("precision"))
    out = []
    for m, p in phases(rep):
        if p.get("error"):
            out.append("%s %s: %s" % (m["key"], p["name"], p["error"][:60]))
            continue
        s = "%s %s %.1f seq/s MFU %.0f%%" % (m["key"], p["name"], p["sequences_per_second"], 100 * p["mfu"])
        if pk:
            s += " (%.0f%% of peak)" % (100 * p["gflops"] / (pk * 1000))
        out.append(s)
    return "%s %s: " % (rep.get("device"), rep.get("precision")) + "; ".join(out)


def bench_table(path, gpu=""):
    """Markdown rows: model, precision, phase, seq/s, tokens/s, MFU (roofline), MFU (peak)."""
    rep = load(path)
    if not rep:
        return ""
    pk = peak(gpu, rep.get("precision"))
    rows = []
    for m, p in phases(rep):
        if p.get("error"):
            rows.append("| %s | %s | %s | error: %s | | | |" % (m["key"], rep["precision"], p["name"], p["error"][:80]))
            continue
        rows.append("| %s | %s | %s | %.1f | %.0f | %.1f%% | %s |" % (
            m["key"], rep["precision"], p["name"], p["sequences_per_second"], p["tokens_per_second"],
            100 * p["mfu"], "%.1f%%" % (100 * p["gflops"] / (pk * 1000)) if pk else "n/a"))
    return "\n".join(rows)


def hf(spanqa_path, hf_path):
    a, b = load(spanqa_path), load(hf_path)
    if not a or not b:
        return "n/a"
    theirs = {(m["key"], p["name"]): p for m, p in phases(b)}
    out = []
    for m, p in phases(a):
        q = theirs.get((m["key"], p["name"]))
        if q and q.get("sequences_per_second") and p.get("sequences_per_second"):
            out.append("%s %s %.2fx" % (m["key"], p["name"], p["sequences_per_second"] / q["sequences_per_second"]))
    return ("spanqa/HF seq/s: " + "; ".join(out)) if out else "n/a"


def serve(path):
    r = load(path)
    if not r:
        return "no serve.json"
    levels = ["%d clients %.0f req/s p50 %.1f ms p99 %.1f ms" % (l["clients"], l["requests_per_second"], l["p50_ms"], l["p99_ms"])
              for l in r.get("levels", [])]
    return "%s %s: " % (r.get("size"), r.get("device")) + "; ".join(levels)


def find(rep, key, name):
    for m, p in phases(rep or {}):
        if m["key"] == key and p["name"] == name and not p.get("error"):
            return p
    return None


def goals(out, gpu):
    """The issue's goals on an H100, from the files a GPU run wrote."""
    lines = []
    bf16 = load(os.path.join(out, "bench-bf16.json"))
    p = find(bf16, "bert", "train/spanqa")
    pk = peak(gpu, "bfloat16")
    if p and pk:
        v = p["gflops"] / (pk * 1000)
        lines.append("bf16 training MFU >= 40%% on bert-base, dynamic shapes: %.1f%% of %s's %.0f TFLOP/s peak (%.1f%% of the measured roofline): %s"
                     % (100 * v, gpu, pk, 100 * p["mfu"], "met" if v >= 0.40 else "NOT met"))
    elif p:
        lines.append("bf16 training MFU on bert-base, dynamic shapes: %.1f%% of the measured roofline (no datasheet peak known for %r)" % (100 * p["mfu"], gpu))
    else:
        lines.append("bf16 training MFU: not measured")
    for prec in ("f32", "bf16"):
        a, b = load(os.path.join(out, "bench-%s.json" % prec)), load(os.path.join(out, "hf-bench-%s.json" % prec))
        if not a or not b:
            lines.append("ahead of HF (%s): not measured" % prec)
            continue
        behind = []
        n = 0
        for m, pa in phases(a):
            pb = find(b, m["key"], pa["name"])
            if pb and pa.get("sequences_per_second") and pb.get("sequences_per_second"):
                n += 1
                r = pa["sequences_per_second"] / pb["sequences_per_second"]
                if r < 1:
                    behind.append("%s %s %.2fx" % (m["key"], pa["name"], r))
        if n == 0:
            verdict = "nothing compared"
        elif behind:
            verdict = "NOT met (behind: " + "; ".join(behind) + ")"
        else:
            verdict = "met"
        lines.append("ahead of HF (%s), %d phases compared: %s" % (prec, n, verdict))
    t = load(os.path.join(out, "train", "eval_results.json"))
    try:
        secs = float(open(os.path.join(out, "train", "wall_seconds")).read())
    except (OSError, ValueError):
        secs = None
    if t and secs is not None:
        lines.append("embedded default under 60 s: %.0f s, F1 %.2f: %s" % (secs, t.get("eval_f1", 0), "met" if secs < 60 and t.get("eval_f1", 0) >= 90 else "NOT met"))
    else:
        lines.append("embedded default under 60 s: not measured")
    return "\n".join("- " + l for l in lines)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    fn = {"doctor": doctor, "gpu-name": gpu_name, "parity": parity, "train": train, "bench": bench,
          "bench-table": bench_table, "hf": hf, "serve": serve, "goals": goals}.get(cmd)
    if fn is None:
        print("figures.py: unknown command %r" % cmd, file=sys.stderr)
        return 2
    try:
        print(fn(*args))
    except Exception as e:  # a figure must never stop the summary
        print("n/a (%s: %s)" % (type(e).__name__, e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
