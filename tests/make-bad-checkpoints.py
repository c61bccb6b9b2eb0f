#!/usr/bin/env python3
# make-bad-checkpoints.py: writes broken copies of the tiny fixture checkpoints, one directory per case,
# for tests/bad-checkpoints.sh. Plain Python 3 (struct, json): no numpy or safetensors needed.
#
# usage: make-bad-checkpoints.py FIXTURES/models OUTDIR
# Prints one line per case: NAME<TAB>needle1<TAB>needle2..., the strings the engine's one-line error
# must contain (the file and the tensor or key it names).

import json
import os
import shutil
import struct
import sys

DTYPE_SIZE = {"F64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1}


def read_st(path):
    """Returns (metadata, {name: [dtype, shape, bytes]}) in file order."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    tensors = {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = t["data_offsets"]
        tensors[name] = [t["dtype"], list(t["shape"]), data[b:e]]
    return meta, tensors


def header_of(meta, tensors, override=None):
    """The JSON header for tensors laid out back to back; override[name] replaces header fields."""
    header = {}
    if meta is not None:
        header["__metadata__"] = meta
    off = 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    for name, fields in (override or {}).items():
        header[name].update(fields)
    text = json.dumps(header, separators=(",", ":")).encode()
    return text + b" " * (-len(text) % 8)


def write_st(path, meta, tensors, override=None, header_len=None):
    text = header_of(meta, tensors, override)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if header_len is None else header_len))
        f.write(text)
        for dtype, shape, data in tensors.values():
            f.write(data)


def copy_case(src, dst, skip=()):
    os.makedirs(dst)
    for name in os.listdir(src):
        p = os.path.join(src, name)
        if name in skip or name == "golden" or name.endswith(".gguf") or not os.path.isfile(p):
            continue
        shutil.copyfile(p, os.path.join(dst, name))
    return dst


def edit_config(d, **changes):
    p = os.path.join(d, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    cfg.update(changes)
    with open(p, "w") as f:
        json.dump(cfg, f, indent=2)


def main():
    models, out = sys.argv[1], sys.argv[2]
    full = os.path.join(models, "tiny-ds2-full")
    lite = os.path.join(models, "tiny-ds2-lite")
    st = "model.safetensors"
    meta, tensors = read_st(os.path.join(full, st))
    cases = []

    def case(name, *needles, base=full, skip=()):
        d = copy_case(base, os.path.join(out, name), skip)
        cases.append((name, needles))
        return d

    # Files missing from the directory.
    case("no-config", "config.json", skip=("config.json",))
    case("no-weights", st, "model.safetensors.index.json", skip=(st,))

    # Truncation: inside the 8-byte length, inside the JSON header, inside the data.
    raw = open(os.path.join(full, st), "rb").read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    d = case("cut-in-length", st)
    open(os.path.join(d, st), "wb").write(raw[:5])
    d = case("cut-in-header", st, "header length")
    open(os.path.join(d, st), "wb").write(raw[:8 + hlen // 2])
    # Cut 100 bytes from the end: only the last tensor of the data area (256 bytes or more) is hit.
    offsets = json.loads(raw[8:8 + hlen])
    last = max((k for k in offsets if k != "__metadata__"), key=lambda k: offsets[k]["data_offsets"][1])
    d = case("cut-in-data", st, last)
    open(os.path.join(d, st), "wb").write(raw[:len(raw) - 100])

    # A header length far past the end of an otherwise intact file.
    d = case("header-length-past-end", st, "header length")
    write_st(os.path.join(d, st), meta, tensors, header_len=1 << 40)

    # Header that is not JSON.
    d = case("header-not-json", st, "JSON")
    garbage = bytearray(raw)
    garbage[8:24] = b"{\"a\": [1, 2,, 3"
    open(os.path.join(d, st), "wb").write(bytes(garbage))

    # data_offsets past the end of the data area.
    name = "model.layers.2.self_attn.o_proj.weight"
    d = case("offsets-past-end", st, name)
    size = sum(len(t[2]) for t in tensors.values())
    write_st(os.path.join(d, st), meta, tensors, {name: {"data_offsets": [size - 100, size + 16284]}})

    # Two tensors of one size sharing their bytes.
    a, b = "model.layers.1.mlp.experts.3.gate_proj.weight", "model.layers.1.mlp.experts.3.up_proj.weight"
    d = case("offsets-overlap", st, "experts.3", "overlap")
    h = json.loads(header_of(meta, tensors))
    write_st(os.path.join(d, st), meta, tensors, {b: {"data_offsets": h[a]["data_offsets"]}})

    # data_offsets whose length disagrees with shape x dtype.
    name = "model.layers.1.mlp.gate.weight"
    d = case("offsets-wrong-length", st, name)
    h = json.loads(header_of(meta, tensors))
    b, e = h[name]["data_offsets"]
    write_st(os.path.join(d, st), meta, tensors, {name: {"data_offsets": [b, e - 4]}})

    # A dtype the engine does not read: I32 (same size as F32) and F64 (the data rewritten as doubles).
    name = "model.layers.1.self_attn.kv_a_proj_with_mqa.weight"
    d = case("dtype-i32", st, name, "I32")
    write_st(os.path.join(d, st), meta, tensors, {name: {"dtype": "I32"}})
    name = "model.layers.0.input_layernorm.weight"
    d = case("dtype-f64", st, name, "F64")
    t2 = dict(tensors)
    vals = struct.unpack("<%df" % (len(tensors[name][2]) // 4), tensors[name][2])
    t2[name] = ["F64", tensors[name][1], struct.pack("<%dd" % len(vals), *vals)]
    write_st(os.path.join(d, st), meta, t2)

    # A header padded to 8k + 2 bytes: every F32 tensor starts off its 4-byte alignment.
    d = case("misaligned-data", st, "model.embed_tokens.weight", "multiple")
    text = header_of(meta, tensors) + b"  "
    with open(os.path.join(d, st), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for dtype, shape, data in tensors.values():
            f.write(data)

    # A shape that disagrees with config.json (same byte count, so only the shape check can see it).
    name = "model.layers.3.self_attn.kv_b_proj.weight"
    d = case("shape-mismatch", st, name, "[64, 64]", "[128, 32]")
    write_st(os.path.join(d, st), meta, tensors, {name: {"shape": [64, 64]}})

    # config.json disagreeing with the (intact) weights.
    d = case("config-kv-lora-rank", st, "kv_a_proj_with_mqa", "config.json")
    edit_config(d, kv_lora_rank=40)

    # A missing tensor.
    name = "model.layers.2.mlp.experts.5.up_proj.weight"
    d = case("missing-tensor", st, name)
    t2 = dict(tensors)
    del t2[name]
    write_st(os.path.join(d, st), meta, t2)

    # Broken JSON files and config values.
    d = case("config-malformed", "config.json")
    text = open(os.path.join(full, "config.json")).read()
    open(os.path.join(d, "config.json"), "w").write(text.replace('"hidden_size": 64,', '"hidden_size": 64,,'))
    d = case("tokenizer-malformed", "tokenizer.json")
    text = open(os.path.join(full, "tokenizer.json")).read()
    open(os.path.join(d, "tokenizer.json"), "w").write(text[:len(text) // 2])
    d = case("topk-method-unknown", "config.json", "topk_method")
    edit_config(d, topk_method="noaux_tc")
    d = case("scoring-func-sigmoid", "config.json", "scoring_func")
    edit_config(d, scoring_func="sigmoid")
    d = case("experts-per-tok-too-many", "config.json", "num_experts_per_tok")
    edit_config(d, num_experts_per_tok=9)
    d = case("hidden-size-string", "config.json", "hidden_size")
    edit_config(d, hidden_size="64")

    # Sharded checkpoint (Lite): a shard missing, an index entry whose file lacks the tensor, a
    # malformed index, an index pointing outside the directory.
    shard2 = "model-00002-of-00003.safetensors"
    idx = "model.safetensors.index.json"
    case("shard-missing", shard2, idx, base=lite, skip=(shard2,))
    d = case("index-wrong-file", base=lite)
    index = json.load(open(os.path.join(lite, idx)))
    name = next(k for k, v in sorted(index["weight_map"].items()) if v == shard2)
    index["weight_map"][name] = "model-00003-of-00003.safetensors"
    json.dump(index, open(os.path.join(d, idx), "w"), indent=2)
    cases[-1] = ("index-wrong-file", ("model-00003-of-00003.safetensors", name))
    d = case("index-malformed", idx, base=lite)
    text = open(os.path.join(lite, idx)).read()
    open(os.path.join(d, idx), "w").write(text[:len(text) // 3])
    d = case("index-no-weight-map", idx, "weight_map", base=lite)
    json.dump({"metadata": {}}, open(os.path.join(d, idx), "w"))
    d = case("index-path-escape", idx, base=lite)
    index = json.load(open(os.path.join(lite, idx)))
    index["weight_map"]["lm_head.weight"] = "../tiny-ds2-full/model.safetensors"
    json.dump(index, open(os.path.join(d, idx), "w"), indent=2)
    cases[-1] = ("index-path-escape", (idx, "lm_head.weight"))
    name = "model.layers.26.self_attn.q_proj.weight"
    d = case("index-missing-tensor", idx, name, base=lite)
    index = json.load(open(os.path.join(lite, idx)))
    del index["weight_map"][name]
    json.dump(index, open(os.path.join(d, idx), "w"), indent=2)

    for name, needles in cases:
        print("\t".join((name,) + tuple(needles)))


if __name__ == "__main__":
    main()
