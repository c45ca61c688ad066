#!/usr/bin/env python3
"""Mutated texts for checking that a detector change finds exactly what it found before.

    detect_mutate.py OUT.jsonl SOURCE.jsonl...

Reads every `text` and `messages[].content` of the SOURCE files and writes each text, then
three mutations of it (characters inserted, deleted or swapped, runs of punctuation,
digits, full-width forms, surnames, address words and cue words inserted, case changed,
two texts spliced, a text cut short), one `{"text": ...}` per line. Deterministic: a fixed
seed, so two builds digest the same corpus (`benches/detect_digests.sh`).
"""
import json
import random
import sys

rnd = random.Random(20261206)
texts = []
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            v = json.loads(line)
            if isinstance(v.get("text"), str):
                texts.append(v["text"])
            for m in v.get("messages") or []:
                if isinstance(m.get("content"), str):
                    texts.append(m["content"])
JUNK = list("，。：；、（）()[]:;,.!?-—/\\@#$%&*+=_~|<>\"'“”‘’\n\t 　０１２３４５６７８９ＡＢＣａｂｃ") + list(
    "0123456789ABCXYZabcxyz"
) + ["张", "王", "李", "市", "区", "路", "号", "先生", "女士", "Mr. ", "Dr. ", "St ", "Road", "电话", "手机",
     "身份证", "出生", "born ", "DOB: ", "@", "http://", ".com"]


def mutate(t):
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randint(0, 7)
        cs = list(t) or [" "]
        i = rnd.randrange(len(cs) + 1)
        if op == 0:
            cs.insert(i, rnd.choice(JUNK))
        elif op == 1 and len(cs) > 1:
            del cs[min(i, len(cs) - 1)]
        elif op == 2:
            return t + rnd.choice([" ", "\n", "", "，", ". "]) + rnd.choice(texts)
        elif op == 3:
            return t[:i]
        elif op == 4:
            return t.upper() if rnd.random() < 0.5 else t.lower()
        elif op == 5:
            cs = [c.swapcase() if rnd.random() < 0.2 else c for c in cs]
        elif op == 6:
            cs.insert(i, "".join(rnd.choice(JUNK) for _ in range(rnd.randint(2, 8))))
        elif op == 7:
            j, k = rnd.randrange(len(cs)), rnd.randrange(len(cs))
            cs[j], cs[k] = cs[k], cs[j]
        t = "".join(cs)
    return t


with open(sys.argv[1], "w", encoding="utf-8") as out:
    for t in texts:
        out.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
        for _ in range(3):
            out.write(json.dumps({"text": mutate(t)}, ensure_ascii=False) + "\n")
