"""One reduced-size `audiobits demo` per test session, shared by the demo and notebook tests."""

from __future__ import annotations

from pathlib import Path

from audiobits.demo import run_demo

_DONE: dict[str, Path] = {}


def demo_output(tmp_path_factory) -> Path:
    """The output folder of ``run_demo(size="tiny")``, run on first use."""
    if "tiny" not in _DONE:
        out = tmp_path_factory.mktemp("demo")
        run_demo(out, size="tiny")
        _DONE["tiny"] = out
    return _DONE["tiny"]
