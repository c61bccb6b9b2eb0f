#!/usr/bin/python3
# cancel-latency.py: how long a cancel takes to land while the engine reads a long prompt.
"""Starts dscoder-engine's pipe service on a model, sends a long completion prompt, cancels it after
a delay (0.25 to 1.25 s, each twice, the prompt changed each time so that no cached prefix helps) and
times the cancel until the request's done event.  Prints the median and the greatest wait.  Run by
hand; the figures depend on the model, the threads and the machine:

    tools/cancel-latency.py ./dscoder-engine bench-q4_k_m.gguf --threads 2 --kernels avx512-int8
"""
import json
import subprocess
import sys
import time

DELAYS = [0.25, 0.45, 0.65, 0.85, 1.05, 1.25]
LINE = "for (int i = 0; i < n; i++) sum += a[i] * b[i];\n"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: cancel-latency.py ENGINE MODEL [ENGINE ARGUMENTS...]")
    engine, model, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    p = subprocess.Popen([engine, "--model", model, "--ctx", "8192"] + extra, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read():
        line = p.stdout.readline()
        if not line:
            sys.exit("the engine ended (exit status %s)" % p.wait())
        return json.loads(line)

    def send(obj):
        p.stdin.write((json.dumps(obj) + "\n").encode())
        p.stdin.flush()

    ev = read()
    while ev["event"] == "loading":
        ev = read()
    if ev["event"] != "ready":
        sys.exit("expected ready, got %r" % ev)
    waits = []
    for rid, delay in enumerate(DELAYS * 2, 1):
        send({"op": "generate", "id": rid, "prompt": "// variant %d\n" % rid + LINE * 150, "max_tokens": 1})
        time.sleep(delay)
        t0 = time.time()
        send({"op": "cancel", "id": rid})
        while True:
            ev = read()
            if ev.get("event") == "done" and ev.get("id") == rid:
                break
        if ev.get("finish") == "cancel":
            waits.append(time.time() - t0)
    send({"op": "shutdown"})
    p.wait()
    if not waits:
        sys.exit("no request was still running when its cancel came: a longer prompt or a slower model")
    waits.sort()
    print("cancel latency: %d cancels, median %.3f s, greatest %.3f s (%s)" %
          (len(waits), waits[len(waits) // 2], waits[-1], " ".join("%.2f" % w for w in waits)))


main()
