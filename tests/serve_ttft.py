#!/usr/bin/env python3
# serve_ttft.py: time to first token of turn N of a chat through the engine's pipe protocol, with the
# prompt cache (one engine across turns) and without it (the same turn after the cache was flushed by
# an unrelated request). A measurement for people, not a test: it asserts nothing about time.
#   tests/serve_ttft.py ENGINE MODEL_DIR [--turns 10] [--answer 32] [--threads N] [--repeat 3]
import argparse
import json
import statistics
import subprocess
import sys

USER = ["Write a Python function that parses an ISO 8601 date string into a datetime without using "
        "dateutil, handling the Z suffix and numeric offsets.",
        "Now add type hints and a docstring, and explain how you handle leap seconds.",
        "Rewrite it in C with a struct tm result and strict error checking on every field.",
        "Add unit tests for both versions covering malformed input, offsets and fractional seconds.",
        "What are the performance differences between the two, and where is the Python one slow?",
        "Refactor the C version so that it never reads past the end of a non-terminated buffer.",
        "Port the tests to pytest with parametrised cases and show the expected output of a run.",
        "Explain how you would fuzz the C parser with libFuzzer and what corpus you would start from.",
        "Summarise the design decisions so far as a short design note for a code review.",
        "Finally, list three edge cases we have not covered yet and propose fixes for each of them."]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine")
    ap.add_argument("model")
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--answer", type=int, default=32, help="max_tokens of each answer")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ctx", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=3, help="measurements of the last turn, each way")
    a = ap.parse_args()

    p = subprocess.Popen([a.engine, "--model", a.model, "--ctx", str(a.ctx), "--threads", str(a.threads)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    rid = [0]

    def ask(req):
        rid[0] += 1
        req = dict(req, op="generate", id=rid[0])
        p.stdin.write((json.dumps(req) + "\n").encode())
        p.stdin.flush()
        text = ""
        for raw in p.stdout:
            ev = json.loads(raw)
            if ev.get("id") != rid[0]:
                continue
            if ev["event"] == "token":
                text += ev["text"]
            elif ev["event"] == "done":
                return text, ev
            else:
                sys.exit("engine: %r" % ev)
        sys.exit("the engine exited")

    for raw in p.stdout:
        ev = json.loads(raw)
        if ev["event"] == "ready":
            print("model %s, n_ctx %d, %d threads" % (ev["model"]["name"], ev["model"]["n_ctx"],
                                                        ev["model"]["threads"]))
            break
        if ev["event"] == "error":
            sys.exit(ev["message"])
    msgs = []
    for t in range(a.turns - 1):
        msgs.append({"role": "user", "content": USER[t % len(USER)]})
        text, done = ask({"messages": msgs, "max_tokens": a.answer})
        msgs.append({"role": "assistant", "content": text})
        print("turn %2d: prompt %5d tokens, cached %5d, ttft %8.1f ms" % (
            t + 1, done["prompt_tokens"], done["cached_tokens"], done["ttft_ms"]))
    msgs.append({"role": "user", "content": USER[(a.turns - 1) % len(USER)]})
    warm, cold, answers = [], [], set()
    for r in range(a.repeat):
        # without: an unrelated prompt leaves only BOS in common with the conversation
        ask({"prompt": "flush %d" % r, "max_tokens": 1})
        text, done = ask({"messages": msgs, "max_tokens": a.answer})
        cold.append(done)
        answers.add(text)
        # with: the KV cache now holds this very conversation up to its last answer; to measure the
        # cache as a real next turn would use it, first rebuild the state of turn N-1
        ask({"messages": msgs[:-2], "max_tokens": a.answer})
        text, done = ask({"messages": msgs, "max_tokens": a.answer})
        warm.append(done)
        answers.add(text)
    p.stdin.close()
    p.wait()
    for name, runs in (("without cache", cold), ("with cache", warm)):
        print("turn %d %-13s: prompt %d tokens, cached %d, ttft %s ms (median %.1f)" % (
            a.turns, name, runs[0]["prompt_tokens"], runs[0]["cached_tokens"],
            " ".join("%.1f" % d["ttft_ms"] for d in runs), statistics.median(d["ttft_ms"] for d in runs)))
    print("same answer both ways: %s" % ("yes" if len(answers) == 1 else "NO"))
    return 0 if len(answers) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
