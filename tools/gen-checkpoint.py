#!/usr/bin/python3
# gen-checkpoint.py: writes a random-weight DeepSeek-V2 checkpoint in the Hugging Face file layout.
"""Write a DeepSeek-V2 checkpoint with random weights: config.json, BF16 (or F16, F32) safetensors
shards with model.safetensors.index.json, and the tokenizer files copied from a
tokenizer directory.  For benchmarks and loader tests: the weights mean nothing,
but every tensor has the name, shape and dtype of a real checkpoint.

Plain Python 3 (no numpy): random bytes are turned into small BF16 values with
bytes.translate, which keeps a 2-3 GB checkpoint to a few seconds per GB.

  tools/gen-checkpoint.py --preset bench --tokenizer tests/fixtures/tokenizer/deepseek-coder-v2 /tmp/bench
"""

import argparse
import json
import os
import random
import shutil
import struct
import sys

PRESETS = {
    # The shape of Coder-V2-Lite at half the width, a third of the layers and half the experts:
    # big enough that decode is limited by memory bandwidth, small enough for a CI machine.
    "bench": dict(vocab_size=102400, hidden_size=1024, intermediate_size=5632,
                  moe_intermediate_size=1408, num_hidden_layers=8, num_attention_heads=16,
                  n_shared_experts=2, n_routed_experts=32, num_experts_per_tok=6,
                  routed_scaling_factor=1.0, topk_method="greedy", n_group=1, topk_group=1,
                  norm_topk_prob=False, first_k_dense_replace=1, moe_layer_freq=1,
                  q_lora_rank=None, kv_lora_rank=512, qk_nope_head_dim=128,
                  qk_rope_head_dim=64, v_head_dim=128, yarn=True),
    # Coder-V2-Lite's real widths (hidden 2048, dense 10944, 64 experts of 1408, 2 shared) with 4
    # of its 27 layers: the products of the real model at a size a small machine holds (4.6 GB BF16).
    "lite4": dict(vocab_size=102400, hidden_size=2048, intermediate_size=10944,
                  moe_intermediate_size=1408, num_hidden_layers=4, num_attention_heads=16,
                  n_shared_experts=2, n_routed_experts=64, num_experts_per_tok=6,
                  routed_scaling_factor=1.0, topk_method="greedy", n_group=1, topk_group=1,
                  norm_topk_prob=False, first_k_dense_replace=1, moe_layer_freq=1,
                  q_lora_rank=None, kv_lora_rank=512, qk_nope_head_dim=128,
                  qk_rope_head_dim=64, v_head_dim=128, yarn=True),
    # A few MB: quick runs of the engine end to end.
    "small": dict(vocab_size=102400, hidden_size=128, intermediate_size=352,
                  moe_intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                  n_shared_experts=1, n_routed_experts=8, num_experts_per_tok=2,
                  routed_scaling_factor=1.0, topk_method="greedy", n_group=1, topk_group=1,
                  norm_topk_prob=False, first_k_dense_replace=1, moe_layer_freq=1,
                  q_lora_rank=None, kv_lora_rank=64, qk_nope_head_dim=32,
                  qk_rope_head_dim=16, v_head_dim=32, yarn=True),
}

INT_KEYS = ["vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
            "num_hidden_layers", "num_attention_heads", "n_shared_experts", "n_routed_experts",
            "num_experts_per_tok", "n_group", "topk_group", "first_k_dense_replace",
            "moe_layer_freq", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"]

# High byte of a BF16 for each random byte: keep the sign bit, exponent 118..123 so that with the
# random low byte |w| lies in [2^-9, 2^-5), mostly around 0.01-0.03 (like normal * 0.02).
HI = bytes((v & 0x80) | (60 if v & 3 else 59) for v in range(256))
# F16: sign, exponent 8 or 9 (2^-7 .. 2^-5), the top two mantissa bits from the random byte.
HI_F16 = bytes((v & 0x80) | ((9 if v & 3 else 8) << 2) | ((v >> 2) & 3) for v in range(256))
# Per dtype: bytes per element, the high byte's table, and 1.0 (norm weights), little-endian.
DTYPES = {
    "bf16": ("BF16", 2, HI, b"\x80\x3f", "bfloat16"),
    "f16": ("F16", 2, HI_F16, b"\x00\x3c", "float16"),
    "f32": ("F32", 4, HI, b"\x00\x00\x80\x3f", "float32"),   # an F32's top byte is a BF16's
}


def config_json(c, dtype):
    cfg = {
        "architectures": ["DeepseekV2ForCausalLM"],
        "model_type": "deepseek_v2",
        "num_key_value_heads": c["num_attention_heads"],
        "routed_scaling_factor": c["routed_scaling_factor"],
        "topk_method": c["topk_method"],
        "scoring_func": "softmax",
        "norm_topk_prob": c["norm_topk_prob"],
        "q_lora_rank": c["q_lora_rank"],
        "hidden_act": "silu",
        "max_position_embeddings": 163840,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": 100000,
        "eos_token_id": 100001,
        "torch_dtype": DTYPES[dtype][4],
        "use_cache": True,
    }
    for k in INT_KEYS:
        cfg[k] = c[k]
    if c["yarn"]:
        cfg["rope_scaling"] = {"type": "yarn", "factor": 40.0,
                               "original_max_position_embeddings": 4096, "beta_fast": 32,
                               "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707}
    else:
        cfg["rope_scaling"] = None
    return cfg


def tensor_list(c):
    """(name, shape, is_norm) for every tensor, in checkpoint order."""
    h, nh = c["hidden_size"], c["num_attention_heads"]
    nope, rope, vd = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    kr, qr = c["kv_lora_rank"], c["q_lora_rank"]
    out = [("model.embed_tokens.weight", (c["vocab_size"], h), False)]
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        out.append((p + "input_layernorm.weight", (h,), True))
        if qr:
            out.append((p + "self_attn.q_a_proj.weight", (qr, h), False))
            out.append((p + "self_attn.q_a_layernorm.weight", (qr,), True))
            out.append((p + "self_attn.q_b_proj.weight", (nh * (nope + rope), qr), False))
        else:
            out.append((p + "self_attn.q_proj.weight", (nh * (nope + rope), h), False))
        out.append((p + "self_attn.kv_a_proj_with_mqa.weight", (kr + rope, h), False))
        out.append((p + "self_attn.kv_a_layernorm.weight", (kr,), True))
        out.append((p + "self_attn.kv_b_proj.weight", (nh * (nope + vd), kr), False))
        out.append((p + "self_attn.o_proj.weight", (h, nh * vd), False))
        out.append((p + "post_attention_layernorm.weight", (h,), True))
        moe = (c["n_routed_experts"] > 0 and l >= c["first_k_dense_replace"]
               and l % max(c["moe_layer_freq"], 1) == 0)
        if not moe:
            i = c["intermediate_size"]
            out.append((p + "mlp.gate_proj.weight", (i, h), False))
            out.append((p + "mlp.up_proj.weight", (i, h), False))
            out.append((p + "mlp.down_proj.weight", (h, i), False))
            continue
        mi = c["moe_intermediate_size"]
        out.append((p + "mlp.gate.weight", (c["n_routed_experts"], h), False))
        for e in range(c["n_routed_experts"]):
            q = p + "mlp.experts.%d." % e
            out.append((q + "gate_proj.weight", (mi, h), False))
            out.append((q + "up_proj.weight", (mi, h), False))
            out.append((q + "down_proj.weight", (h, mi), False))
        if c["n_shared_experts"] > 0:
            si = c["n_shared_experts"] * mi
            out.append((p + "mlp.shared_experts.gate_proj.weight", (si, h), False))
            out.append((p + "mlp.shared_experts.up_proj.weight", (si, h), False))
            out.append((p + "mlp.shared_experts.down_proj.weight", (h, si), False))
    out.append(("model.norm.weight", (h,), True))
    out.append(("lm_head.weight", (c["vocab_size"], h), False))
    return out


def nbytes(shape, dtype="bf16"):
    n = DTYPES[dtype][1]
    for d in shape:
        n *= d
    return n


def write_tensor(f, rng, shape, is_norm, dtype):
    _, es, hi, one, _ = DTYPES[dtype]
    n = nbytes(shape, dtype) // es
    if is_norm:
        f.write(one * n)
        return
    step = 1 << 24   # elements per piece, to bound memory
    for start in range(0, n, step):
        m = min(step, n - start)
        b = bytearray(rng.randbytes(es * m))
        b[es - 1::es] = bytes(b[es - 1::es]).translate(hi)
        f.write(b)


def write_shard(path, tensors, rng, dtype):
    header, off = {}, 0
    for name, shape, _ in tensors:
        size = nbytes(shape, dtype)
        header[name] = {"dtype": DTYPES[dtype][0], "shape": list(shape), "data_offsets": [off, off + size]}
        off += size
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, shape, is_norm in tensors:
            write_tensor(f, rng, shape, is_norm, dtype)
    return off


def main():
    ap = argparse.ArgumentParser(description="Write a random-weight DeepSeek-V2 checkpoint (safetensors shards, BF16 by default).")
    ap.add_argument("outdir")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="bench")
    ap.add_argument("--tokenizer", help="directory holding tokenizer.json and tokenizer_config.json to copy")
    ap.add_argument("--shards", type=int, default=2, help="split the tensors over at most this many safetensors files (default 2)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="weight type (default bf16)")
    for k in INT_KEYS + ["q_lora_rank"]:
        ap.add_argument("--" + k.replace("_", "-"), type=int, dest=k,
                        help="override the preset's %s" % k)
    ap.add_argument("--topk-method", choices=["greedy", "group_limited_greedy"])
    ap.add_argument("--norm-topk-prob", action="store_true", default=None)
    ap.add_argument("--routed-scaling-factor", type=float)
    ap.add_argument("--no-yarn", action="store_true", help="plain RoPE instead of YaRN")
    a = ap.parse_args()

    c = dict(PRESETS[a.preset])
    for k in INT_KEYS + ["q_lora_rank", "topk_method", "norm_topk_prob", "routed_scaling_factor"]:
        v = getattr(a, k)
        if v is not None:
            c[k] = v
    if c["q_lora_rank"] == 0:
        c["q_lora_rank"] = None
    if a.no_yarn:
        c["yarn"] = False
    if c["qk_rope_head_dim"] % 2 or c["n_routed_experts"] and c["n_routed_experts"] % max(c["n_group"], 1):
        sys.exit("gen-checkpoint.py: qk_rope_head_dim must be even and n_routed_experts a multiple of n_group")

    os.makedirs(a.outdir, exist_ok=True)
    with open(os.path.join(a.outdir, "config.json"), "w") as f:
        json.dump(config_json(c, a.dtype), f, indent=2)
        f.write("\n")
    if a.tokenizer:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(os.path.join(a.tokenizer, name), os.path.join(a.outdir, name))

    tensors = tensor_list(c)
    total = sum(nbytes(s, a.dtype) for _, s, _ in tensors)
    n_shards = max(1, min(a.shards, len(tensors)))
    groups, cur, acc = [], [], 0
    for t in tensors:
        cur.append(t)
        acc += nbytes(t[1], a.dtype)
        if acc >= total * (len(groups) + 1) / n_shards and len(groups) < n_shards - 1:
            groups.append(cur)
            cur = []
    groups.append(cur)
    groups = [g for g in groups if g]

    rng = random.Random(a.seed)
    weight_map = {}
    for i, g in enumerate(groups):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, len(groups))
        write_shard(os.path.join(a.outdir, fname), g, rng, a.dtype)
        for name, _, _ in g:
            weight_map[name] = fname
        print("wrote %s (%d tensors)" % (fname, len(g)), file=sys.stderr)
    with open(os.path.join(a.outdir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")
    print("%s: %.2f GB of %s weights, %d tensors in %d files" %
          (a.outdir, total / 1e9, DTYPES[a.dtype][0], len(tensors), len(groups)), file=sys.stderr)


if __name__ == "__main__":
    main()
