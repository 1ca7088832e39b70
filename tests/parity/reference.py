"""Live Hugging Face reference for spanqa's parity suite (tests/parity, `make parity`).

Subcommands:
  models OUT --seeds N     for each architecture and seed: a random small configuration, a model
                           built by transformers and saved by it (safetensors, .bin or sharded), and
                           what transformers computes on random padded batches (eval logits, train
                           loss, every gradient, float64 gradient norms, a 6-step Trainer AdamW run)
  logits DIR...            loads each DIR (a model spanqa saved) with from_pretrained and writes
                           DIR/hf_logits.safetensors for the inputs in DIR/inputs.safetensors

Only the test reads what this writes; nothing here is on the product's path.
"""

import argparse
import copy
import json
import os
import random
import shutil
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


def draw_config(arch, rng, max_len):
    """A random small configuration in the space HF's config files allow for arch."""
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


def case(arch, seed, root, skip_step=None):
    """One random configuration. skip_step (Longformer) makes that trajectory step's batch have no
    global token at all, so HF has no gradient for the global projections in that step."""
    rng = random.Random(f"{arch}/{seed}" + ("/skip" if skip_step is not None else ""))
    max_len = 40 if arch != "longformer" else 50
    cfg_dict = draw_config(arch, rng, max_len)
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
    name = f"{arch}-{seed:03d}" + (f"-noglobal-step{skip_step + 1}" if skip_step is not None else "")
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
            gn = trainer._clip_grad_norm(model)
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
                  os.path.join(d, "hf_logits.safetensors"))


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


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("models")
    m.add_argument("out")
    m.add_argument("--seeds", type=int, default=20)
    m.add_argument("--first-seed", type=int, default=0)
    m.add_argument("--arch", action="append")
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
    lg = sub.add_parser("logits")
    lg.add_argument("dirs", nargs="+")
    lg.set_defaults(fn=cmd_logits)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
