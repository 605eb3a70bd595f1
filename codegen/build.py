"""Produce every file of generated/ as text, formatted, without writing any.

Reads the schema and templates under a repository root; returns a mapping of
repository-relative path to content. Output depends only on those inputs and
the pinned tool versions: no timestamps, no dict or set order of the run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from codegen import render, spec
from codegen.models import render_models

ROOT = spec.ROOT

# template -> output, for the files rendered by Jinja2 alone.
TEMPLATE_OUTPUTS = {
    "init.py.jinja": "generated/__init__.py",
    "checks.py.jinja": "generated/checks.py",
    "methods.py.jinja": "generated/methods.py",
    "metadata.py.jinja": "generated/metadata.py",
    "states.py.jinja": "generated/states.py",
    "messages.md.jinja": "generated/docs/messages.md",
    "unions.py.jinja": "generated/unions.py",
    "api.md.jinja": "generated/docs/api.md",
}


def ruff_format(source: str, rel: str, root: Path) -> str:
    """Sort imports and format with the repository's ruff settings, through stdin."""
    config = ["--config", str(root / "pyproject.toml")]
    for command in (["check", "--fix-only", "--select", "I,F401,UP", "--exit-zero", "-q"], ["format", "-q"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *config, "--stdin-filename", rel, "-"],
            input=source,
            capture_output=True,
            text=True,
            cwd=root,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ruff {command[0]} failed on {rel}:\n{result.stderr}")
        source = result.stdout
    return source


def build(root: Path = ROOT) -> dict[str, str]:
    schema = spec.load(root / "schema" / "asgi-websocket.schema.json")
    outputs = {out: render.render(template, schema) for template, out in TEMPLATE_OUTPUTS.items()}
    outputs["generated/models.py"] = render_models(
        schema, render.header("codegen/models.py (datamodel-code-generator)")
    )
    for rel, text in outputs.items():
        if rel.endswith(".py"):
            outputs[rel] = ruff_format(text, rel, root)
        elif not text.endswith("\n"):
            outputs[rel] = text + "\n"
    return dict(sorted(outputs.items()))
