"""Regenerate generated/ from the schema, or check that it is current.

Reads schema/asgi-websocket.schema.json and codegen/templates/; writes
generated/ (and nothing else). With --check it writes nothing: it prints a
unified diff of every stale file and the command that fixes it, and exits 1.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from codegen.build import ROOT, build

FIX_COMMAND = "python -m codegen"


def check(outputs: dict[str, str], root: Path) -> int:
    stale = 0
    expected_files = set(outputs)
    on_disk = {
        p.relative_to(root).as_posix()
        for p in (root / "generated").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    for rel in sorted(expected_files | on_disk):
        path = root / rel
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        new = outputs.get(rel, "")
        if old == new:
            continue
        stale += 1
        if rel not in outputs:
            print(f"{rel}: not written by the generator (delete it)")
        sys.stdout.writelines(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"{rel} (on disk)",
                tofile=f"{rel} (generated from the schema)",
            )
        )
    if stale:
        print(f"\n{stale} generated file(s) are stale. Run `{FIX_COMMAND}` and commit the result.")
        return 1
    print(f"generated/ is up to date ({len(outputs)} files).")
    return 0


def write(outputs: dict[str, str], root: Path) -> int:
    changed = 0
    for rel, text in sorted(outputs.items()):
        path = root / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {rel}")
        changed += 1
    for path in sorted((root / "generated").rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and "__pycache__" not in path.parts and rel not in outputs:
            path.unlink()
            print(f"removed {rel}")
            changed += 1
    print(f"generated/: {changed} file(s) changed, {len(outputs)} in all.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff if generated/ is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to read and write (default: this one)")
    args = parser.parse_args(argv)
    outputs = build(args.root)
    return check(outputs, args.root) if args.check else write(outputs, args.root)


if __name__ == "__main__":
    sys.exit(main())
