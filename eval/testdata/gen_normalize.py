# Differential cases for normalize_answer and the two F1 definitions, computed with CPython's
# str.lower, string.punctuation, re.sub(r'\b(a|an|the)\b', ...) and str.split (Python 3.11).
import json, random, re, string, sys, collections
def norm(s):
    t = s.lower()
    t = ''.join(ch for ch in t if ch not in set(string.punctuation))
    t = re.sub(r'\b(a|an|the)\b', ' ', t)
    return ' '.join(t.split())
def toks(s): return norm(s).split()
def f1v1(p, g):
    pt, gt = toks(p), toks(g)
    n = sum((collections.Counter(pt) & collections.Counter(gt)).values())
    if n == 0: return 0.0
    pr = 1.0*n/len(pt); rc = 1.0*n/len(gt)
    return (2*pr*rc)/(pr+rc)
def f1v2(p, g):
    pt = toks(p) if p else []; gt = toks(g) if g else []
    if not pt or not gt: return float(pt == gt)
    n = sum((collections.Counter(pt) & collections.Counter(gt)).values())
    if n == 0: return 0.0
    pr = 1.0*n/len(pt); rc = 1.0*n/len(gt)
    return (2*pr*rc)/(pr+rc)
pieces = ["a", "an", "the", "The", "A", "AN", "THE", "tHe", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x1c", "\x1f",
          "\u200b", "\u2028", "\x85", "\x0b", ".", ",", "'", "-", "_", "(", ")", "\"", "!", "?", "\u2019", "\u201c", "\u2014",
          "\u2026", "\u3002", "\uff08", "\u0301", "\u0308", "e", "\u00e9", "\u00df", "\u1e9e", "\u0130", "I", "i", "\u03a3",
          "\u03c3", "\u03c2", "\u039f", "\u0394", "\u00b7", ":", "\u00ad", "x", "1", "\u00b2", "\u2167", "\u0661", "\u4e00",
          "\U0001F600", "\U0001D400", "\u01c5", "\u1f88", "cat", "Σ", "ΑΣ", "ΌΣΟΣ", "a\u0301", "the\u0301", "\u2160", "_a", "a_",
          "2", "3rd", "an't", "\u0130stanbul", "\u212a", "\u2126", "\u00c5", "\u0041\u030a", "\ufb01", "\u0149"]
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
cases = []
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3000):
    p = ''.join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
    g = ''.join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
    if rng.random() < 0.3: g = p.upper() if rng.random() < 0.5 else p + " the"
    cases.append({"pred": p, "gold": g, "norm_pred": norm(p), "norm_gold": norm(g), "f1_v1": f1v1(p, g), "f1_v2": f1v2(p, g)})
json.dump({"generator": "CPython %s" % sys.version.split()[0], "cases": cases}, sys.stdout, ensure_ascii=True, indent=0)
