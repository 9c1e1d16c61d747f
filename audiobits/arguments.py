"""The argument parser of every `audiobits` subcommand: a bad argument raises instead of printing usage and exiting.

A tool's command line is its ``main`` function: the signature gives the options, the docstring's ``Args:`` their help
(`function_parser`, docs/cli.md). `audiobits.cli.main` turns the raised `ArgumentError` into the one
``audiobits: error: ...`` line that every other user error gets, so a missing config file or a typo in an option reads
like any other refusal; a mistyped option or config key also names the closest valid ones (`with_closest_names`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any, get_origin, get_type_hints

from docstring_parser import parse as parse_docstring
from jsonargparse import ActionConfigFile, ArgumentError, ArgumentParser

PARSER_KWARGS = {"exit_on_error": False}  # jsonargparse: raise ArgumentError rather than print usage and exit 2
UNKNOWN_OPTION = re.compile(r"unrecognized arguments: (--?[\w.\-]+)|does not accept option '([\w.\-]+)'")
UNKNOWN_INIT_ARG = re.compile(r"Parser key \"([\w.]+)\".*?class_path '([\w.]+)': Option '(\w+)' is not accepted")


class ToolParser(ArgumentParser):
    """A tool's parser: errors raise `ArgumentError`, naming the closest valid option to a mistyped one."""

    def parse_args(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().parse_args(*args, **kwargs)
        except ArgumentError as error:
            raise with_closest_names(error, self) from error


def function_parser(function: Callable[..., Any], prog: str) -> ArgumentParser:
    """The parser of a tool whose ``main`` is ``function`` (``prog`` e.g. "audiobits report"): one option per
    parameter (jsonargparse, help from the docstring's ``Args:``); one without a default is required: positional, or
    ``--name`` when keyword-only.
    A required list parameter takes one or more words, as a shell glob gives them (``report runs/*/version_*``,
    ``compare NEW --against A B``). ``--config FILE`` reads the options
    from YAML and ``--print_config`` writes them, unless the tool has a ``config`` parameter of its own (``sweep``)."""
    docs = parse_docstring(function.__doc__ or "")
    parser = ToolParser(prog=prog, description=docs.short_description, **PARSER_KWARGS)
    help_of = {param.arg_name: param.description for param in docs.params}
    hints = get_type_hints(function)
    words = [p for p in inspect.signature(function).parameters.values()
             if p.default is p.empty and get_origin(hints.get(p.name)) is list]
    parser.add_function_arguments(function, as_group=False, as_positional=True, skip={p.name for p in words})
    for parameter in words:  # after the other positionals: a positional one is the last (argparse's nargs="+")
        names, required = ([f"--{parameter.name}"], {"required": True}) \
            if parameter.kind is parameter.KEYWORD_ONLY else ([parameter.name], {})
        parser.add_argument(*names, nargs="+", help=help_of.get(parameter.name), **required)
    if "config" not in hints:
        parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of these options")
    return parser


def run_function(function: Callable[..., Any], args: list[str], prog: str) -> Any:
    """Parse ``args`` with `function_parser` and call ``function`` with what they say."""
    values = function_parser(function, prog).parse_args(args).as_dict()
    if "config" not in inspect.signature(function).parameters:
        values.pop("config", None)  # the YAML the options came from, if any
    return function(**values)


def closest(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean a, b?)`` with the valid names nearest a mistyped one (difflib), or "" when none is near. A
    dotted name (``trainer.max_stepz``) is matched by its last part among the names of its own section."""
    section, _, leaf = name.rpartition(".")
    siblings = {other.rpartition(".")[2]: other for other in candidates if other.rpartition(".")[0] == section}
    matches = [siblings[match] for match in difflib.get_close_matches(leaf, list(siblings), n=3, cutoff=0.6)]
    return f" (did you mean {', '.join(matches)}?)" if matches else ""


def option_names(parser: ArgumentParser) -> list[str]:
    """Every long option of ``parser`` (``--trainer.max_steps``, ...), the nested config keys included."""
    return [name for action in parser._actions for name in action.option_strings if name.startswith("--")]


def with_closest_names(error: ArgumentError, parser: ArgumentParser) -> ArgumentError:
    """``error`` with the closest valid names added when it names an unknown option or config key (a class's init
    argument in a config: that class's parameters); the error itself otherwise."""
    message = " ".join(str(error).split())
    nested = UNKNOWN_INIT_ARG.search(message)
    if nested:
        section, class_path, key = nested.groups()
        module, _, name = class_path.rpartition(".")
        parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
        return ArgumentError(None, f"{section}: {name} has no option {key!r}{closest(key, parameters)}")
    unknown = UNKNOWN_OPTION.search(message)
    if unknown is None:
        return error
    flag, key = unknown.groups()
    names = option_names(parser)
    hint = closest(flag, names) if flag else closest(key, [name[2:] for name in names])
    return ArgumentError(None, message + hint) if hint else error


def subcommand_parser(parser: ArgumentParser, args: list[str] | None) -> ArgumentParser:
    """The parser of the subcommand ``args`` starts with (LightningCLI's ``fit`` ...), else ``parser`` itself."""
    action = getattr(parser, "_subcommands_action", None)
    if action is None or not args:
        return parser
    return action._name_parser_map.get(args[0], parser)


def argument_error_line(error: ArgumentError, prog: str, args: list[str]) -> str:
    """The parse error as one line (jsonargparse's messages span lines, e.g. YAML's), naming the ``--config`` file
    when the message does not (YAML's errors say "<unicode string>"), with where to look next."""
    message = " ".join(str(error).split())
    configs = [value for option, value in zip(args, args[1:]) if option in ("--config", "-c")]
    if configs and not any(config in message for config in configs):
        message = f"{', '.join(configs)}: {message}"
    return f"{message} (`{prog} --help` lists the options)"
