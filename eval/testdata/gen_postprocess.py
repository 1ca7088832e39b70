# Test oracle for eval.PostProcess: HF utils_qa.postprocess_qa_predictions semantics (Trainer path:
# float32 logits),
# written independently for cross-checking spanqa's eval package. Needs numpy.
import collections, json, random, sys
import numpy as np

def postprocess(examples, features, all_start, all_end, v2, n_best=20, max_len=30, thresh=0.0):
    per_ex = collections.defaultdict(list)
    idx = {e["id"]: i for i, e in enumerate(examples)}
    for i, f in enumerate(features):
        per_ex[idx[f["example_id"]]].append(i)
    preds, nbest_all, diffs = collections.OrderedDict(), collections.OrderedDict(), collections.OrderedDict()
    for ei, ex in enumerate(examples):
        nullp = None
        cands = []
        for fi in per_ex[ei]:
            s, e = all_start[fi], all_end[fi]
            offs = features[fi]["offset_mapping"]
            ns = s[0] + e[0]
            if nullp is None or nullp["score"] > ns:
                nullp = {"offsets": (0, 0), "score": ns, "start_logit": s[0], "end_logit": e[0]}
            si_list = np.argsort(s)[-1:-n_best - 1:-1].tolist()
            ei_list = np.argsort(e)[-1:-n_best - 1:-1].tolist()
            for a in si_list:
                for b in ei_list:
                    if a >= len(offs) or b >= len(offs) or offs[a] is None or offs[b] is None:
                        continue
                    if b < a or b - a + 1 > max_len:
                        continue
                    cands.append({"offsets": (offs[a][0], offs[b][1]), "score": s[a] + e[b], "start_logit": s[a], "end_logit": e[b]})
        if v2:
            cands.append(nullp)
            null_score = nullp["score"]
        top = sorted(cands, key=lambda x: x["score"], reverse=True)[:n_best]
        if v2 and not any(p["offsets"] == (0, 0) for p in top):
            top.append(nullp)
        ctx = ex["context"]
        for p in top:
            o = p.pop("offsets")
            p["text"] = ctx[o[0]:o[1]]
        if len(top) == 0 or (len(top) == 1 and top[0]["text"] == ""):
            top.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
        sc = np.array([p.pop("score") for p in top])
        ex_sc = np.exp(sc - np.max(sc))
        pr = ex_sc / ex_sc.sum()
        for q, p in zip(pr, top):
            p["probability"] = q
        if not v2:
            preds[ex["id"]] = top[0]["text"]
        else:
            i = 0
            while top[i]["text"] == "":
                i += 1
            b = top[i]
            d = null_score - b["start_logit"] - b["end_logit"]
            diffs[ex["id"]] = float(d)
            preds[ex["id"]] = "" if d > thresh else b["text"]
        nbest_all[ex["id"]] = [{k: (float(v) if isinstance(v, (np.float16, np.float32, np.float64)) else v) for k, v in p.items()} for p in top]
    out = {"predictions": json.dumps(preds, indent=4) + "\n", "nbest": json.dumps(nbest_all, indent=4) + "\n"}
    if v2:
        out["null_odds"] = json.dumps(diffs, indent=4) + "\n"
    return out

WORDS = ["the", "Denver", "Broncos", "café", "naïve", "Σίσυφος", "東京", "😀", "x", "1999", "São", "Paulo", "—", "“quoted”", "a", "résumé"]

def make(rng, v2, n_examples, max_seq=48, tie_rate=0.0):
    examples, features, S, E = [], [], [], []
    for ei in range(n_examples):
        ctx_words = [rng.choice(WORDS) for _ in range(rng.randint(0, 40))]
        if rng.random() < 0.05:
            ctx_words = []
        ctx = " ".join(ctx_words)
        # Character offsets of each word; some words split into 2 tokens.
        toks, pos = [], 0
        for w in ctx_words:
            if len(w) > 3 and rng.random() < 0.3:
                k = rng.randint(1, len(w) - 1)
                toks.append((pos, pos + k)); toks.append((pos + k, pos + len(w)))
            else:
                toks.append((pos, pos + len(w)))
            pos += len(w) + 1
        ex = {"id": "q%04d" % ei, "context": ctx}
        examples.append(ex)
        qlen = rng.randint(1, 6)
        room = max_seq - qlen - 3
        stride = max(1, room // 2)
        starts = [0]
        while starts[-1] + room < len(toks):
            starts.append(starts[-1] + stride)
        for st in starts:
            win = toks[st:st + room]
            offs = [None] * (1 + qlen + 1) + [list(o) for o in win] + [None]
            used = len(offs)
            pad = rng.choice([0, max_seq - used])
            offs_full = offs + [None] * 0
            n_logits = used + pad
            s = np.array([rng.gauss(0, 3) for _ in range(n_logits)], dtype=np.float32)
            e = np.array([rng.gauss(0, 3) for _ in range(n_logits)], dtype=np.float32)
            if tie_rate:
                for arr in (s, e):
                    for j in range(n_logits):
                        if rng.random() < tie_rate:
                            arr[j] = np.float32(round(float(arr[j])))
            features.append({"example_id": ex["id"], "example_index": ei, "offset_mapping": offs_full, "n_ids": used})
            S.append(s); E.append(e)
    return examples, features, S, E

if __name__ == "__main__":
    seed, n, v2, tie = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "v2", float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    rng = random.Random(seed)
    examples, features, S, E = make(rng, v2, n, tie_rate=tie)
    out = postprocess(examples, features, S, E, v2)
    doc = {
        "generator": "gen_postprocess.py, CPython %s, numpy %s" % (sys.version.split()[0], np.__version__),
        "version_2_with_negative": v2,
        "examples": examples,
        "windows": [{"example_id": f["example_id"], "example_index": f["example_index"], "n_ids": f["n_ids"],
                     "offsets": f["offset_mapping"], "start": [float(x) for x in S[i]], "end": [float(x) for x in E[i]]}
                    for i, f in enumerate(features)],
        "expected": out,
    }
    json.dump(doc, sys.stdout, ensure_ascii=False)
