#!/usr/bin/env python3
# demo_followup.py: a conversation with the demo model through the pipe service, as the TUI has it:
# each answer goes back into the messages and the next question follows; every turn must answer in
# kind (the second and later questions too), without a system message and with the coder profile's.
# Usage: demo_followup.py ENGINE MODEL_DIR PROFILE_YAML; exit 1 when a turn misses.
import json
import subprocess
import sys

engine, model, profile = sys.argv[1], sys.argv[2], sys.argv[3]


def profile_system_prompt(path):
    """The system_prompt block literal (`system_prompt: |`, lines indented by two) of a profile, with
    the trailing newline the TUI sends."""
    lines, inside = [], False
    for line in open(path, encoding="utf-8"):
        if inside and (line.startswith("  ") or line.strip() == ""):
            lines.append(line[2:] if line.startswith("  ") else "\n")
        elif inside:
            break
        elif line.startswith("system_prompt: |"):
            inside = True
    if not lines:
        raise SystemExit("FAIL: no system_prompt block in %s" % path)
    return "".join(lines).rstrip("\n") + "\n"


system = profile_system_prompt(profile)
turns = [("write a quick sort algorithm in python.", "def quick_sort"),
         ("Write a piece of quicksort code in C++.", "#include <iostream>"),
         ("Who are you?", "demo model"),
         ("Write a binary search in C.", "int binary_search")]
p = subprocess.Popen([engine, "--model", model, "--threads", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     text=True)
failed = 0


def ask(rid, msgs):
    p.stdin.write(json.dumps({"op": "generate", "id": rid, "messages": msgs, "max_tokens": 400}) + "\n")
    p.stdin.flush()
    text = ""
    for line in p.stdout:
        ev = json.loads(line)
        if ev.get("id") != rid:
            continue
        if ev["event"] == "token":
            text += ev["text"]
        elif ev["event"] == "done":
            return text
        else:
            raise SystemExit("FAIL: the engine answered %r" % ev)
    raise SystemExit("FAIL: the engine stopped before answering")


for sysm in (None, system):
    msgs = [{"role": "system", "content": sysm}] if sysm else []
    for i, (q, want) in enumerate(turns):
        msgs.append({"role": "user", "content": q})
        a = ask(i + 1, msgs)
        ok = want in a
        failed += not ok
        print("%s   %s system, turn %d %r: %s" % ("ok" if ok else "FAIL", "coder" if sysm else "no", i + 1, q,
                                                  "answers with %r" % want if ok else "no %r in %r" % (want, a[:300])))
        msgs.append({"role": "assistant", "content": a})
p.stdin.write('{"op":"shutdown"}\n')
p.stdin.flush()
p.wait()
sys.exit(1 if failed else 0)
