"""Every command in a ```bash block of README.md and docs/*.md is checked: an `audiobits` command's subcommand exists
and each option it uses is one its --help lists, and a fit/validate/test/prepare of a shipped config parses with
its values (--print_config: the config loads and every value is accepted); `make` targets exist in the Makefile,
`bash` scripts exist; SLURM's `sbatch` is named as cluster-only. A command no rule covers fails the test.

What this does not do: run them. The demo runs `make demo`'s pipeline (tests/test_demo.py), and the tests of each
tool run it on real files; the multi-GPU and SLURM lines need hardware a CI machine lacks.
"""

import contextlib
import io
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

from audiobits.cli import LIGHTNING, SUBCOMMANDS, main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CLUSTER_ONLY = {"sbatch", "srun"}  # SLURM's launchers: `srun X` is checked as X, `sbatch FILE` needs a cluster


def fenced_commands(page: Path) -> list[str]:
    """The commands of the page's ```bash blocks: continuation lines joined, comments and shebangs dropped, each
    `for VAR in A B; do CMD; done` expanded into one CMD per value."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#.*$", "", line).strip()
            if not line or line.startswith("#"):
                continue
            loop = re.fullmatch(r"for (\w+) in ([^;]+); do (.+); done", line)
            values = loop.group(2).split() if loop else [None]
            commands += [loop.group(3).replace(f"${loop.group(1)}", v) if loop else line for v in values]
    return commands


ALL = [(page.relative_to(REPO).as_posix(), command) for page in PAGES for command in fenced_commands(page)]


def program_and_args(command: str) -> tuple[str, list[str]]:
    """The program a command runs and its arguments, past environment assignments, `.venv/bin/`, `srun` and
    `torchrun ... -m`."""
    words = shlex.split(command)
    while words and re.fullmatch(r"\w+=\S*", words[0]):
        words = words[1:]
    if words[0] == "srun":
        words = words[1:]
    if words[0] == "torchrun":
        words = ["audiobits", *words[words.index("-m") + 2:]]
    return words[0].removeprefix(".venv/bin/"), words[1:]


@cache
def help_text(subcommand: str) -> str:
    """`audiobits SUBCOMMAND --help`, as printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([subcommand, "--help"])
    return out.getvalue()


def check_audiobits(args: list[str]) -> None:
    subcommand = args[0]
    assert subcommand in SUBCOMMANDS, f"no subcommand {subcommand}"
    options = {arg.split("=")[0] for arg in args[1:] if arg.startswith("--")}
    listed = set(re.findall(r"--[\w.\-]+", help_text(subcommand)))
    assert options <= listed, f"{sorted(options - listed)} not in `audiobits {subcommand} --help`"
    config = args[args.index("--config") + 1] if "--config" in args else None
    assert config is None or (REPO / config).is_file(), f"no config {config}"
    if subcommand in LIGHTNING and config:
        with pytest.raises(SystemExit) as exit_info:
            main([subcommand, *args[1:], "--print_config"])
        assert exit_info.value.code in (0, None)


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))


def check_other(program: str, args: list[str]) -> None:
    if program == "make":
        assert set(args) <= makefile_targets()
    elif program == "bash":
        assert (REPO / args[0]).is_file()
    else:
        assert program in CLUSTER_ONLY, f"no check for `{program}`: add one here"


@pytest.mark.parametrize(("page", "command"), ALL, ids=[f"{page}: {command[:60]}" for page, command in ALL])
def test_every_documented_command_is_checked(page, command, monkeypatch):
    monkeypatch.chdir(REPO)  # commands are written from the repository root
    program, args = program_and_args(command)
    if program == "audiobits":
        check_audiobits(args)
    else:
        check_other(program, args)


def test_the_readme_is_a_front_door_and_its_links_resolve():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_extraction_sees_loops_continuations_and_launchers():
    """The checks above would pass on nothing if the extraction missed commands."""
    commands = [command for _, command in ALL]
    assert "audiobits fit --config configs/neucodec.yaml" in commands  # a `for rep in ...` loop, expanded
    assert any(command.startswith("torchrun") and "--trainer.strategy ddp" in command for command in commands)
    assert program_and_args(commands[commands.index(next(c for c in commands if c.startswith("MASTER_ADDR")))])[0] \
        == "audiobits"
    assert len(ALL) >= 30


@pytest.mark.parametrize("args", [["fitt"], ["report", "runs", "--outt", "x"],
                                  ["fit", "--config", "configs/nosuch.yaml"],
                                  ["fit", "--config", "configs/tiny.yaml", "--trainer.max_steps", "ten"]])
def test_the_check_fails_a_wrong_command(args, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(AssertionError):
        check_audiobits(args)
