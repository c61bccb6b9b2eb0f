#!/usr/bin/env python3
# tools/gen-tokenizer-corpus.py: picks the inputs of tests/tokenizer/corpus.inp: excerpts of real
# source files of a Debian system, and random strings over the characters where pre-tokenizers
# disagree (punctuation runs, letterlike symbols, polytonic Greek, scripts outside the letter
# class, odd whitespace). The expected ids come from an independent tokenizer
# (tools/tokenizer-reference.mjs), never from this project.
#
# usage: gen-tokenizer-corpus.py OUT.inp [SEED]
import glob
import os
import random
import sys

SEP = "\n__ggml_vocab_test__\n"

SOURCES = [
    ("C", "/usr/include/*.h"),
    ("C", "/usr/include/*/*.h"),
    ("C++", "/usr/include/c++/12/bits/*.h"),
    ("Python", "/usr/lib/python3.11/*.py"),
    ("Python", "/usr/lib/python3.11/*/*.py"),
    ("Perl", "/usr/share/perl/5.36/*.pm"),
    ("Perl", "/usr/share/perl/5.36/*/*.pm"),
    ("JavaScript", "/usr/lib/node_modules/npm/lib/**/*.js"),
    ("JavaScript", "/usr/lib/node_modules/npm/node_modules/*/lib/*.js"),
    ("Go", "/usr/share/doc/git/contrib/**/*.go"),
    ("shell", "/usr/bin/*"),
    ("Markdown", "/usr/share/doc/*/*.md"),
]

# Character pools for the random strings.
ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
POOLS = [
    ASCII_PUNCT * 3,
    "abcXYZ_019 \t\n",
    "".join(chr(c) for c in range(0x2100, 0x2150)),      # letterlike symbols (Kelvin, Ohm, ...)
    "".join(chr(c) for c in range(0x1F00, 0x2000)),      # Greek extended (polytonic)
    "".join(chr(c) for c in range(0x0370, 0x0400)),      # Greek
    "".join(chr(c) for c in range(0x00A0, 0x0180)),      # Latin-1, Latin extended-A
    "".join(chr(c) for c in range(0x0600, 0x0660)),      # Arabic
    "".join(chr(c) for c in range(0x05D0, 0x05EB)),      # Hebrew
    "".join(chr(c) for c in range(0x0900, 0x0970)),      # Devanagari
    "".join(chr(c) for c in range(0x0E01, 0x0E3B)),      # Thai
    "一二三中文字龥鿿豈" + "".join(chr(c) for c in range(0x3040, 0x30FF, 3)),
    "가각힣퟿ࠀ",
    "！＂（）［］：；～‘’“”‟　、。，．＿",
    "\u00a0\u0085\u2028\u3000\r\n\t\x0b\x0c ",
    "٠١٢٣०१२३０１２３¹²³½",                              # digits of other scripts
    "😀🚀🦙✅\u200d\ufe0f\u0301\u0308",
]


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read(400000)
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def excerpts(rng, count):
    files = []
    for lang, pattern in SOURCES:
        found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if lang == "shell":
            found = [p for p in found if (read_text(p) or "").startswith("#!/bin/sh")]
        files.extend(found)
    out = []
    while len(out) < count:
        text = read_text(rng.choice(files))
        if not text or len(text) < 40:
            continue
        length = rng.choice([60, 200, 500, 1200])
        start = rng.randrange(0, max(1, len(text) - length))
        piece = text[start:start + length]
        if SEP.strip() in piece:
            continue
        out.append(piece)
    return out


def random_strings(rng, count):
    out = []
    for _ in range(count):
        pools = rng.sample(POOLS, rng.randint(1, 4))
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 40))))
    return out


def main():
    path = sys.argv[1]
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 20261204)
    cases = excerpts(rng, 500) + random_strings(rng, 500)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(SEP.join(cases))


if __name__ == "__main__":
    main()
