#!/usr/bin/env python3
"""Records Hugging Face Trainer's log_history for train/hflog_test.go.

Not run by `make test`: the Go test reads what this script committed under
train/testdata/hflog. It needs the project's .venv with torch and transformers:

    .venv/bin/pip install transformers==5.25.0 accelerate
    .venv/bin/python tests/hflog/record_hf_log.py

It builds a tiny BERT question-answering model (random init from a config, dropout off so that
neither side's random stream matters), a fixed set of padded windows, and trains it with HF's
Trainer on CPU in the order the windows are listed (a sequential sampler: spanqa's
--no-shuffle), once per run below. Written, next to each other:

    model/             config.json, model.safetensors, vocab.txt (the starting point of every run)
    windows.jsonl      the training windows, in spanqa's `features --mode train` format
    runs.json          per run: the TrainingArguments, HF's log_history, and the loss and the
                       learning rate of every optimizer step (collected from training_step and
                       the scheduler, to check the log's conventions against the raw values)
"""

import json
import os
import random
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The repository root holds Go's torch/ folder, which Python would import as a namespace package.
sys.path = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

import torch  # noqa: E402
import transformers  # noqa: E402
from torch.utils.data import SequentialSampler  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForQuestionAnswering,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

OUT = os.path.join(REPO, "train", "testdata", "hflog")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["##" + chr(c) for c in range(ord("a"), ord("q") + 1)]
PAD, CLS, SEP = 0, 2, 3
LENGTH, WINDOWS = 24, 16

# Each run: HF TrainingArguments fields (the Go test maps them onto spanqa's flags).
RUNS = {
    # 8 steps an epoch, logs every 3: intervals that cross the epoch boundary, warm-up then decay,
    # clipping active on the first steps.
    "ga1": dict(per_device_train_batch_size=2, gradient_accumulation_steps=1, num_train_epochs=2,
                learning_rate=5e-3, weight_decay=0.01, warmup_steps=3, max_grad_norm=1.0, logging_steps=3),
    # Two micro-batches per step, 4 steps an epoch, logs every 5.
    "ga2": dict(per_device_train_batch_size=2, gradient_accumulation_steps=2, num_train_epochs=3,
                learning_rate=3e-3, weight_decay=0.0, warmup_steps=2, max_grad_norm=0.5, logging_steps=5),
}


def make_windows():
    rng = random.Random(20)
    out = []
    for i in range(WINDOWS):
        q = [rng.randrange(len(SPECIALS), len(VOCAB)) for _ in range(rng.randint(2, 5))]
        c = [rng.randrange(len(SPECIALS), len(VOCAB)) for _ in range(rng.randint(6, LENGTH - len(q) - 3))]
        ids = [CLS] + q + [SEP] + c + [SEP]
        types = [0] * (len(q) + 2) + [1] * (len(c) + 1)
        mask = [1] * len(ids)
        pad = LENGTH - len(ids)
        ids, types, mask = ids + [PAD] * pad, types + [0] * pad, mask + [0] * pad
        if i % 5 == 4:  # no answer in this window: both positions on [CLS]
            start = end = 0
        else:
            start = len(q) + 2 + rng.randrange(len(c))
            end = min(start + rng.randrange(3), len(q) + 1 + len(c))
        out.append(dict(input_ids=ids, token_type_ids=types, attention_mask=mask,
                        start_positions=start, end_positions=end, example_id=f"w{i:02d}"))
    return out


class SequentialTrainer(Trainer):
    """Trainer that takes the windows in order and keeps every step's loss."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.micro_losses = []

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.micro_losses.append(loss.item())  # already divided by the accumulation steps
        return loss


class StepRecorder(TrainerCallback):
    """The learning rate each optimizer step used (read before the scheduler moves on)."""

    def __init__(self):
        self.lrs = []

    def on_optimizer_step(self, args, state, control, optimizer=None, **kw):
        self.lrs.append(optimizer.param_groups[0]["lr"])


def main():
    os.makedirs(os.path.join(OUT, "model"), exist_ok=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=24, max_position_embeddings=LENGTH, type_vocab_size=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    BertForQuestionAnswering(config).save_pretrained(os.path.join(OUT, "model"))
    with open(os.path.join(OUT, "model", "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    windows = make_windows()
    with open(os.path.join(OUT, "windows.jsonl"), "w") as f:
        for w in windows:
            f.write(json.dumps(w, separators=(",", ":")) + "\n")
    dataset = [{k: torch.tensor(v) for k, v in w.items() if k != "example_id"} for w in windows]

    runs = {}
    for name, hp in RUNS.items():
        model = BertForQuestionAnswering.from_pretrained(os.path.join(OUT, "model"))
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArguments(output_dir=tmp, lr_scheduler_type="linear", optim="adamw_torch",
                                     adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,
                                     logging_strategy="steps", save_strategy="no", eval_strategy="no",
                                     report_to="none", seed=42, use_cpu=True, disable_tqdm=True,
                                     dataloader_num_workers=0, **hp)
            rec = StepRecorder()
            trainer = SequentialTrainer(model=model, args=args, train_dataset=dataset, callbacks=[rec])
            trainer.train()
        ga = hp["gradient_accumulation_steps"]
        micro = trainer.micro_losses
        step_losses = [sum(micro[i:i + ga]) for i in range(0, len(micro), ga)]
        runs[name] = dict(args=hp, log_history=trainer.state.log_history, step_losses=step_losses,
                          step_learning_rates=rec.lrs)
        print(name, json.dumps(trainer.state.log_history[:3]))
    with open(os.path.join(OUT, "runs.json"), "w") as f:
        json.dump(dict(transformers_version=transformers.__version__, torch_version=torch.__version__,
                       runs=runs), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
