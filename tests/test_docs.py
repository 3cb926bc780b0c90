"""The README documents every command and every option: a new one without docs fails here."""

from __future__ import annotations

import typer.main

from artlens.cli import app

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def commands(group, prefix: str = "") -> dict:
    """Leaf commands by full name ("eval retrieval"); Typer vendors its own click, so go by shape."""
    out: dict = {}
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(cmd, "commands"):
            out.update(commands(cmd, full + " "))
        else:
            out[full] = cmd
    return out


def test_every_command_and_option_is_in_the_readme() -> None:
    found = commands(typer.main.get_command(app))
    assert {"add", "search", "info", "duplicates", "eval retrieval", "eval labels", "eval boxes"} <= set(found)
    missing = []
    for name, cmd in found.items():
        if f"artlens {name}" not in README and f"`{name} " not in README:
            missing.append(name)
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help" and opt not in README:
                    missing.append(f"{name} {opt}")
    assert missing == []
