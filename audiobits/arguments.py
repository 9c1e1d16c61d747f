"""The argument parser of every `audiobits` subcommand: a bad argument raises instead of printing usage and exiting.

`audiobits.cli.main` turns the raised `ArgumentError` into the one ``audiobits: error: ...`` line that every other
user error gets, so a missing config file or a typo in an option reads like any other refusal.
"""

from __future__ import annotations

from jsonargparse import ArgumentError, ArgumentParser

PARSER_KWARGS = {"exit_on_error": False}  # jsonargparse: raise ArgumentError rather than print usage and exit 2


def argument_parser(prog: str, description: str) -> ArgumentParser:
    """A tool's parser (``prog`` e.g. "audiobits report") whose errors raise `ArgumentError`."""
    return ArgumentParser(prog=prog, description=description, **PARSER_KWARGS)


def argument_error_line(error: ArgumentError, prog: str, args: list[str]) -> str:
    """The parse error as one line (jsonargparse's messages span lines, e.g. YAML's), naming the ``--config`` file
    when the message does not (YAML's errors say "<unicode string>"), with where to look next."""
    message = " ".join(str(error).split())
    configs = [value for option, value in zip(args, args[1:]) if option in ("--config", "-c")]
    if configs and not any(config in message for config in configs):
        message = f"{', '.join(configs)}: {message}"
    return f"{message} (`{prog} --help` lists the options)"
