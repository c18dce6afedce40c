#!/usr/bin/env python3
"""Writes one translation unit per build target that includes the target's
given sources, and a compile_commands.json for them; prints their paths.
Used by scripts/tidy.sh. Usage: tidy_units.py BUILD_DIR OUT_DIR FILE..."""
import collections
import json
import os
import shlex
import sys


def main():
    build, out_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    root = os.getcwd()
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = {os.path.realpath(e["file"]): e for e in json.load(f)}
    targets = collections.OrderedDict()
    for rel in files:
        entry = entries.get(os.path.realpath(os.path.join(root, rel)))
        if entry is None:
            sys.exit(f"tidy: {rel} is not in {build}/compile_commands.json")
        args = shlex.split(entry["command"]) if "command" in entry \
            else list(entry["arguments"])
        output = args[args.index("-o") + 1]
        # CMakeFiles/<target>.dir/<path>.o names the target.
        target = next(p for p in output.split("/") if p.endswith(".dir"))
        targets.setdefault(target, (entry, args, []))[2].append(rel)
    os.makedirs(out_dir, exist_ok=True)
    db = []
    for target, (entry, args, sources) in targets.items():
        unit = os.path.realpath(os.path.join(out_dir, target[:-4] + ".cpp"))
        with open(unit, "w") as f:
            for rel in sources:
                f.write(f'#include "{os.path.join(root, rel)}"'
                        " // NOLINT(bugprone-suspicious-include)\n")
        cmd, skip = [], False
        for a in args:
            if skip:
                skip = False
            elif a in ("-o", "-c"):
                skip = True
            elif os.path.realpath(os.path.join(entry["directory"], a)) \
                    != os.path.realpath(entry["file"]):
                cmd.append(a)
        db.append({"directory": entry["directory"], "file": unit,
                   "arguments": cmd + ["-c", unit]})
        print(unit)
    with open(os.path.join(out_dir, "compile_commands.json"), "w") as f:
        json.dump(db, f, indent=1)


if __name__ == "__main__":
    main()
