# tools/ds2_model.py: the DeepSeek-V2 architecture (MLA + MoE) in PyTorch, with a small safetensors reader/writer.
"""DeepSeek-V2 forward pass written from the architecture description in
../shared/ARCHITECTURE.md, used to check the fixture checkpoints and to train the
bundled demo model.  Parameter names match the Hugging Face checkpoint layout so a
state dict round-trips through safetensors unchanged."""

import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- safetensors

_ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2),
              "F64": (np.float64, 8), "I64": (np.int64, 8), "I32": (np.int32, 4)}


def st_read(path):
    """Read one safetensors file into a dict of float32 (or integer) torch tensors."""
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        shape = info["shape"]
        if dt == "BF16":
            # bf16 is the upper half of a float32: widen by shifting into the high 16 bits.
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
            arr = (u16 << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dt][0]).newbyteorder("<"))
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32)
        out[name] = torch.from_numpy(np.array(arr).reshape(shape))
    return out


def st_read_dir(model_dir):
    """Read model.safetensors or the shards named by model.safetensors.index.json."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    sd = {}
    for fn in files:
        sd.update(st_read(os.path.join(model_dir, fn)))
    return sd


def f32_to_bf16_bits(arr):
    """Round float32 to bf16 (nearest, ties to even, as torch does) and return uint16 bits."""
    a = np.ascontiguousarray(arr, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    rounding = ((u >> 16) & 1) + 0x7FFF
    r = ((u + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        r[nan] = 0x7FC0
    return r


def st_write(path, tensors, dtype="BF16", metadata=None):
    """Write a dict name -> tensor as safetensors, names sorted, all in one float dtype."""
    header = {"__metadata__": metadata or {"format": "pt"}}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = tensors[name].detach().to(torch.float32).contiguous().numpy()
        if dtype == "BF16":
            raw = f32_to_bf16_bits(a).astype("<u2").tobytes()
        elif dtype == "F32":
            raw = a.astype("<f4").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- config

class DS2Config:
    def __init__(self, d):
        self.raw = dict(d)
        g = d.get
        self.vocab_size = d["vocab_size"]
        self.hidden_size = d["hidden_size"]
        self.intermediate_size = d["intermediate_size"]
        self.moe_intermediate_size = d["moe_intermediate_size"]
        self.num_hidden_layers = d["num_hidden_layers"]
        self.num_attention_heads = d["num_attention_heads"]
        self.n_shared_experts = g("n_shared_experts") or 0
        self.n_routed_experts = g("n_routed_experts") or 0
        self.num_experts_per_tok = g("num_experts_per_tok") or 0
        self.routed_scaling_factor = float(g("routed_scaling_factor", 1.0))
        tm = g("topk_method", "greedy")
        self.topk_method = "greedy" if tm in ("greedy", "gready") else tm
        self.n_group = g("n_group") or 1
        self.topk_group = g("topk_group") or 1
        self.norm_topk_prob = bool(g("norm_topk_prob", False))
        self.first_k_dense_replace = g("first_k_dense_replace", 0)
        self.moe_layer_freq = g("moe_layer_freq", 1)
        self.q_lora_rank = g("q_lora_rank")
        self.kv_lora_rank = d["kv_lora_rank"]
        self.qk_nope_head_dim = d["qk_nope_head_dim"]
        self.qk_rope_head_dim = d["qk_rope_head_dim"]
        self.v_head_dim = d["v_head_dim"]
        self.rms_norm_eps = float(g("rms_norm_eps", 1e-6))
        self.rope_theta = float(g("rope_theta", 10000.0))
        self.rope_scaling = g("rope_scaling")
        self.max_position_embeddings = g("max_position_embeddings", 4096)

    @classmethod
    def load(cls, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            return cls(json.load(f))

    def is_moe_layer(self, i):
        return (self.n_routed_experts > 0 and i >= self.first_k_dense_replace
                and i % self.moe_layer_freq == 0)


# ---------------------------------------------------------------- rotary (YaRN)

def yarn_get_mscale(scale, mscale):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def rope_tables(cfg, n_pos):
    """cos/sin of shape [n_pos, rope_dim/2] (frequency i for pair i) and the softmax scale."""
    dim = cfg.qk_rope_head_dim
    base = cfg.rope_theta
    q_head_dim = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
    scale = q_head_dim ** -0.5
    i = np.arange(0, dim, 2, dtype=np.float64)
    freq_extra = 1.0 / (base ** (i / dim))
    mult = 1.0
    rs = cfg.rope_scaling
    if rs and rs.get("type", rs.get("rope_type")) == "yarn":
        factor = float(rs["factor"])
        orig = float(rs["original_max_position_embeddings"])
        beta_fast = float(rs.get("beta_fast", 32))
        beta_slow = float(rs.get("beta_slow", 1))
        mscale = float(rs.get("mscale", 1.0))
        mscale_all = float(rs.get("mscale_all_dim", 0.0))
        freq_inter = freq_extra / factor

        def corr_dim(n):
            return dim * math.log(orig / (n * 2 * math.pi)) / (2 * math.log(base))
        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
        mask = 1.0 - ramp
        inv_freq = freq_inter * (1.0 - mask) + freq_extra * mask
        mult = yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all)
        if mscale_all:
            m = yarn_get_mscale(factor, mscale_all)
            scale = scale * m * m
    elif rs:
        raise ValueError("config.json: rope_scaling type %r is not supported" % rs.get("type"))
    else:
        inv_freq = freq_extra
    # HF computes the angle table in float32 from float32 inv_freq; do the same so results match.
    inv32 = torch.tensor(inv_freq, dtype=torch.float32)
    t = torch.arange(n_pos, dtype=torch.float32)
    ang = torch.outer(t, inv32)
    return ang.cos() * mult, ang.sin() * mult, scale


def apply_rope(x, cos, sin):
    """x [..., S, D] with pairs (x[2i], x[2i+1]) rotated by frequency i; cos/sin [S, D/2]."""
    xe = x[..., 0::2]
    xo = x[..., 1::2]
    re = xe * cos - xo * sin
    ro = xo * cos + xe * sin
    return torch.stack((re, ro), dim=-1).flatten(-2)


# ---------------------------------------------------------------- modules

class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dt)


class MLP(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inter, bias=False)
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Gate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.weight = nn.Parameter(torch.empty(cfg.n_routed_experts, cfg.hidden_size))

    def forward(self, h):
        """h [T, H] -> (topk_idx [T,k], topk_weight [T,k], scores [T,E])."""
        c = self.cfg
        logits = F.linear(h.float(), self.weight.float())
        scores = logits.softmax(dim=-1)
        k = c.num_experts_per_tok
        if c.topk_method == "greedy":
            w, idx = torch.topk(scores, k, dim=-1)
        elif c.topk_method == "group_limited_greedy":
            T = scores.shape[0]
            gs = scores.view(T, c.n_group, -1).max(dim=-1).values
            gidx = torch.topk(gs, c.topk_group, dim=-1).indices
            gmask = torch.zeros_like(gs).scatter_(1, gidx, 1.0)
            smask = gmask.unsqueeze(-1).expand(T, c.n_group, c.n_routed_experts // c.n_group).reshape(T, -1)
            w, idx = torch.topk(scores.masked_fill(smask == 0, 0.0), k, dim=-1)
        else:
            raise ValueError("config.json: topk_method %r is not supported" % c.topk_method)
        if k > 1 and c.norm_topk_prob:
            w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
        else:
            w = w * c.routed_scaling_factor
        return idx, w, scores


class MoE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.gate = Gate(cfg)
        self.experts = nn.ModuleList([MLP(cfg.hidden_size, cfg.moe_intermediate_size)
                                      for _ in range(cfg.n_routed_experts)])
        if cfg.n_shared_experts:
            self.shared_experts = MLP(cfg.hidden_size, cfg.moe_intermediate_size * cfg.n_shared_experts)
        else:
            self.shared_experts = None
        self.aux = None  # load-balancing statistics of the last forward (training only)

    def forward(self, x):
        shape = x.shape
        h = x.reshape(-1, shape[-1])
        idx, w, scores = self.gate(h)
        out = torch.zeros_like(h)
        for e in range(self.cfg.n_routed_experts):
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            y = self.experts[e](h[tok]) * w[tok, slot].unsqueeze(-1).to(h.dtype)
            out.index_add_(0, tok, y)
        if self.training:
            # Switch-style balance: fraction of assignments times mean router probability per expert.
            E = self.cfg.n_routed_experts
            frac = torch.zeros(E).index_add_(0, idx.reshape(-1), torch.ones(idx.numel())) / idx.numel()
            self.aux = E * (frac.detach() * scores.mean(0)).sum()
        if self.shared_experts is not None:
            out = out + self.shared_experts(h)
        return out.view(shape)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        H = cfg.num_attention_heads
        self.q_head_dim = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
        if cfg.q_lora_rank is None:
            self.q_proj = nn.Linear(cfg.hidden_size, H * self.q_head_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(cfg.hidden_size, cfg.q_lora_rank, bias=False)
            self.q_a_layernorm = RMSNorm(cfg.q_lora_rank, cfg.rms_norm_eps)
            self.q_b_proj = nn.Linear(cfg.q_lora_rank, H * self.q_head_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(cfg.hidden_size, cfg.kv_lora_rank + cfg.qk_rope_head_dim, bias=False)
        self.kv_a_layernorm = RMSNorm(cfg.kv_lora_rank, cfg.rms_norm_eps)
        self.kv_b_proj = nn.Linear(cfg.kv_lora_rank, H * (cfg.qk_nope_head_dim + cfg.v_head_dim), bias=False)
        self.o_proj = nn.Linear(H * cfg.v_head_dim, cfg.hidden_size, bias=False)

    def forward(self, h, cos, sin, scale, mask):
        c = self.cfg
        B, S, _ = h.shape
        H = c.num_attention_heads
        if c.q_lora_rank is None:
            q = self.q_proj(h)
        else:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(h)))
        q = q.view(B, S, H, self.q_head_dim).transpose(1, 2)
        q_nope, q_pe = q.split([c.qk_nope_head_dim, c.qk_rope_head_dim], dim=-1)
        ckv = self.kv_a_proj_with_mqa(h)
        c_kv, k_pe = ckv.split([c.kv_lora_rank, c.qk_rope_head_dim], dim=-1)
        kv = self.kv_b_proj(self.kv_a_layernorm(c_kv)).view(B, S, H, c.qk_nope_head_dim + c.v_head_dim)
        kv = kv.transpose(1, 2)
        k_nope, v = kv.split([c.qk_nope_head_dim, c.v_head_dim], dim=-1)
        q_pe = apply_rope(q_pe, cos, sin)
        k_pe = apply_rope(k_pe.view(B, 1, S, c.qk_rope_head_dim), cos, sin)
        # Scores are q_nope.k_nope + q_pe.k_pe; scaling q (not the S x S scores) is cheaper.
        qf = torch.cat([q_nope, q_pe], dim=-1) * scale
        kf = torch.cat([k_nope, k_pe.expand(B, H, S, c.qk_rope_head_dim)], dim=-1)
        att = torch.matmul(qf, kf.transpose(-1, -2)) + mask
        att = att.float().softmax(dim=-1).to(v.dtype)
        o = torch.matmul(att, v).transpose(1, 2).reshape(B, S, H * c.v_head_dim)
        return self.o_proj(o)


class Layer(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MoE(cfg) if cfg.is_moe_layer(i) else MLP(cfg.hidden_size, cfg.intermediate_size)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, scale, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, scale, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Layer(cfg, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class DeepseekV2(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self._rope = None

    def rope(self, n):
        if self._rope is None or self._rope[0].shape[0] < n:
            self._rope = rope_tables(self.cfg, max(n, 256))
        cos, sin, scale = self._rope
        return cos[:n], sin[:n], scale

    def forward(self, ids):
        """ids LongTensor [B, S] -> logits [B, S, vocab] (float32)."""
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        S = ids.shape[1]
        cos, sin, scale = self.rope(S)
        mask = torch.full((S, S), float("-inf")).triu(1)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, scale, mask)
        return self.lm_head(self.model.norm(x)).float()

    def aux_loss(self):
        vals = [m.aux for m in self.modules() if isinstance(m, MoE) and m.aux is not None]
        return sum(vals) / len(vals) if vals else torch.zeros(())

    @torch.no_grad()
    def greedy(self, ids, n):
        """Append n argmax tokens (not stopping at EOS); returns (new ids, top-2 gaps)."""
        ids = list(ids)
        out, gaps = [], []
        for _ in range(n):
            logits = self.forward(torch.tensor([ids], dtype=torch.long))[0, -1]
            top = torch.topk(logits, 2)
            nxt = int(top.indices[0])
            gaps.append(float(top.values[0] - top.values[1]))
            out.append(nxt)
            ids.append(nxt)
        return out, gaps


def load_model(model_dir, dtype=torch.float32):
    """Build the model from config.json and load the safetensors weights (widened to dtype)."""
    cfg = DS2Config.load(model_dir)
    m = DeepseekV2(cfg)
    sd = st_read_dir(model_dir)
    own = m.state_dict()
    missing = [k for k in own if k not in sd]
    extra = [k for k in sd if k not in own]
    if missing or extra:
        raise ValueError("%s: weights do not match config.json (missing %s, unexpected %s)"
                         % (model_dir, missing[:5], extra[:5]))
    m.load_state_dict({k: v.to(dtype) for k, v in sd.items()})
    m.to(dtype)
    m.eval()
    return m
