#!/usr/bin/python3
# tools/train_bpe.py: trains the demo model's byte-level BPE and writes it as a Hugging Face tokenizer.json.
"""Byte-level BPE with the DeepSeek-V2 pre-tokenizer.

The pre-tokenizer regexes are the six Split patterns of DeepSeek-Coder-V2's
tokenizer.json (tests/fixtures/tokenizer/deepseek-coder-v2), copied here
verbatim; the special tokens are the same five.  Training counts pre-tokenized
words, then repeatedly merges the most frequent adjacent pair (ties: the pair
whose strings sort first), which is deterministic.  Encoding follows the
Hugging Face algorithm: split on special tokens (when allowed), apply each Split
regex in turn keeping matches isolated, map bytes to the GPT-2 byte alphabet,
then apply merges by rank within each piece.

Usage: /usr/bin/python3 tools/train_bpe.py OUT/tokenizer.json [N_MERGES]
(trains on tools/demo_data.py's texts).  Needs Python's `regex` module
(Debian: python3-regex) for \\p{N}."""

import json
import os
import sys

import regex

SPECIAL_TOKENS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>",
                  "<｜fim▁begin｜>", "<｜fim▁end｜>"]
BOS, EOS, FIM_HOLE, FIM_BEGIN, FIM_END = SPECIAL_TOKENS

# DeepSeek-V2's pre-tokenizer, in order (each a Split with behaviour Isolated).
PRETOKENIZE_PATTERNS = [
    '[\r\n]',
    '\\s?[A-Za-z\xb5\xc0-\xd6\xd8-\xf6\xf8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u03ce\u1f80-\u1fb4\u1fb6-\u1fbc\u03b9\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u0390\u1fd6-\u038a\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u03a9\u2128K-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+',
    '\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+',
    '\\s+$',
    '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+',
    '\\p{N}+',
]


def _python_pattern(p):
    """The released letter class has a few reversed ranges (e.g. U+1F5F-U+03CE, an artefact of
    Unicode normalisation).  Python's regex rejects them; read each as its two end characters.
    None of those characters occur in the demo data."""
    out = []
    i = 0
    while i < len(p):
        if (i + 2 < len(p) and p[i + 1] == "-" and p[i] != "\\" and (i == 0 or p[i - 1] != "\\")
                and ord(p[i]) > ord(p[i + 2])):
            out.append(p[i] + p[i + 2])
            i += 3
            continue
        out.append(p[i])
        i += 1
    return "".join(out)


_COMPILED = [regex.compile(_python_pattern(p)) for p in PRETOKENIZE_PATTERNS]


def bytes_to_unicode():
    """GPT-2's byte alphabet: printable bytes map to themselves, the rest to U+0100 onwards."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}


def pretokenize(text):
    """Pieces of text after the Split sequence (matches isolated, gaps kept), as byte-level strings."""
    pieces = [text] if text else []
    for rx in _COMPILED:
        nxt = []
        for piece in pieces:
            pos = 0
            for m in rx.finditer(piece):
                if m.start() == m.end():
                    continue
                if m.start() > pos:
                    nxt.append(piece[pos:m.start()])
                nxt.append(m.group(0))
                pos = m.end()
            if pos < len(piece):
                nxt.append(piece[pos:])
        pieces = nxt
    return ["".join(BYTE_ENC[b] for b in p.encode("utf-8")) for p in pieces]


def train(texts, n_merges):
    """Returns the merges list [(a, b), ...] in rank order."""
    counts = {}
    for t in texts:
        for w in pretokenize(t):
            counts[w] = counts.get(w, 0) + 1
    words = [[list(w), c] for w, c in sorted(counts.items())]
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for sym, c in words:
            for i in range(len(sym) - 1):
                k = (sym[i], sym[i + 1])
                pairs[k] = pairs.get(k, 0) + c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < 2:
            break
        a, b = best[0]
        merges.append((a, b))
        ab = a + b
        for w in words:
            sym = w[0]
            if len(sym) < 2:
                continue
            out = []
            i = 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    out.append(ab)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            w[0] = out
    return merges


class Tokenizer:
    def __init__(self, vocab, merges, specials):
        self.vocab = vocab                       # byte-level string -> id
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.specials = specials                 # content -> id
        self.inv = {i: s for s, i in vocab.items()}
        self.inv_special = {i: s for s, i in specials.items()}
        self.cache = {}

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
        specials = {t["content"]: t["id"] for t in tj["added_tokens"]}
        return cls(tj["model"]["vocab"], merges, specials)

    def _bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        sym = list(piece)
        while len(sym) > 1:
            best = None
            for i in range(len(sym) - 1):
                r = self.ranks.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best):
                    best = r
            if best is None:
                break
            out = []
            i = 0
            while i < len(sym):
                if i + 1 < len(sym) and self.ranks.get((sym[i], sym[i + 1])) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            sym = out
        ids = [self.vocab[s] for s in sym]
        self.cache[piece] = ids
        return ids

    def encode(self, text, special=False):
        """Token ids of text (no BOS).  With special, the five special tokens are matched in the text."""
        if special:
            ids = []
            pat = "(" + "|".join(regex.escape(s) for s in self.specials) + ")"
            for part in regex.split(pat, text):
                if part in self.specials:
                    ids.append(self.specials[part])
                elif part:
                    ids += self.encode(part)
            return ids
        ids = []
        for p in pretokenize(text):
            ids += self._bpe(p)
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            if i in self.inv_special:
                out += self.inv_special[i].encode("utf-8")
            elif i in self.inv:
                out += bytes(BYTE_DEC[c] for c in self.inv[i])
        return out.decode("utf-8", errors="replace")


def build(texts, n_merges):
    merges = train(texts, n_merges)
    vocab = {}
    for b in range(256):
        vocab[BYTE_ENC[b]] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    specials = {s: len(vocab) + i for i, s in enumerate(SPECIAL_TOKENS)}
    return Tokenizer(vocab, merges, specials), merges


def write_json(tok, merges, path):
    split = [{"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False}
             for p in PRETOKENIZE_PATTERNS]
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}
                         for s, i in sorted(tok.specials.items(), key=lambda kv: kv[1])],
        "normalizer": {"type": "Sequence", "normalizers": []},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": split + [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": tok.vocab, "merges": [a + " " + b for a, b in merges]},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: train_bpe.py OUT/tokenizer.json [N_MERGES]\n")
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import demo_data
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1536
    tok, merges = build(demo_data.all_text(), n)
    write_json(tok, merges, sys.argv[1])
    print("%s: %d merges, %d tokens + %d special" % (sys.argv[1], len(merges), len(tok.vocab), len(tok.specials)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
