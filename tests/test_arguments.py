"""One CLI style: a tool's typed ``main`` is its command line (`audiobits.arguments.function_parser`), help from its
docstring, ``--config``/``--print_config``, and one ``audiobits: error:`` line naming the closest option."""

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentError

from audiobits.arguments import function_parser, run_function
from audiobits.cli import LIGHTNING, TOOLS, main, summary_line


def tool(new: str, runs: list[str], *, against: list[str], format: str = "table", resamples: int = 100) -> dict:
    """List what it was given.

    Args:
        new: the new run.
        runs: runs to read.
        against: reference runs.
        format: what to print.
        resamples: bootstrap resamples.
    """
    return {"new": new, "runs": runs, "against": against, "format": format, "resamples": resamples}


def test_required_lists_take_words_as_a_shell_glob_gives_them():
    called = run_function(tool, ["n", "a", "b", "--against", "x", "y", "--resamples", "7"], "audiobits tool")
    assert called == {"new": "n", "runs": ["a", "b"], "against": ["x", "y"], "format": "table", "resamples": 7}


def test_help_comes_from_the_docstring(capsys):
    with pytest.raises(SystemExit):
        function_parser(tool, "audiobits tool").parse_args(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: audiobits tool") and "List what it was given" in out
    for text in ("the new run", "runs to read", "reference runs", "bootstrap resamples"):
        assert text in out


def test_a_mistyped_option_names_the_closest_and_a_missing_one_is_refused():
    with pytest.raises(ArgumentError, match=r"--resampels.*did you mean --resamples"):
        run_function(tool, ["n", "a", "--against", "x", "--resampels", "3"], "audiobits tool")
    with pytest.raises(ArgumentError, match="against"):
        run_function(tool, ["n", "a"], "audiobits tool")


def test_print_config_writes_what_config_reads_back(tmp_path, capsys):
    args = ["n", "a", "--against", "x", "--format", "json"]
    with pytest.raises(SystemExit):
        run_function(tool, [*args, "--print_config"], "audiobits tool")
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed) == {"new": "n", "runs": ["a"], "against": ["x"], "format": "json",
                                       "resamples": 100}
    (tmp_path / "tool.yaml").write_text(printed)
    assert run_function(tool, ["n", "a", "--against", "x", "--config", str(tmp_path / "tool.yaml")],
                        "audiobits tool")["format"] == "json"


def test_a_config_parameter_of_the_tool_keeps_its_name():
    def sweep(*, config: str, out: str | None = None) -> tuple:
        """Sweep.

        Args:
            config: the fit config.
            out: folder.
        """
        return config, out

    assert run_function(sweep, ["--config", "fit.yaml"], "audiobits sweep") == ("fit.yaml", None)


def main_function(module: str) -> ast.FunctionDef:
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8"))
    return next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_every_tool_documents_each_option_and_takes_no_argv(name):
    function = main_function(TOOLS[name])
    parameters = [a.arg for a in (*function.args.args, *function.args.kwonlyargs)]
    assert "argv" not in parameters and parameters
    documented = ast.get_docstring(function).partition("Args:")[2]
    assert [p for p in parameters if f"    {p}: " not in documented] == []
    first = ast.get_docstring(function).splitlines()[0]
    assert summary_line(TOOLS[name]) == first[0].lower() + first[1:].rstrip(".")


def test_top_level_help_is_one_line_per_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    rows = capsys.readouterr().out.split("subcommands:\n")[1].splitlines()
    assert [row.split()[0] for row in rows] == [*LIGHTNING, *TOOLS]
    assert "fit L(N, D) to sweeps: the floor of each stream" in dict(row.split(None, 1) for row in rows)["scaling"]


def test_prepare_refuses_quality_and_names_the_subcommand_that_does_it():
    with pytest.raises(SystemExit, match=r"^audiobits: error: audiobits prepare has no --quality: `audiobits quality`"):
        main(["prepare", "--config", "configs/tiny.yaml", "--quality"])

