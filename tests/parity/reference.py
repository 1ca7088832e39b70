"""Live Hugging Face reference for spanqa's parity suite (tests/parity, `make parity`).

Subcommands:
  models OUT --seeds N     for each architecture and seed: a random small configuration, a model
                           built by transformers and saved by it (safetensors, .bin or sharded), and
                           what transformers computes on random padded batches (eval logits, train
                           loss, every gradient, float64 gradient norms, a 6-step Trainer AdamW run);
                           with --relative, BERT/RoBERTa with relative_key(_query) positions (needs
                           transformers 4.57.6: run with the hf457 packages first on PYTHONPATH)
  logits DIR...            loads each DIR (a model spanqa saved) with from_pretrained and writes
                           DIR/hf_logits.safetensors (--output) for the inputs in DIR/inputs.safetensors
  tokenizers OUT           encodings of ../shared's pairs and 100k random strings by the tokenizers
                           package (tokenizer.json) and by transformers (a folder with only the
                           original vocabulary files)
  qa OUT                   random SQuAD-like data; run_qa.py's features (train/eval, padded or not),
                           utils_qa.py's post-processing of random logits, and SQuAD v1.1/v2.0 scores
                           of random predictions
  squad-v2-metrics DIR     the v2.0 scores of `qa` by transformers 4.57.6's squad_metrics (hf457)
  legacy-singles OUT       data/tokenize/testdata/transformers_legacy_singles.json.gz

Only the test reads what this writes; nothing here is on the product's path.
"""

import argparse
import collections
import copy
import json
import os
import random
import re
import shutil
import string
import sys
import tempfile
import warnings

import torch

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoConfig, AutoModelForQuestionAnswering, Trainer, TrainingArguments  # noqa: E402

if os.environ["TRANSFORMERS_VERBOSITY"] == "error":  # the test asks for warnings where it reads them
    transformers.logging.set_verbosity_error()
try:
    transformers.utils.logging.disable_progress_bar()
except AttributeError:
    pass

ARCHS = ["bert", "roberta", "deberta-v2", "longformer"]
# spanqa implements these hidden_act values (models/model.go activation).
ACTS = ["gelu", "relu", "gelu_new", "gelu_pytorch_tanh", "tanh"]


def heads_and_hidden(rng):
    while True:
        heads = rng.choice([1, 2, 4, 8])
        hidden = heads * rng.choice([4, 8, 16])
        if 16 <= hidden <= 64:
            return heads, hidden


def draw_config(arch, rng, max_len, relative=False):
    """A random small configuration in the space HF's config files allow for arch; relative
    (BERT/RoBERTa) draws one of the learned relative position types transformers 4.x had."""
    heads, hidden = heads_and_hidden(rng)
    c = dict(
        model_type=arch,
        vocab_size=rng.randint(100, 300),
        hidden_size=hidden,
        num_hidden_layers=rng.randint(1, 3),
        num_attention_heads=heads,
        intermediate_size=rng.choice([16, 24, 32, 48, 64, 96, 128]),
        hidden_act=rng.choice(ACTS),
        # Dropout 0: the comparisons are deterministic.
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=rng.choice([0.02, 0.05, 0.1]),
        layer_norm_eps=rng.choice([1e-12, 1e-7, 1e-5]),
    )
    if arch == "bert":
        c.update(max_position_embeddings=rng.randint(max_len, 2 * max_len), type_vocab_size=rng.randint(1, 3), pad_token_id=0)
    elif arch == "roberta":
        c.update(
            max_position_embeddings=max_len + 2 + rng.randint(0, 20),
            type_vocab_size=rng.choice([1, 2]),
            pad_token_id=1, bos_token_id=0, eos_token_id=2,
        )
    if relative:
        c["position_embedding_type"] = rng.choice(["relative_key", "relative_key_query"])
    elif arch == "deberta-v2":
        c.update(max_position_embeddings=rng.choice([max_len, 2 * max_len, 128, 512]), pad_token_id=0)
        c["type_vocab_size"] = rng.choice([0, 0, 2])
        c["relative_attention"] = rng.random() < 0.85
        c["position_biased_input"] = rng.random() < 0.3 or not c["relative_attention"]
        c["pos_att_type"] = rng.choice([["p2c", "c2p"], "p2c|c2p", ["c2p"], ["p2c"], "c2p", "P2C|C2P", None])
        c["position_buckets"] = rng.choice([-1, 4, 8, 16, 32])
        c["max_relative_positions"] = rng.choice([-1, -1, 8, 16, 64, 128])
        c["share_att_key"] = rng.random() < 0.6
        c["norm_rel_ebd"] = rng.choice(["none", "layer_norm", "layer_norm|none"])
        if rng.random() < 0.35:
            c["conv_kernel_size"] = rng.choice([1, 3, 5])
            c["conv_act"] = rng.choice(["tanh", "gelu", "relu"])
            c["conv_groups"] = rng.choice([g for g in (1, 2, 4) if hidden % g == 0])
        if rng.random() < 0.2:
            c["embedding_size"] = rng.choice([16, 24, 32])
    elif arch == "longformer":
        top = rng.choice([4, 8, 12, 16])
        sizes = [w for w in (4, 6, 8, 12, 16) if w <= top and top % w == 0]
        windows = [rng.choice(sizes) for _ in range(c["num_hidden_layers"])]
        windows[rng.randrange(len(windows))] = top
        c.update(
            max_position_embeddings=max_len + top + 2 + rng.randint(0, 10),
            type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, sep_token_id=2,
            # An int is expanded to a per-layer list by HF; both forms are exercised.
            attention_window=windows if (rng.random() < 0.7 or len(set(windows)) > 1) else top,
        )
    return c


SPECIALS = {  # cls/bos, sep/eos, pad
    "bert": (1, 2, 0), "deberta-v2": (1, 2, 0), "roberta": (0, 2, 1), "longformer": (0, 2, 1),
}


def draw_batch(arch, cfg, rng, batch, width, explicit_global, padded=True):
    """A right-padded batch of QA pairs with mixed lengths; the longest row is exactly width."""
    cls, sep, pad = SPECIALS[arch]
    lengths = [width] + [rng.randint(6, width) for _ in range(batch - 1)]
    if not padded:
        lengths = [width] * batch
    elif all(n == width for n in lengths):
        lengths[-1] = max(6, width - rng.randint(1, 4))
    rng.shuffle(lengths)
    ids, mask, types, glob, starts, ends = [], [], [], [], [], []
    pair_sep = [sep, sep] if arch in ("roberta", "longformer") else [sep]
    for n in lengths:
        q = rng.randint(1, max(1, n - len(pair_sep) - 3))
        c = n - q - len(pair_sep) - 2
        if c < 1:
            q, c = q + c - 1, 1
        tok = lambda k: [rng.randrange(3, cfg["vocab_size"]) for _ in range(k)]  # noqa: E731
        row = [cls] + tok(q) + pair_sep + tok(c) + [sep]
        assert len(row) == n, (len(row), n)
        seg = [0] * (q + 1 + len(pair_sep)) + [1] * (c + 1)
        ids.append(row + [pad] * (width - n))
        mask.append([1] * n + [0] * (width - n))
        types.append(seg + [0] * (width - n))
        g = [0] * width
        if explicit_global:
            # Random global tokens, a row without any, or a batch without any.
            if rng.random() < 0.75:
                for i in rng.sample(range(n), rng.randint(1, min(4, n))):
                    g[i] = 1
        glob.append(g)
        ctx_start = q + 1 + len(pair_sep)
        r = rng.random()
        if r < 0.15:
            s = e = 0  # the no-answer convention
        elif r < 0.25:
            s, e = rng.randrange(ctx_start, n), 200  # clamped to width and ignored
        else:
            s = rng.randrange(ctx_start, n)
            e = rng.randrange(s, n)
        starts.append(s)
        ends.append(e)
    if all(e >= width for e in ends):
        ends[0] = starts[0]  # a batch whose every target is ignored has a NaN loss
    t = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    out = {"input_ids": t(ids), "attention_mask": t(mask)}
    if arch == "bert" or (arch == "deberta-v2" and rng.random() < 0.7):
        tv = max(1, cfg.get("type_vocab_size", 0))
        out["token_type_ids"] = t(types).clamp(max=tv - 1) if tv > 0 else t(types)
    if arch == "roberta" and cfg["type_vocab_size"] == 2 and rng.random() < 0.5:
        out["token_type_ids"] = t(types)
    if arch == "longformer" and explicit_global:
        out["global_attention_mask"] = t(glob)
    if arch == "deberta-v2" and cfg.get("type_vocab_size", 0) == 0 and "token_type_ids" in out:
        pass  # ignored by the model: no token-type table
    out["start_positions"] = t(starts)
    out["end_positions"] = t(ends)
    return out


def model_inputs(b, with_positions):
    keys = ["input_ids", "attention_mask", "token_type_ids", "global_attention_mask"]
    if with_positions:
        keys += ["start_positions", "end_positions"]
    return {k: v for k, v in b.items() if k in keys}


def save_model(model, out, fmt, rng):
    if fmt == "safetensors":
        model.save_pretrained(out)
    elif fmt == "sharded":
        model.save_pretrained(out, max_shard_size=rng.choice(["8KB", "20KB", "60KB"]))
    elif fmt == "bin":
        # transformers 5 writes only safetensors; pytorch_model.bin as earlier versions wrote it
        # (torch.save of the state dict) is what older hub checkpoints carry.
        model.save_pretrained(out)
        os.remove(os.path.join(out, "model.safetensors"))
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, "pytorch_model.bin"))
    else:
        raise ValueError(fmt)


def case(arch, seed, root, skip_step=None, relative=False):
    """One random configuration. skip_step (Longformer) makes that trajectory step's batch have no
    global token at all, so HF has no gradient for the global projections in that step."""
    rng = random.Random(f"{arch}/{seed}" + ("/skip" if skip_step is not None else "") + ("/relative" if relative else ""))
    max_len = 40 if arch != "longformer" else 50
    cfg_dict = draw_config(arch, rng, max_len, relative)
    fmt = rng.choice(["safetensors"] * 6 + ["bin"] * 2 + ["sharded"] * 2)
    attn = None
    if arch in ("bert", "roberta") and seed % 4 == 3:
        attn = "eager"  # HF's default is sdpa for these two; eager on every fourth seed
    model_type = cfg_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg_dict)
    torch.manual_seed(seed)
    kwargs = {"attn_implementation": attn} if attn else {}
    model = AutoModelForQuestionAnswering.from_config(config, **kwargs)
    # HF's init leaves biases at 0 and LayerNorm weights at 1, which would hide a bias loaded into
    # the wrong place: every parameter gets noise, as training would give it.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    name = f"{arch}-{'relative-' if relative else ''}{seed:03d}" + (f"-noglobal-step{skip_step + 1}" if skip_step is not None else "")
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    save_model(model, out, fmt, rng)
    # Reload as a user would, so that the reference is what from_pretrained gives.
    model = AutoModelForQuestionAnswering.from_pretrained(out, **kwargs)
    explicit_global = arch == "longformer" and (rng.random() < 0.5 or skip_step is not None)
    tensors = {}
    meta = {
        "arch": arch, "seed": seed, "format": fmt, "attn_implementation": model.config._attn_implementation,
        "config": cfg_dict, "transformers": transformers.__version__, "torch": torch.__version__,
        "explicit_global": explicit_global,
    }

    # Eval logits and train loss/gradients on one padded batch.
    width = rng.randint(12, max_len)
    b = draw_batch(arch, cfg_dict, rng, rng.randint(2, 4), width, explicit_global)
    for k, v in b.items():
        tensors["batch." + k] = v
    model.eval()
    with torch.no_grad():
        o = model(**model_inputs(b, False))
    tensors["eval.start_logits"] = o.start_logits.contiguous()
    tensors["eval.end_logits"] = o.end_logits.contiguous()

    model.train()
    model.zero_grad()
    o = model(**model_inputs(b, True))
    o.loss.backward()
    meta["loss"] = o.loss.item()
    names = [n for n, _ in model.named_parameters()]
    meta["params"] = names
    missing = []
    for n, p in model.named_parameters():
        if p.grad is None:
            missing.append(n)
        else:
            tensors["grad." + n] = p.grad.detach().clone().contiguous()
    meta["no_grad"] = missing
    # The same pass in float64: the test uses it to confirm that the parameters it names as having
    # no true gradient really have none (their float32 gradients are rounding noise).
    m64 = copy.deepcopy(model).double()
    m64.zero_grad()
    m64(**model_inputs(b, True)).loss.backward()
    meta["grad64_batch"] = "batch"
    if not all(torch.isfinite(p.grad).all() for p in m64.parameters() if p.grad is not None):
        # Longformer's float64 backward gives NaN through padding (to the window, or of the global
        # rows of samples with fewer global tokens than others); which parameters have no true
        # gradient does not depend on the batch, so one row without padding answers.
        top = max(cfg_dict["attention_window"]) if isinstance(cfg_dict["attention_window"], list) else cfg_dict["attention_window"]
        full = draw_batch(arch, cfg_dict, rng, 1, top * max(2, width // top), False, padded=False)
        m64.zero_grad()
        m64(**model_inputs(full, True)).loss.backward()
        meta["grad64_batch"] = "unpadded batch"
    meta["grad64_norms"] = {n: (p.grad.norm().item() if p.grad is not None else 0.0) for n, p in m64.named_parameters()}
    del m64
    model.zero_grad()

    # Six optimizer steps with what HF's Trainer builds: its decay groups, optimizer (adamw_torch_fused
    # by default on torch >= 2.8), linear warmup schedule and gradient clipping.
    lr = rng.choice([1e-3, 3e-3])
    wd = rng.choice([0.0, 0.01, 0.1])
    mgn = rng.choice([1.0, 0.5, 1e9])
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, learning_rate=lr, weight_decay=wd, warmup_steps=2, max_steps=6, max_grad_norm=mgn,
            lr_scheduler_type="linear", report_to="none", use_cpu=True, save_strategy="no", logging_strategy="no",
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args)
        trainer.create_optimizer_and_scheduler(num_training_steps=6)
        opt, sched = trainer.optimizer, trainer.lr_scheduler
        by_id = {id(p): n for n, p in model.named_parameters()}
        meta["optimizer"] = {
            "class": type(opt).__name__, "optim": str(args.optim.value if hasattr(args.optim, "value") else args.optim),
            "defaults": {k: (list(v) if isinstance(v, tuple) else v) for k, v in opt.defaults.items() if isinstance(v, (int, float, bool, tuple)) or v is None},
            "groups": [{"weight_decay": g["weight_decay"], "params": [by_id[id(p)] for p in g["params"]]} for g in opt.param_groups],
        }
        meta["lr"], meta["weight_decay"], meta["max_grad_norm"] = lr, wd, mgn
        meta["warmup_steps"], meta["steps_total"] = 2, 6
        steps = []
        model.train()
        for k in range(6):
            w = rng.randint(10, max_len)
            tb = draw_batch(arch, cfg_dict, rng, rng.randint(2, 4), w, explicit_global)
            if explicit_global:
                g = tb["global_attention_mask"]
                if k == skip_step:
                    g.zero_()
                elif g.sum() == 0:
                    # torch's AdamW skips a parameter without a gradient, step count included;
                    # that is what the skip cases test, so the others keep global tokens.
                    g[0, 0] = 1
            for key, v in tb.items():
                tensors[f"traj.{k}.{key}"] = v
            used_lr = sched.get_last_lr()[0]
            loss = model(**model_inputs(tb, True)).loss
            loss.backward()
            if hasattr(trainer, "_clip_grad_norm"):
                gn = trainer._clip_grad_norm(model)
            else:  # transformers 4.x clips inline in its training loop, with the same call
                gn = trainer.accelerator.clip_grad_norm_(model.parameters(), mgn)
            skipped = [n for n, p in model.named_parameters() if p.grad is None]
            opt.step()
            sched.step()
            model.zero_grad()
            steps.append({"lr": used_lr, "loss": loss.item(), "grad_norm": float(gn), "no_grad": skipped})
        meta["steps"] = steps
    for n, p in model.named_parameters():
        tensors["final." + n] = p.detach().clone().contiguous()
    save_file(tensors, os.path.join(out, "ref.safetensors"))
    with open(os.path.join(out, "case.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return name


def cmd_models(a):
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    names = []
    if a.relative:
        # BERT/RoBERTa position_embedding_type relative_key / relative_key_query: transformers 5
        # keeps the key but computes absolute positions, so the reference is 4.x (run with the
        # hf457 packages first on PYTHONPATH).
        if int(transformers.__version__.split(".")[0]) >= 5:
            raise SystemExit(f"reference: relative position models need transformers 4.x, not {transformers.__version__}")
        for arch in a.arch or ["bert", "roberta"]:
            for seed in range(a.first_seed, a.first_seed + a.seeds):
                names.append(case(arch, seed, a.out, relative=True))
        print(f"reference: {len(names)} relative-position model cases in {a.out} (transformers {transformers.__version__}, torch {torch.__version__})")
        return
    for arch in a.arch or ARCHS:
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            names.append(case(arch, seed, a.out))
    if "longformer" in (a.arch or ARCHS):
        for seed in range(2):
            names.append(case("longformer", 900 + seed, a.out, skip_step=2))
    print(f"reference: {len(names)} model cases in {a.out} (transformers {transformers.__version__}, torch {torch.__version__})")


def cmd_logits(a):
    torch.set_num_threads(1)
    for d in a.dirs:
        inp = load_file(os.path.join(d, "inputs.safetensors"))
        model = AutoModelForQuestionAnswering.from_pretrained(d).eval()
        with torch.no_grad():
            o = model(**inp)
        save_file({"start_logits": o.start_logits.contiguous(), "end_logits": o.end_logits.contiguous()},
                  os.path.join(d, a.output))


# ---------------------------------------------------------------------------------------------
# Tokenizers: the encodings the tokenizers package gives with the tokenizer.json files in ../shared,
# and the ones transformers gives for a model folder that has only the original vocabulary files
# (as microsoft/deberta-v3-base on the hub has only spm.model), on ../shared's pairs plus random
# strings.

TOKENIZERS = {
    # name: (config.json, tokenizer_config.json or None, the original files transformers reads)
    "bert-base-uncased": ({"model_type": "bert"}, {"do_lower_case": True}, ["vocab.txt"]),
    "roberta-base": ({"model_type": "roberta"}, None, ["vocab.json", "merges.txt"]),
    # microsoft/deberta-v3-base's tokenizer_config.json on the hub.
    "deberta-v3-base": ({"model_type": "deberta-v2"}, {"do_lower_case": False, "vocab_type": "spm"}, ["spm.model"]),
}

# Character pools for random strings: scripts, accents and combining marks, emoji (with joiners
# and modifiers), control and format characters, and whitespace of every kind.
POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    " .,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÉÎÕÜŒœŠšŽžĞğİıŁłŃńŘřŚśŹźŻż",
    "\u0301\u0300\u0308\u0327\u0303\u030a\u0323\u0331\u20dd",
    "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΩабвгдеёжзийклмнопрстуфхцчшщъыьэюяЖЩЯ",
    "中文字符日本語のテキストカタカナひらがな한국어텍스트漢字",
    "العربيةעבריתहिन्दीবাংলাไทยລາວ",
    "😀😂🥲👍🏽👨\u200d👩\u200d👧🇫🇷🏳️\u200d🌈❤️✨🚀🧪",
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\u0085\u00ad\u200b\u200c\u200d\u2060\ufeff\ufffd",
    " \t\n\r\u00a0\u2002\u2003\u2009\u3000\u202f",
]


def random_string(rng, max_len):
    n = rng.randint(0, max_len)
    out = []
    while len(out) < n:
        pool = rng.choice(POOLS)
        r = rng.random()
        if r < 0.05:
            out.extend(rng.choice(" \t\n") * rng.randint(2, 12))  # whitespace runs
        elif r < 0.08:
            out.extend(rng.choice(pool[:26] if pool is POOLS[0] else pool) * rng.randint(20, 80))  # very long words
        else:
            out.extend(rng.choice(pool) for _ in range(rng.randint(1, 8)))
    return "".join(out[:n])


def structure_diff(got, want):
    """Top-level keys whose content differs between two tokenizer.json objects."""
    return sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))


def encode_windows(tok, pairs, max_length, stride):
    tok.enable_truncation(max_length, stride=stride, strategy="only_second", direction="right")
    tok.no_padding()
    out = []
    for i in range(0, len(pairs), 1000):
        chunk = pairs[i : i + 1000]
        try:
            encs = tok.encode_batch(chunk)
        except Exception:
            encs = []
            for q, c in chunk:
                try:
                    encs.append(tok.encode(q, c))
                except Exception as e:  # the question leaves no room: HF raises, so must spanqa
                    encs.append(str(e)[:200])
        for enc in encs:
            if isinstance(enc, str):
                out.append({"error": enc})
                continue
            out.append({"windows": [
                {"ids": e.ids, "type_ids": e.type_ids, "offsets": [list(o) for o in e.offsets],
                 "sequence_ids": [-1 if s is None else s for s in e.sequence_ids]}
                for e in [enc] + list(enc.overflowing)
            ]})
    return out


def files_folder(src, dst, name):
    """A model folder as the hub has it without tokenizer.json: config.json, tokenizer_config.json
    where the hub has one, and the original vocabulary files."""
    config, tok_config, files = TOKENIZERS[name]
    os.makedirs(dst, exist_ok=True)
    for f in files:
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f)
    if tok_config is not None:
        with open(os.path.join(dst, "tokenizer_config.json"), "w") as f:
            json.dump(tok_config, f)


def cmd_tokenizers(a):
    import tokenizers
    from transformers import AutoTokenizer

    out = a.out
    os.makedirs(out, exist_ok=True)
    pairs_path = os.path.join(a.shared, "pairs.jsonl")
    shared_pairs = [json.loads(line) for line in open(pairs_path, encoding="utf-8")]
    for name in TOKENIZERS:
        src = os.path.join(a.shared, name)
        shared = tokenizers.Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
        # What a transformers user gets for a folder without tokenizer.json; the Go test loads the
        # same folder.
        folder = os.path.join(out, name + "-files")
        files_folder(src, folder, name)
        from_files = AutoTokenizer.from_pretrained(folder)
        diff = structure_diff(json.loads(from_files.backend_tokenizer.to_str()), json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8")))
        rng = random.Random(f"tokenizer/{name}")
        pairs = [(p["question"], p["context"]) for p in shared_pairs]
        for _ in range(a.strings // 2):
            pairs.append((random_string(rng, 24), random_string(rng, 240)))
        # Near-limit lengths: contexts that just fit, or just overflow, the window.
        for _ in range(200):
            pairs.append((random_string(rng, 8), "a " * rng.randint(a.max_length - 12, a.max_length + 4)))
        got = encode_windows(shared, pairs, a.max_length, a.stride)
        conv = encode_windows(from_files.backend_tokenizer, pairs, a.max_length, a.stride)
        mismatch = [i for i in range(len(pairs)) if got[i] != conv[i]]
        with open(os.path.join(out, name + ".jsonl"), "w", encoding="utf-8") as f:
            for i, ((q, c), g) in enumerate(zip(pairs, got)):
                g["question"], g["context"] = q, c
                if got[i] != conv[i]:
                    # Only where the two differ, to keep the file (and the Go side) small.
                    g["files"] = conv[i]
                f.write(json.dumps(g, ensure_ascii=False, separators=(",", ":")) + "\n")
        meta = {
            "max_length": a.max_length, "stride": a.stride, "pairs": len(pairs), "strings": 2 * len(pairs),
            "shared_pairs": len(shared_pairs), "files_folder": name + "-files", "files_class": type(from_files).__name__,
            "files_differs_in": diff, "files_encoding_mismatches": len(mismatch),
            "files_mismatch_shared_pairs": sum(1 for i in mismatch if i < len(shared_pairs)),
            "files_mismatch_examples": [{"question": pairs[i][0], "context": pairs[i][1], "shared": got[i], "files": conv[i]} for i in mismatch[:3]],
            "tokenizers": tokenizers.__version__, "transformers": transformers.__version__,
        }
        with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, ensure_ascii=False)
        print(f"reference: {name}: {len(pairs)} pairs; transformers {transformers.__version__} from the vocabulary files "
              f"({type(from_files).__name__}) differs from ../shared's tokenizer.json in {diff or 'nothing'} and encodes "
              f"{len(mismatch)} pairs differently")


def cmd_legacy_singles(a):
    """data/tokenize/testdata/transformers_legacy_singles.json.gz: for the folders without
    tokenizer.json, the single-sequence encodings transformers gives where they differ from
    ../shared's golden_single.jsonl (the unit tests of data/tokenize use them offline)."""
    import gzip

    import tokenizers
    from transformers import AutoTokenizer

    pairs = [json.loads(line) for line in open(os.path.join(a.shared, "pairs.jsonl"), encoding="utf-8")]
    doc = {"generator": f"transformers {transformers.__version__} (tokenizers {tokenizers.__version__}): "
           "AutoTokenizer.from_pretrained(a folder with config.json and only the files below)"
           ".backend_tokenizer.encode(text, add_special_tokens=False), for the sequences of pairs.jsonl "
           "whose encoding differs from golden_single.jsonl (tests/parity/reference.py legacy-singles)", "models": {}}
    for name in ("deberta-v3-base", "roberta-base"):
        config, tok_config, files = TOKENIZERS[name]
        gold = [json.loads(line) for line in open(os.path.join(a.shared, name, "golden_single.jsonl"), encoding="utf-8")]
        with tempfile.TemporaryDirectory() as tmp:
            files_folder(os.path.join(a.shared, name), tmp, name)
            bt = AutoTokenizer.from_pretrained(tmp).backend_tokenizer
        bt.no_truncation()
        bt.no_padding()
        seqs = {}
        for p, g in zip(pairs, gold):
            for which in ("question", "context"):
                text = p[which]
                e = bt.encode(text, add_special_tokens=False)
                offs = [list(o) for o in e.offsets]
                if e.ids != g[which]["ids"] or offs != g[which]["offsets"] or e.tokens != g[which]["tokens"]:
                    b = lambda i: len(text[:i].encode("utf-8"))  # noqa: E731
                    seqs.setdefault(p["id"], {})[which] = {
                        "ids": e.ids, "tokens": e.tokens, "offsets": offs, "byte_offsets": [[b(s), b(t)] for s, t in offs]}
        doc["models"][name] = {"files": files, "config": config, "tokenizer_config": tok_config, "sequences": seqs}
        print(f"{name}: {sum(len(v) for v in seqs.values())} sequences differ from the goldens")
    with gzip.open(a.out, "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Data and evaluation: run_qa.py's preprocessing (train and eval features), utils_qa.py's
# post-processing and the official SQuAD metrics, on random SQuAD-like data. transformers'
# pip package does not ship examples/pytorch/question-answering, so the preprocessing here is the
# documented fast-tokenizer call run_qa.py makes plus its labelling rule, and the
# post-processing and the metrics are written from their definitions (they are small); the
# metrics are also checked against ../shared's goldens of the official scripts below, and the
# v2.0 ones against transformers 4.57.6's squad_metrics (squad-v2-metrics, run with the hf457
# packages on PYTHONPATH).

QA_TOKENIZERS = {
    # name: (special tokens run_qa.py reads from the tokenizer, model_input_names)
    "bert-base-uncased": ({"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"},
                          ["input_ids", "token_type_ids", "attention_mask"]),
    "roberta-base": ({"cls_token": "<s>", "bos_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"},
                     ["input_ids", "attention_mask"]),
    "deberta-v3-base": ({"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"},
                        ["input_ids", "token_type_ids", "attention_mask"]),
}
# (max_seq_length, doc_stride) pairs: short windows so that most contexts overflow.
QA_WINDOWS = [(96, 24), (200, 64)]
WORDS = ["the", "a", "an", "Denver", "Broncos", "won", "Super", "Bowl", "50", "1,234.5", "café", "naïve", "Σίσυφος",
         "東京", "São", "Paulo", "—", "“quoted”", "résumé", "don't", "U.S.", "(1999)", "e-mail", "İstanbul", "ß", "👍🏽",
         "x", "of", "in", "and", "Kraków", "Zoë", "日本語", "ﬁnal", "２０２４", "co-operate", "naïveté", "Ελλάδα"]


def random_text(rng, n_words):
    """Word-like text: vocabulary words and random strings, joined by varied white space."""
    parts = []
    for _ in range(n_words):
        parts.append(rng.choice(WORDS) if rng.random() < 0.8 else random_string(rng, 12))
        parts.append(rng.choice([" "] * 12 + ["  ", "\n", "\t", " \u00a0", ", ", ". "]))
    return "".join(parts).strip(" ")


def random_squad(rng, n, v2, version):
    """A SQuAD-format data set of n questions on random contexts. Answers are spans of the
    context (word-aligned or not, some at its very end, some several per question); in v2 a
    third of the questions have none."""
    data, k = [], 0
    while k < n:
        paragraphs = []
        for _ in range(rng.randint(1, 3)):
            ctx = random_text(rng, rng.choice([3, 20, 60, 150, 300]))
            if rng.random() < 0.3:
                ctx = "  " + ctx  # leading white space shifts every offset
            if not any(c.isalnum() for c in ctx):
                ctx += " Denver"
            qas = []
            for _ in range(rng.randint(1, 4)):
                q = random_text(rng, rng.randint(1, 8))
                if rng.random() < 0.3:
                    q = rng.choice([" ", "   ", "\t", "\u3000", "\x1c", "\u00a0 "]) + q  # run_qa.py lstrips it
                if not q.strip():
                    q = "who?"
                answers = []
                if not (v2 and rng.random() < 0.35):
                    for _ in range(rng.choice([1, 1, 1, 2, 3])):
                        r = rng.random()
                        if r < 0.1:
                            s = max(0, len(ctx) - rng.randint(1, 8))  # at the end of the context
                            e = len(ctx)
                        elif r < 0.6:
                            words = [m.span() for m in re.finditer(r"\S+", ctx)]
                            i = rng.randrange(len(words))
                            j = min(len(words) - 1, i + rng.randint(0, 4))
                            s, e = words[i][0], words[j][1]
                        else:
                            s = rng.randrange(len(ctx))
                            e = min(len(ctx), s + rng.randint(1, 40))
                        answers.append({"text": ctx[s:e], "answer_start": s})
                qa = {"id": f"q{k:05d}{rng.randrange(16**6):06x}", "question": q, "answers": answers}
                if v2:
                    qa["is_impossible"] = not answers
                qas.append(qa)
                k += 1
            paragraphs.append({"context": ctx, "qas": qas})
        data.append({"title": f"Article {len(data)}", "paragraphs": paragraphs})
    return {"version": version, "data": data}


def flatten(squad):
    return [dict(qa, context=p["context"]) for art in squad["data"] for p in art["paragraphs"] for qa in p["qas"]]


def qa_tokenizer(shared, name):
    from transformers import PreTrainedTokenizerFast

    specials, inputs = QA_TOKENIZERS[name]
    return PreTrainedTokenizerFast(tokenizer_file=os.path.join(shared, name, "tokenizer.json"), model_input_names=inputs,
                                   padding_side="right", **specials)


def hf_features(tok, examples, max_length, stride, mode, padding):
    """run_qa.py's prepare_train_features / prepare_validation_features for a right-padding
    tokenizer: the question left-stripped, tokenizer(question, context, truncation="only_second",
    max_length, stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding),
    then the labels (train) or the offsets outside the context set to None (eval). Examples whose
    question leaves no room make HF raise; they are dropped and named in the result."""
    def call(exs):
        return tok([e["question"].lstrip() for e in exs], [e["context"] for e in exs], truncation="only_second",
                   max_length=max_length, stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                   padding=padding)

    # tokenizers' stride check is a Rust panic (a BaseException) whose message and backtrace go
    # to stderr; they are expected here.
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        try:
            encs, kept = [call(examples)], [examples]
        except BaseException as e:  # noqa: B036
            if isinstance(e, KeyboardInterrupt):
                raise
            encs, kept = [], []
            for ex in examples:
                try:
                    encs.append(call([ex]))
                    kept.append([ex])
                except BaseException as e2:  # noqa: B036
                    if isinstance(e2, KeyboardInterrupt):
                        raise
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    skipped = sorted({e["id"] for e in examples} - {e["id"] for exs in kept for e in exs})
    feats = []
    for enc, exs in zip(encs, kept):
        for i, offsets in enumerate(enc["offset_mapping"]):
            ids = enc["input_ids"][i]
            seq = enc.sequence_ids(i)
            ex = exs[enc["overflow_to_sample_mapping"][i]]
            f = {"example_id": ex["id"], "input_ids": ids, "attention_mask": enc["attention_mask"][i]}
            if "token_type_ids" in enc:
                f["token_type_ids"] = enc["token_type_ids"][i]
            if mode == "eval":
                f["offset_mapping"] = [list(o) if seq[k] == 1 else None for k, o in enumerate(offsets)]
            else:
                f["offset_mapping"] = [list(o) for o in offsets]
                # The label: the CLS position when there is no answer or the first answer is not
                # wholly inside this window's context; otherwise the token where it starts (the
                # last one starting at or before it, scanning from the first context token on,
                # past the context's end) and the one where it ends (the first one, scanning back
                # from the last context token, that does not end at or after its end, plus one).
                cls = ids.index(tok.cls_token_id) if tok.cls_token_id in ids else 0
                start = end = cls
                if ex["answers"]:
                    a = ex["answers"][0]
                    sc, ec = a["answer_start"], a["answer_start"] + len(a["text"])
                    ctx = [k for k, s in enumerate(seq) if s == 1]
                    first, last = ctx[0], ctx[-1]
                    if offsets[first][0] <= sc and offsets[last][1] >= ec:
                        k = first
                        while k < len(offsets) and offsets[k][0] <= sc:
                            k += 1
                        start = k - 1
                        k = last
                        while offsets[k][1] >= ec:
                            k -= 1
                        end = k + 1
                f["start_positions"], f["end_positions"] = start, end
            feats.append(f)
    return feats, skipped


def hf_postprocess(examples, feats, starts, ends, v2, n_best, max_answer, threshold):
    """utils_qa.postprocess_qa_predictions on numpy float32 logits (the Trainer's), written from
    its definition: per example, over its features, the null score start[0] + end[0] (the smallest
    one is kept), the n_best highest start and end logits of each feature paired when both carry
    context offsets, end >= start and the span is at most max_answer tokens; the candidates (and in
    v2 the null one) sorted by score, n_best kept (the null one put back when it fell out), their
    text cut from the context by character offsets, the "empty" placeholder when nothing usable is
    left, a softmax for the probabilities; in v2 the answer is "" when null score minus the best
    non-null score exceeds the threshold. Returns the three files' contents as json.dumps writes
    them."""
    import numpy as np

    per_example = collections.defaultdict(list)
    for i, f in enumerate(feats):
        per_example[f["example_id"]].append(i)
    predictions, nbest_json, null_odds = collections.OrderedDict(), collections.OrderedDict(), collections.OrderedDict()
    for ex in examples:
        null_entry, cands = None, []
        for fi in per_example[ex["id"]]:
            s, e, offsets = starts[fi], ends[fi], feats[fi]["offset_mapping"]
            null_score = s[0] + e[0]
            if null_entry is None or null_entry["score"] > null_score:
                null_entry = {"offsets": (0, 0), "score": null_score, "start_logit": s[0], "end_logit": e[0]}
            for a in np.argsort(s)[-1:-n_best - 1:-1].tolist():
                for b in np.argsort(e)[-1:-n_best - 1:-1].tolist():
                    if a >= len(offsets) or b >= len(offsets) or offsets[a] is None or offsets[b] is None:
                        continue
                    if b < a or b - a + 1 > max_answer:
                        continue
                    cands.append({"offsets": (offsets[a][0], offsets[b][1]), "score": s[a] + e[b],
                                  "start_logit": s[a], "end_logit": e[b]})
        if v2:
            cands.append(null_entry)
            null_score = null_entry["score"]
        best = sorted(cands, key=lambda c: c["score"], reverse=True)[:n_best]
        if v2 and not any(c["offsets"] == (0, 0) for c in best):
            best.append(null_entry)
        for c in best:
            o = c.pop("offsets")
            c["text"] = ex["context"][o[0]:o[1]]
        if not best or (len(best) == 1 and best[0]["text"] == ""):
            best.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
        scores = np.array([c.pop("score") for c in best])
        exp = np.exp(scores - np.max(scores))
        for c, p in zip(best, exp / exp.sum()):
            c["probability"] = p
        if not v2:
            predictions[ex["id"]] = best[0]["text"]
        else:
            non_null = [c for c in best if c["text"] != ""]
            if not non_null:
                raise RuntimeError(f"{ex['id']}: no non-null entry (utils_qa.py raises IndexError); change the seed")
            diff = null_score - non_null[0]["start_logit"] - non_null[0]["end_logit"]
            null_odds[ex["id"]] = float(diff)
            predictions[ex["id"]] = "" if diff > threshold else non_null[0]["text"]
        nbest_json[ex["id"]] = [{k: (float(v) if isinstance(v, (np.float16, np.float32, np.float64)) else v) for k, v in c.items()}
                                for c in best]
    out = {"predictions": json.dumps(predictions, indent=4) + "\n", "nbest": json.dumps(nbest_json, indent=4) + "\n"}
    if v2:
        out["null_odds"] = json.dumps(null_odds, indent=4) + "\n"
    return out


# The official SQuAD metrics, from their definitions (evaluate-v1.1.py, evaluate-v2.0.py).
def normalize_answer(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_v1(prediction, gold):
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((collections.Counter(p) & collections.Counter(g)).values())
    if same == 0:
        return 0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def f1_v2(gold, prediction):
    g = normalize_answer(gold).split() if gold else []
    p = normalize_answer(prediction).split() if prediction else []
    if not g or not p:
        return int(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def score_v1(squad, preds):
    """evaluate-v1.1.py: every question counts; a missing prediction scores 0."""
    em = f1 = total = 0
    unanswered = []
    for qa in flatten(squad):
        total += 1
        if qa["id"] not in preds:
            unanswered.append(qa["id"])
            continue
        golds = [a["text"] for a in qa["answers"]]
        em += max(normalize_answer(preds[qa["id"]]) == normalize_answer(g) for g in golds)
        f1 += max(f1_v1(preds[qa["id"]], g) for g in golds)
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}, unanswered


def score_v2(squad, preds, na_probs=None, thresh=1.0):
    """evaluate-v2.0.py (raises KeyError on a missing prediction, as the script does)."""
    has_ans = {qa["id"]: bool(qa["answers"]) for qa in flatten(squad)}
    exact_raw, f1_raw = {}, {}
    for qa in flatten(squad):
        golds = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])] or [""]
        if qa["id"] not in preds:
            continue
        p = preds[qa["id"]]
        exact_raw[qa["id"]] = max(int(normalize_answer(g) == normalize_answer(p)) for g in golds)
        f1_raw[qa["id"]] = max(f1_v2(g, p) for g in golds)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}

    def threshold(scores):
        return {q: (float(not has_ans[q]) if probs[q] > thresh else s) for q, s in scores.items()}

    def block(ex, f1, qids=None):
        if not qids:
            return [("exact", 100.0 * sum(ex.values()) / len(ex)), ("f1", 100.0 * sum(f1.values()) / len(ex)), ("total", len(ex))]
        return [("exact", 100.0 * sum(ex[k] for k in qids) / len(qids)), ("f1", 100.0 * sum(f1[k] for k in qids) / len(qids)),
                ("total", len(qids))]

    ex_t, f1_t = threshold(exact_raw), threshold(f1_raw)
    out = collections.OrderedDict(block(ex_t, f1_t))
    for name, want in (("HasAns", True), ("NoAns", False)):
        qids = [q for q, h in has_ans.items() if h == want]
        if qids:
            out.update((f"{name}_{k}", v) for k, v in block(ex_t, f1_t, qids))
    if na_probs is not None:
        for key, raw in (("exact", exact_raw), ("f1", f1_raw)):
            cur = best = sum(1 for h in has_ans.values() if not h)
            best_t = 0.0
            for q in sorted(probs, key=lambda k: probs[k]):
                if q not in raw:
                    continue
                cur += raw[q] if has_ans[q] else (-1 if preds[q] else 0)
                if cur > best:
                    best, best_t = cur, probs[q]
            out[f"best_{key}"], out[f"best_{key}_thresh"] = 100.0 * best / len(raw), best_t
    return out


def check_metric_goldens(squad_dir):
    """The small reference above against every case of ../shared's metric goldens (outputs of the
    unmodified official scripts): it must agree to 1e-9 before it may judge spanqa."""
    root = os.path.join(squad_dir, "metric-goldens")
    cases = json.load(open(os.path.join(root, "cases.json"), encoding="utf-8"))["cases"]
    data = {}
    for c in cases:
        if c["returncode"] != 0:
            continue
        squad = data.setdefault(c["dataset"], json.load(open(os.path.join(squad_dir, c["dataset"]), encoding="utf-8")))
        preds = json.load(open(os.path.join(root, c["predictions"]), encoding="utf-8"))
        if c["script"] == "evaluate-v1.1.py":
            got, _ = score_v1(squad, preds)
        else:
            args = dict(zip(c["extra_args"][::2], c["extra_args"][1::2]))
            na = json.load(open(os.path.join(root, args["--na-prob-file"]), encoding="utf-8")) if "--na-prob-file" in args else None
            got = score_v2(squad, preds, na, float(args.get("--na-prob-thresh", 1.0)))
        want = c["output"]
        bad = [k for k in set(got) | set(want) if k not in got or k not in want or abs(got[k] - want[k]) > 1e-9]
        if bad:
            raise SystemExit(f"reference: the small SQuAD metric reference disagrees with the official script on {c['name']}: {bad}")
    return len([c for c in cases if c["returncode"] == 0])


def perturb(rng, text):
    """A prediction near a gold answer: the rewrites of the metric goldens' families."""
    return rng.choice([
        lambda t: t, lambda t: t.upper(), lambda t: "The " + t, lambda t: t + ".", lambda t: f"  {t}\n",
        lambda t: f"“{t}”", lambda t: t[: max(1, len(t) // 2)], lambda t: t + " and more words", lambda t: "a " + t + " 's",
        lambda t: t.replace(" ", "\u00a0"), lambda t: t.replace("-", "–"), lambda t: "", lambda t: "the",
    ])(text)


def random_predictions(rng, squad, missing):
    preds = {}
    for qa in flatten(squad):
        r = rng.random()
        if r < missing:
            continue
        if qa["answers"] and r < 0.6:
            preds[qa["id"]] = perturb(rng, rng.choice(qa["answers"])["text"])
        elif r < 0.8:
            ctx = qa["context"]
            s = rng.randrange(max(1, len(ctx)))
            preds[qa["id"]] = ctx[s:s + rng.randint(1, 30)]
        else:
            preds[qa["id"]] = rng.choice(["", " ", ".", "the", "An !"])
    if missing:
        preds["not-a-question-id"] = "extra"
    return preds


def cmd_qa(a):
    import numpy as np
    from safetensors.numpy import save_file as save_np

    out = a.out
    os.makedirs(out, exist_ok=True)
    rng = random.Random("qa")
    sets = {"v1": random_squad(rng, a.examples, False, "1.1"), "v2": random_squad(rng, a.examples, True, "v2.0")}
    for name, squad in sets.items():
        with open(os.path.join(out, f"squad_{name}.json"), "w", encoding="utf-8") as f:
            json.dump(squad, f, ensure_ascii=False)
    meta = {"examples": a.examples, "windows": QA_WINDOWS, "transformers": transformers.__version__, "features": [], "postprocess": [], "score": []}

    # Features: every tokenizer, window size and mode, padded to max_length (run_qa.py's default,
    # --pad_to_max_length) with the labels of the unpadded call (--pad_to_max_length False) beside
    # them: the unpadded windows are the padded ones cut at the padding, which is checked here.
    examples = flatten(sets["v2"])
    for name in QA_TOKENIZERS:
        tok = qa_tokenizer(a.shared, name)
        for max_length, stride in QA_WINDOWS:
            for mode in ("train", "eval"):
                feats, skipped = hf_features(tok, examples, max_length, stride, mode, "max_length")
                unpadded, skipped2 = hf_features(tok, examples, max_length, stride, mode, False)
                assert skipped == skipped2 and len(feats) == len(unpadded)
                fname = f"features_{name}_{max_length}_{mode}.jsonl"
                with open(os.path.join(out, fname), "w", encoding="utf-8") as f:
                    for ft, up in zip(feats, unpadded):
                        n = len(up["input_ids"])
                        for key in ("input_ids", "attention_mask", "token_type_ids", "offset_mapping"):
                            if key in ft:
                                assert ft[key][:n] == up[key], (name, key)
                        ft["length"] = n
                        if mode == "train":
                            ft["unpadded_positions"] = [up["start_positions"], up["end_positions"]]
                        f.write(json.dumps(ft, ensure_ascii=False, separators=(",", ":")) + "\n")
                meta["features"].append({"tokenizer": name, "max_length": max_length, "stride": stride, "mode": mode,
                                         "file": fname, "windows": len(feats), "skipped": skipped, "pad_token_id": tok.pad_token_id})
        # Post-processing on the padded evaluation features of the longer windows, with random
        # float32 logits. No two logits of a row are equal: numpy 2.x sorts equal values in an
        # order that depends on the CPU's SIMD sort kernels (spanqa follows numpy's generic
        # argsort; eval's offline oracle covers ties).
        max_length, stride = QA_WINDOWS[-1]
        feats, skipped = hf_features(tok, examples, max_length, stride, "eval", "max_length")
        kept = [e for e in examples if e["id"] not in set(skipped)]
        for k, (v2, n_best, max_answer, threshold) in enumerate([(False, 20, 30, 0.0), (True, 20, 30, 0.0),
                                                                 (True, 5, 8, 1.5), (False, 7, 4, 0.0)]):
            lrng = np.random.default_rng(1000 + k)
            starts = (lrng.standard_normal((len(feats), max_length)) * 3).astype(np.float32)
            ends = (lrng.standard_normal((len(feats), max_length)) * 3).astype(np.float32)
            files = hf_postprocess(kept, feats, starts, ends, v2, n_best, max_answer, threshold)
            base = f"postprocess_{name}_{k}"
            save_np({"start_logits": starts, "end_logits": ends}, os.path.join(out, base + ".safetensors"))
            with open(os.path.join(out, base + ".json"), "w", encoding="utf-8") as f:
                json.dump(files, f, ensure_ascii=False)
            meta["postprocess"].append({"tokenizer": name, "max_length": max_length, "stride": stride, "v2": v2, "n_best_size": n_best,
                                        "max_answer_length": max_answer, "null_score_diff_threshold": threshold,
                                        "logits": base + ".safetensors", "expected": base + ".json", "skipped": skipped})

    # Metrics: the small reference must reproduce the official scripts' goldens first.
    # Absolute paths: the Go test reads them from its own working directory.
    squad_dir = os.path.abspath(a.squad) if a.squad else None
    out = os.path.abspath(out)
    if squad_dir and os.path.exists(os.path.join(squad_dir, "metric-goldens", "cases.json")):
        meta["metric_goldens_checked"] = check_metric_goldens(squad_dir)
        real = {"v1": os.path.join(squad_dir, "v1.1", "dev-v1.1.json"), "v2": os.path.join(squad_dir, "v2.0", "dev-v2.0.reconstructed.json")}
    else:
        meta["metric_goldens_checked"] = 0
        real = {}
    datasets = {"random_v1": os.path.join(out, "squad_v1.json"), "random_v2": os.path.join(out, "squad_v2.json")}
    datasets.update({f"dev_{k}": p for k, p in real.items()})
    srng = random.Random("score")
    for dname, path in datasets.items():
        squad = json.load(open(path, encoding="utf-8"))
        v2 = dname.endswith("v2")
        for k in range(3 if v2 else 2):
            preds = random_predictions(srng, squad, 0.0 if v2 else 0.1 * k)
            base = f"score_{dname}_{k}"
            with open(os.path.join(out, base + ".predictions.json"), "w", encoding="utf-8") as f:
                json.dump(preds, f, ensure_ascii=False)
            case = {"name": base, "data": path, "predictions": base + ".predictions.json", "version": "2.0" if v2 else "1.1"}
            if v2:
                if k > 0:
                    na = {q: round(srng.random() * (0.6 if (p and srng.random() < 0.7) else 1.0), 3) for q, p in preds.items()}
                    with open(os.path.join(out, base + ".na_prob.json"), "w") as f:
                        json.dump(na, f)
                    case["na_prob"] = base + ".na_prob.json"
                    case["na_prob_thresh"] = 1.0 if k == 1 else 0.5
                    case["expected_small"] = score_v2(squad, preds, na, case["na_prob_thresh"])
                else:
                    case["expected_small"] = score_v2(squad, preds)
            else:
                case["expected_small"], case["unanswered"] = score_v1(squad, preds)
            meta["score"].append(case)
    with open(os.path.join(out, "qa.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    print(f"reference: data and evaluation: {sum(x['windows'] for x in meta['features'])} feature windows, "
          f"{len(meta['postprocess'])} post-processing cases, {len(meta['score'])} scoring cases "
          f"(small metric reference checked on {meta['metric_goldens_checked']} official-script goldens)")


def cmd_squad_v2_metrics(a):
    """The v2.0 scoring cases of `qa` with transformers 4.57.6's squad_metrics.squad_evaluate (the
    official evaluate-v2.0.py logic as the transformers package ships it; 5.x no longer does).
    Run with the hf457 packages first on PYTHONPATH."""
    from transformers.data.metrics import squad_metrics

    class Example:  # what squad_evaluate reads of transformers' SquadExample
        def __init__(self, qa):
            self.qas_id, self.answers = qa["id"], qa["answers"]

    path = os.path.join(a.dir, "qa.json")
    meta = json.load(open(path, encoding="utf-8"))
    n = 0
    for case in meta["score"]:
        if case["version"] != "2.0":
            continue
        squad = json.load(open(case["data"], encoding="utf-8"))
        preds = json.load(open(os.path.join(a.dir, case["predictions"]), encoding="utf-8"))
        na = json.load(open(os.path.join(a.dir, case["na_prob"]), encoding="utf-8")) if "na_prob" in case else None
        got = squad_metrics.squad_evaluate([Example(qa) for qa in flatten(squad)], preds, na, case.get("na_prob_thresh", 1.0))
        if na is None:
            # squad_evaluate always searches the best thresholds (with na_prob 0 everywhere);
            # evaluate-v2.0.py does only when given an na_prob file.
            got = {k: v for k, v in got.items() if not k.startswith("best_")}
        got = {k: v for k, v in got.items() if not k.startswith("has_ans_")}
        case["expected_transformers"] = got
        n += 1
    meta["transformers_squad_metrics"] = transformers.__version__
    with open(path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    print(f"reference: {n} SQuAD v2.0 scoring cases with transformers {transformers.__version__}'s squad_metrics")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("models")
    m.add_argument("out")
    m.add_argument("--seeds", type=int, default=20)
    m.add_argument("--first-seed", type=int, default=0)
    m.add_argument("--arch", action="append")
    m.add_argument("--relative", action="store_true", help="BERT/RoBERTa with relative_key(_query) positions (transformers 4.x)")
    m.set_defaults(fn=cmd_models)
    tk = sub.add_parser("tokenizers")
    tk.add_argument("out")
    tk.add_argument("--shared", required=True)
    tk.add_argument("--strings", type=int, default=100000)
    tk.add_argument("--max-length", type=int, default=160)
    tk.add_argument("--stride", type=int, default=32)
    tk.set_defaults(fn=cmd_tokenizers)
    ls = sub.add_parser("legacy-singles")
    ls.add_argument("out")
    ls.add_argument("--shared", required=True)
    ls.set_defaults(fn=cmd_legacy_singles)
    q = sub.add_parser("qa")
    q.add_argument("out")
    q.add_argument("--shared", required=True, help="the tokenizer fixtures (../shared/fixtures/tokenizers)")
    q.add_argument("--squad", help="../shared/data/squad (metric goldens and dev sets); optional")
    q.add_argument("--examples", type=int, default=400)
    q.set_defaults(fn=cmd_qa)
    sv = sub.add_parser("squad-v2-metrics")
    sv.add_argument("dir")
    sv.set_defaults(fn=cmd_squad_v2_metrics)
    lg = sub.add_parser("logits")
    lg.add_argument("dirs", nargs="+")
    lg.add_argument("--output", default="hf_logits.safetensors")
    lg.set_defaults(fn=cmd_logits)
    a = p.parse_args()
    if a.cmd == "qa" and "NPY_DISABLE_CPU_FEATURES" not in os.environ:
        # utils_qa.py's softmax runs in numpy, whose kernels differ by CPU: with AVX-512, float64
        # exp is numpy's own SIMD code (about 1 in 20 results a bit off the C library's), and
        # float32 exp the AVX-512 variant. The reference is numpy as it runs on an AVX2 machine,
        # which spanqa reproduces: the AVX-512 dispatch is turned off (numpy reads this setting
        # when it is imported, hence the new process).
        import numpy

        try:
            from numpy._core._multiarray_umath import __cpu_features__ as feats
        except ImportError:
            feats = {}
        off = [f for f in ("X86_V4", "AVX512_SKX", "AVX512_CLX", "AVX512_CNL", "AVX512_ICL", "AVX512_SPR") if feats.get(f)]
        if off:
            env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=" ".join(off))
            os.execve(sys.executable, [sys.executable] + sys.argv, env)
    a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
