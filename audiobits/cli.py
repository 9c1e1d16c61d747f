"""`audiobits` / `python -m audiobits`: one entry point that imports only the subcommand it runs.

    audiobits fit --config configs/mimi_all.yaml            # prepare bins if missing, train one epoch
    audiobits fit --config configs/mimi_all.yaml --ckpt_path last   # resume the latest run of that config
    audiobits prepare --config configs/mimi_all.yaml        # only download + encode + write the bins
    audiobits report runs/*/version_*                       # the table and plots

``fit``, ``validate``, ``test``, ``prepare``, ``import`` and ``quality`` are LightningCLI on a fit config
(`audiobits.training.trainer_cli`); every other subcommand is a tool module's typed ``main``, whose signature and
docstring are its options and help (`audiobits.arguments.run_function`, docs/cli.md). ``audiobits --help`` is answered
here from the docstrings' source, without importing torch or Lightning.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

from jsonargparse import ArgumentError

from audiobits.arguments import argument_error_line, closest, run_function
from audiobits.errors import AudiobitsError

DESCRIPTION = "Train one small GPT per token stream and report the bits per second each carries."
LIGHTNING = {  # LightningCLI on a fit config (`audiobits.training.trainer_cli`; quality adds its own arguments)
    "fit": "prepare the config's bins if missing, train one epoch, evaluate, write results.json (--seeds 0,1,2: once "
           "per seed)",
    "validate": "evaluate a run's checkpoint again (rewrites its results.json)",
    "test": "evaluate a checkpoint on the test split",
    "prepare": "only download, encode and write a config's token bins",
    "import": "bin precomputed tokens of a tokenizer run elsewhere (docs/import.md)",
    "quality": "decode a config's validation utterances and score them against the originals",
}
TOOLS = {  # each module's ``main`` is the subcommand: its signature the options, its docstring the help
    "report": "audiobits.analysis.report", "sanity": "audiobits.analysis.sanity", "demo": "audiobits.demo.demo",
    "synthetic": "audiobits.demo.synthetic", "compress": "audiobits.compress.compress",
    "decompress": "audiobits.compress.decompress", "sweep": "audiobits.scaling.sweep",
    "scaling": "audiobits.scaling.scaling", "calibrate": "audiobits.scaling.calibrate",
    "compare": "audiobits.analysis.compare"}
SUBCOMMANDS = (*LIGHTNING, *TOOLS)


def usage() -> str:
    """The top-level help: every subcommand with one line on what it does (a tool's: its ``main``'s docstring)."""
    rows = [*LIGHTNING.items(), *((name, summary_line(module)) for name, module in TOOLS.items())]
    width = max(len(name) for name, _ in rows)
    lines = ["usage: audiobits SUBCOMMAND [options]   (`audiobits SUBCOMMAND --help` lists its options)", "",
             DESCRIPTION, "", "subcommands:", *(f"  {name:<{width}}  {what}" for name, what in rows)]
    return "\n".join(lines)


def summary_line(module: str) -> str:
    """The first line of ``module``'s ``main`` docstring, read from its source without importing it (no torch), as
    a listing line: lower case first, no full stop."""
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8"))
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    line = ast.get_docstring(function).splitlines()[0].rstrip(".")
    return line[:1].lower() + line[1:]


def main(argv: list[str] | None = None) -> None:
    """Dispatch the tools, ``prepare``/``import`` and ``quality``; everything else is LightningCLI (``fit``,
    ``validate``, ``test``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0 if args else 2)
    try:
        if not args[0].startswith("-") and args[0] not in SUBCOMMANDS:
            raise AudiobitsError(f"no subcommand {args[0]!r}{closest(args[0], SUBCOMMANDS)}: choose from "
                                 f"{', '.join(SUBCOMMANDS)} (`audiobits --help` says what each does)")
        if args[0] in TOOLS:
            return run_function(importlib.import_module(TOOLS[args[0]]).main, args[1:], f"audiobits {args[0]}")
        if args[0] == "quality":
            from audiobits.quality.quality import main as quality
            return quality(args[1:])
        from audiobits.training import trainer_cli
        if args[0] in ("prepare", "import"):
            return trainer_cli.prepare(args[1:], args[0])
        from audiobits.analysis.seed_spread import fit_seeds, split_seeds

        seeds, rest = split_seeds(args)
        if seeds is not None and args[0] == "fit":
            return fit_seeds(seeds, rest, trainer_cli.lightning_cli)
        trainer_cli.lightning_cli(args)
    except ArgumentError as error:  # a bad argument or config file, from any subcommand's parser
        prog = f"audiobits {args[0]}" if args[0] in SUBCOMMANDS else "audiobits"
        raise SystemExit(f"audiobits: error: {argument_error_line(error, prog, args)}") from error
    except Exception as error:  # the user's input or environment: the message names the file and the fix
        cause = user_error(error)
        if cause is None:
            raise  # a genuine bug: keep the traceback
        raise SystemExit(f"audiobits: error: {one_line(cause)}") from error


def user_error(error: BaseException | None) -> AudiobitsError | None:
    """The `AudiobitsError` behind ``error``: itself, or the one jsonargparse wrapped (``raise ... from``) while
    instantiating a class nested in the config, such as a data module's corpus."""
    while error is not None and not isinstance(error, AudiobitsError):
        error = error.__cause__
    return error


def one_line(error: AudiobitsError) -> str:
    """The error's message. One a DataLoader worker raised comes back from torch as the same type with the worker's
    traceback as its message ("Caught X in DataLoader worker process N. Original Traceback ..."): its last line ends
    with the original message."""
    text = str(error)
    if not text.startswith(f"Caught {type(error).__name__} in DataLoader worker"):
        return text
    return text.rstrip().splitlines()[-1].partition(": ")[2]


if __name__ == "__main__":
    main()
