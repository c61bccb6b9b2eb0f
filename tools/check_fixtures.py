#!/usr/bin/python3
# tools/check_fixtures.py: proves tools/ds2_model.py right against the three fixture checkpoints' golden outputs.
"""Usage: /usr/bin/python3 tools/check_fixtures.py [FIXTURES_DIR]

For tiny-ds2-full, tiny-ds2-lite (BF16 shards) and tiny-ds2-group: run one forward
pass over golden/prompt.ids, compare with golden/logits.f32 (max abs diff <= 1e-3),
then decode 24 tokens greedily and compare with golden/greedy.ids exactly.
Exit status 0 when all three pass."""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ds2_model  # noqa: E402

TOL = 1e-3


def read_ids(path):
    with open(path) as f:
        return [int(t) for t in f.read().split()]


def check(model_dir, dtype):
    name = os.path.basename(model_dir.rstrip("/"))
    g = os.path.join(model_dir, "golden")
    m = ds2_model.load_model(model_dir, dtype)
    ids = read_ids(os.path.join(g, "prompt.ids"))
    want = np.fromfile(os.path.join(g, "logits.f32"), dtype="<f4").reshape(len(ids), -1)
    with torch.no_grad():
        got = m(torch.tensor([ids], dtype=torch.long))[0].double().numpy()
    diff = float(np.abs(got - want).max())
    want_greedy = read_ids(os.path.join(g, "greedy.ids"))
    got_greedy, gaps = m.greedy(ids, len(want_greedy))
    ok = diff <= TOL and got_greedy == want_greedy
    print("%-15s %-7s max|dlogit| %.3g  greedy %s  (min top-2 gap %.3g)"
          % (name, str(dtype).replace("torch.", ""), diff,
             "match" if got_greedy == want_greedy else "DIFFER: got %s want %s" % (got_greedy, want_greedy),
             min(gaps)))
    return ok


def main():
    fx = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "FIXTURES", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
    models = os.path.join(fx, "models")
    if not os.path.isdir(models):
        print("check_fixtures: %s has no models/ folder; pass the fixtures directory as the argument" % fx)
        return 77
    ok = True
    for d in ("tiny-ds2-full", "tiny-ds2-lite", "tiny-ds2-group"):
        for dt in (torch.float32, torch.float64):
            ok = check(os.path.join(models, d), dt) and ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
