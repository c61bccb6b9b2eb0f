#!/usr/bin/python3
# tools/train_demo.py: trains the bundled demo model (a small DeepSeek-V2) and writes models/dscoder-demo/.
"""Usage:
  nice -n 19 /usr/bin/python3 tools/train_demo.py [--out models/dscoder-demo] [--steps N]
  /usr/bin/python3 tools/train_demo.py --golden-only [--out DIR]

Trains on tools/demo_data.py (chat in the DeepSeek-Coder-V2 Instruct format with
the loss on the answer, completions, fill-in-the-middle) with fixed seeds and a
fixed data order, on 2 CPU threads, then writes config.json, tokenizer.json,
tokenizer_config.json, model.safetensors (BF16) and golden/: for each prompt of
demo_data.GOLDEN the prompt ids and the greedy continuation computed in float32
from the BF16 weights as stored (what tests/demo-model.sh asks the engine to
reproduce).  Needs Debian's python3-torch and python3-regex."""

import argparse
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import demo_data  # noqa: E402
import ds2_model  # noqa: E402
import train_bpe  # noqa: E402

SEED = 1234
N_MERGES = 1536

CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}"
    "{{ message['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")


def model_config(n_tokens, bos, eos):
    vocab = (n_tokens + 63) // 64 * 64  # like the real models, the logits cover more ids than the tokenizer
    return {
        "architectures": ["DeepseekV2ForCausalLM"],
        "model_type": "deepseek_v2",
        "vocab_size": vocab,
        "hidden_size": 256,
        "intermediate_size": 640,
        "moe_intermediate_size": 128,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "n_shared_experts": 2,
        "n_routed_experts": 8,
        "num_experts_per_tok": 2,
        "routed_scaling_factor": 1.0,
        "topk_method": "greedy",
        "n_group": 1,
        "topk_group": 1,
        "scoring_func": "softmax",
        "norm_topk_prob": False,
        "first_k_dense_replace": 1,
        "moe_layer_freq": 1,
        "aux_loss_alpha": 0.001,
        "seq_aux": True,
        "q_lora_rank": None,
        "kv_lora_rank": 64,
        "qk_nope_head_dim": 32,
        "qk_rope_head_dim": 16,
        "v_head_dim": 32,
        "hidden_act": "silu",
        "max_position_embeddings": 163840,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "rope_scaling": {"type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                         "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": False,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "torch_dtype": "bfloat16",
        "use_cache": True,
    }


def chat_prefix(system, user):
    """The rendered template up to the generation prompt, as text after BOS."""
    s = (system + "\n\n") if system else ""
    return s + "User: " + user + "\n\nAssistant:"


def prompt_ids(tok, system, user):
    return [tok.specials[train_bpe.BOS]] + tok.encode(chat_prefix(system, user))


def chat_seq(tok, system, turns):
    """(ids, loss mask) of a conversation rendered by the chat template; the loss is on every answer
    and its EOS.  Checks that each answer's start does not change how its prompt tokenizes."""
    bos, eos = tok.specials[train_bpe.BOS], tok.specials[train_bpe.EOS]
    ids, mask = [bos], [0]
    text = (system + "\n\n") if system else ""
    for user, answer in turns:
        text += "User: " + user + "\n\nAssistant:"
        pre = tok.encode(text)
        seg = tok.encode(text + " " + answer)
        assert seg[:len(pre)] == pre, "template prefix does not tokenize stably: %r" % user
        ids += seg + [eos]
        mask += [0] * len(pre) + [1] * (len(seg) - len(pre)) + [1]
        text = ""
    return ids, mask


def static_examples(tok):
    """Completion and FIM sequences, the same every epoch."""
    bos, eos = tok.specials[train_bpe.BOS], tok.specials[train_bpe.EOS]
    out = []
    for text in demo_data.COMPLETIONS:
        ids = [bos] + tok.encode(text) + [eos]
        out.append((ids, [0] + [1] * (len(ids) - 1)))
    fb, fh, fe = (tok.specials[s] for s in (train_bpe.FIM_BEGIN, train_bpe.FIM_HOLE, train_bpe.FIM_END))
    for pre, mid, suf in demo_data.fim_examples():
        head = [bos, fb] + tok.encode(pre) + [fh] + tok.encode(suf) + [fe]
        tail = tok.encode(mid) + [eos]
        out.append((head + tail, [0] * len(head) + [1] * len(tail)))
    return out


def epoch_examples(tok, rng, static, followup, followup_two):
    """One epoch: the static sequences and every chat example in a variant drawn from rng: 40% with no
    system message, else one of demo_data.SYSTEMS (half of those with the trailing newline a YAML block
    literal leaves); a fraction `followup` after an earlier exchange, as in a continued conversation, and
    a fraction `followup_two` of those after two."""
    out = list(static)
    for system, user, answer in demo_data.chat_examples():
        # The seed prompts are what people try first: see them three times as often.
        for _ in range(3 if user in demo_data.GOLDEN[:3] else 1):
            sysm = system
            if sysm is None and rng.random() >= 0.4:
                sysm = rng.choice(demo_data.SYSTEMS)
                if rng.random() < 0.5:
                    sysm += "\n"
            turns = [(user, answer)]
            if rng.random() < followup:
                turns.insert(0, rng.choice(demo_data.CHAT))
                if followup_two > 0 and rng.random() < followup_two:
                    turns.insert(0, rng.choice(demo_data.CHAT))
            out.append(chat_seq(tok, sysm, turns))
    return out


def batches(exs, batch_tokens, rng):
    """Shuffle, then group neighbours of similar length so padding stays small."""
    order = list(range(len(exs)))
    rng.shuffle(order)
    chunks = [order[i:i + 32] for i in range(0, len(order), 32)]
    out = []
    for ch in chunks:
        ch.sort(key=lambda i: len(exs[i][0]))
        cur = []
        for i in ch:
            longest = max([len(exs[j][0]) for j in cur + [i]])
            if cur and longest * (len(cur) + 1) > batch_tokens:
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
    rng.shuffle(out)
    return out


def collate(exs, idx):
    L = max(len(exs[i][0]) for i in idx)
    x = torch.zeros(len(idx), L - 1, dtype=torch.long)
    y = torch.full((len(idx), L - 1), -100, dtype=torch.long)
    for r, i in enumerate(idx):
        ids, mask = exs[i]
        n = len(ids) - 1
        x[r, :n] = torch.tensor(ids[:-1])
        tgt = torch.tensor(ids[1:])
        m = torch.tensor(mask[1:], dtype=torch.bool)
        y[r, :n] = torch.where(m, tgt, torch.full_like(tgt, -100))
    return x, y


def init_weights(model, std):
    g = torch.Generator().manual_seed(SEED)
    for name, p in sorted(model.named_parameters()):
        if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
            p.data.fill_(1.0)
        else:
            p.data.normal_(0.0, std, generator=g)


class Progress:
    """A one-line progress bar on stderr (tqdm is not a dependency)."""

    def __init__(self, total):
        self.total = total
        self.t0 = time.time()

    def show(self, step, loss):
        frac = step / self.total
        el = time.time() - self.t0
        eta = el / frac - el if frac > 0 else 0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        sys.stderr.write("\r[%s] %d/%d loss %.4f  %dm%02ds elapsed, %dm%02ds left " %
                         (bar, step, self.total, loss, el // 60, el % 60, eta // 60, eta % 60))
        sys.stderr.flush()


def lr_at(step, lr):
    """Warm-up, then lr / (1 + step / 400).  It does not depend on the total number of steps, so a run
    stopped early by --max-minutes after K steps equals a run with --steps K (the log says K)."""
    return lr * min(1.0, step / 50) / (1.0 + step / 400)


def train(out_dir, steps, lr, batch_tokens, log_every, max_minutes, followup, followup_two):
    torch.manual_seed(SEED)
    os.makedirs(out_dir, exist_ok=True)
    tok, merges = train_bpe.build(demo_data.all_text(), N_MERGES)
    train_bpe.write_json(tok, merges, os.path.join(out_dir, "tokenizer.json"))
    n_tokens = len(tok.vocab) + len(tok.specials)
    cfg_d = model_config(n_tokens, tok.specials[train_bpe.BOS], tok.specials[train_bpe.EOS])
    cfg = ds2_model.DS2Config(cfg_d)
    model = ds2_model.DeepseekV2(cfg)
    init_weights(model, cfg_d["initializer_range"])
    n_params = sum(p.numel() for p in model.parameters())
    static = static_examples(tok)
    rng = random.Random(SEED)
    exs = None
    print("model: %d parameters (%.1f MB in BF16)" % (n_params, n_params * 2 / 1e6), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    queue = []
    bar = Progress(steps)
    model.train()
    t0 = time.time()
    ema = None
    for step in range(1, steps + 1):
        if max_minutes and time.time() - t0 > max_minutes * 60:
            sys.stderr.write("\n")
            print("stopping after step %d: --max-minutes %g reached (to reproduce: --steps %d)"
                  % (step - 1, max_minutes, step - 1), flush=True)
            break
        if not queue:
            exs = epoch_examples(tok, rng, static, followup, followup_two)
            queue = batches(exs, batch_tokens, rng)
            if step == 1:
                print("data: %d sequences, %d tokens per epoch"
                      % (len(exs), sum(len(e[0]) for e in exs)), flush=True)
        idx = queue.pop()
        x, y = collate(exs, idx)
        cur_lr = lr_at(step, lr)
        for gp in opt.param_groups:
            gp["lr"] = cur_lr
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1), ignore_index=-100)
        total = loss + 0.01 * model.aux_loss()
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        bar.show(step, ema)
        if step % log_every == 0 or step == steps:
            sys.stderr.write("\n")
            print("step %d/%d loss %.4f (avg %.4f) lr %.2e  %.0fs"
                  % (step, steps, loss.item(), ema, cur_lr, time.time() - t0), flush=True)
    print("training done in %.1f min, final average loss %.4f" % ((time.time() - t0) / 60, ema), flush=True)
    save(model, cfg_d, out_dir)
    return tok


def save(model, cfg_d, out_dir):
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg_d, f, indent=2)
        f.write("\n")
    tc = {"add_bos_token": True, "add_eos_token": False, "bos_token": train_bpe.BOS,
          "eos_token": train_bpe.EOS, "model_max_length": 16384, "tokenizer_class": "LlamaTokenizerFast",
          "chat_template": CHAT_TEMPLATE}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    sd = {k: v for k, v in model.state_dict().items()}
    ds2_model.st_write(os.path.join(out_dir, "model.safetensors"), sd, "BF16")


def golden(out_dir, max_new):
    """Greedy continuations of the golden prompts from the stored BF16 weights, in float32."""
    tok = train_bpe.Tokenizer.load(os.path.join(out_dir, "tokenizer.json"))
    model = ds2_model.load_model(out_dir, torch.float32)
    eos = tok.specials[train_bpe.EOS]
    gdir = os.path.join(out_dir, "golden")
    os.makedirs(gdir, exist_ok=True)
    for fn in os.listdir(gdir):
        os.remove(os.path.join(gdir, fn))
    min_gap = None
    report = []
    for n, user in enumerate(demo_data.GOLDEN):
        ids = prompt_ids(tok, None, user)
        new, gaps = model.greedy(ids, max_new)
        if eos in new:
            k = new.index(eos) + 1
            new, gaps = new[:k], gaps[:k]
        base = os.path.join(gdir, "%02d" % n)
        with open(base + ".txt", "w", encoding="utf-8") as f:
            f.write(user)
        with open(base + ".prompt.ids", "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")
        with open(base + ".greedy.ids", "w") as f:
            f.write(" ".join(map(str, new)) + "\n")
        g = min(gaps)
        min_gap = g if min_gap is None else min(min_gap, g)
        report.append("%02d gap %.4f  %-55s -> %r" % (n, g, user[:55], tok.decode(new)[:70]))
    print("\n".join(report))
    print("golden: %d prompts, up to %d new tokens each, minimum top-2 logit gap %.4f"
          % (len(demo_data.GOLDEN), max_new, min_gap))


def evaluate(out_dir):
    """How many training sequences the stored model reproduces exactly under greedy decoding: with
    teacher forcing, every target token must be the argmax (then greedy decoding yields exactly the
    target), which needs one forward pass per sequence instead of one per token.  Chat is checked
    without a system message and with the TUI's default one (the coder profile)."""
    tok = train_bpe.Tokenizer.load(os.path.join(out_dir, "tokenizer.json"))
    model = ds2_model.load_model(out_dir, torch.float32)
    groups = [("completion+FIM", static_examples(tok)),
              ("chat", [chat_seq(tok, s, [(u, a)]) for s, u, a in demo_data.chat_examples()]),
              ("chat+coder system", [chat_seq(tok, demo_data.SYSTEMS[0] + "\n", [(u, a)])
                                     for s, u, a in demo_data.chat_examples() if s is None]),
              # the second question of a conversation in the TUI: coder system, one earlier exchange
              ("chat+coder system, second question",
               [chat_seq(tok, demo_data.SYSTEMS[0] + "\n", [demo_data.CHAT[(7 * i + 3) % len(demo_data.CHAT)], (u, a)])
                for i, (s, u, a) in enumerate(demo_data.chat_examples()) if s is None])]
    with torch.no_grad():
        for name, exs in groups:
            ok = 0
            for ids, mask in exs:
                pred = model(torch.tensor([ids[:-1]]))[0].argmax(-1).tolist()
                bad = [i for i in range(len(ids) - 1) if mask[i + 1] and pred[i] != ids[i + 1]]
                if not bad:
                    ok += 1
                else:
                    k = bad[0] + 1
                    print("  %s: first miss at token %d of %d: %r"
                          % (name, k, len(ids), tok.decode(ids[max(0, k - 12):k])[-60:]))
            print("%s: %d of %d sequences reproduced exactly" % (name, ok, len(exs)), flush=True)


def main():
    ap = argparse.ArgumentParser(description="train the dscoder-tui demo model")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "models", "dscoder-demo"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--golden-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a busy 2-core machine: no OpenMP spin-waits)")
    ap.add_argument("--followup", type=float, default=0.15,
                    help="fraction of chat examples placed after an earlier exchange")
    ap.add_argument("--followup-two", type=float, default=0.0,
                    help="fraction of those placed after two earlier exchanges")
    ap.add_argument("--max-minutes", type=float, default=0, help="safety stop (0: none)")
    ap.add_argument("--golden-only", action="store_true", help="only recompute golden/ from the stored model")
    ap.add_argument("--eval", action="store_true", help="after training, count exactly reproduced answers")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if not a.golden_only:
        train(a.out, a.steps, a.lr, a.batch_tokens, a.log_every, a.max_minutes, a.followup, a.followup_two)
    golden(a.out, a.golden_tokens)
    if a.eval:
        evaluate(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
