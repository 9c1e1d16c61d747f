"""The package's shape: stage subpackages whose imports point down the layers (docs/layout.md), no import circle,
and every module named in docs/layout.md."""

import ast
from functools import cache
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = {f"audiobits.{name}"
            for name in ("errors", "files", "progress", "bins", "metrics", "records", "study_options", "results",
                         "legacy_paths")} | {"audiobits"}
# what analysis/ must never reach: the CLI, training, encoding, the tools' entry points and the scoring models
ABOVE_ANALYSIS = ("audiobits.cli", "audiobits.training", "audiobits.prepare", "audiobits.representations",
                  "audiobits.importing", "audiobits.callbacks", "audiobits.datamodules", "audiobits.data",
                  "audiobits.paired", "audiobits.model", "audiobits.compress.compress", "audiobits.compress.decompress",
                  "audiobits.compress.range_coder", "audiobits.quality.quality", "audiobits.quality.scoring_models",
                  "audiobits.scaling.sweep", "audiobits.scaling.scaling", "audiobits.scaling.calibrate",
                  "audiobits.demo")


def module_files() -> dict[str, Path]:
    """Every project module by its import name; callbacks/ is installed as audiobits.callbacks."""
    files = {}
    for path in [*(ROOT / "audiobits").rglob("*.py"), *(ROOT / "callbacks").rglob("*.py")]:
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[:2] == ("audiobits", "callbacks"):
            continue  # the link to callbacks/, read there
        if parts[0] == "callbacks":
            parts = ("audiobits", *parts)
        files[".".join(parts).removesuffix(".__init__")] = path
    return files


@cache
def syntax_tree(path: Path) -> ast.Module:
    """The file's parsed source, parsed once."""
    return ast.parse(path.read_text(encoding="utf-8"))


def imported_names(path: Path) -> set[str]:
    """Every dotted name the file's imports mention, inside functions too (a deferred import is how a circle hides);
    ``from package import module`` mentions ``package.module``."""
    found = set()
    for node in ast.walk(syntax_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file."""
    files = module_files()
    return {name: {m for m in imported_names(path) if m in files and m != name} for name, path in files.items()}


# Parse every file while the tests are collected, before any test leaves a thread behind: CPython 3.11's AST
# constructor keeps its recursion depth in state shared by threads, and a thread that dies later prints its traceback
# through `ast.parse` (3.11's error carets). Full suite runs failed here twice with "AST constructor recursion depth
# mismatch" while a data loader's queue-feeder thread from an earlier test was printing its error.
for _path in module_files().values():
    syntax_tree(_path)


def test_no_import_circle():
    graph = import_graph()
    assert {"audiobits.analysis.report", "audiobits.analysis.plots", "audiobits.analysis.runs"} <= graph.keys()
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for dependency in sorted(graph[module]):
            if dependency in path:
                circles.append(path[path.index(dependency):] + [dependency])
            elif dependency not in done:
                visit(dependency, path + [dependency])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        visit(module, [module])
    assert circles == []


def test_the_circle_finder_sees_a_deferred_import():
    """The check above would pass on anything if the graph missed imports inside functions."""
    graph = import_graph()
    assert "audiobits.training.trainer_cli" in graph["audiobits.demo.stages"]  # imported inside fit_run


def test_the_layout_page_names_every_module():
    layout = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    # the top level and the stage folders are listed file by file; representations/, importing/ and callbacks/ by
    # what each module holds
    listed = ("audiobits", "prepare", "training", "analysis", "compress", "quality", "scaling", "demo")
    missing = [name for name, path in module_files().items() if path.name not in ("__init__.py", "__main__.py")
               and (path.name if path.parent.name in listed else path.stem) not in layout]
    assert missing == [], f"docs/layout.md does not name {missing}"
    folders = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "audiobits").glob("*/__init__.py")}
    assert [f for f in sorted(folders) if f.removeprefix("audiobits/") + "/" not in layout] == []


def test_the_contract_imports_nothing_above_it():
    graph = import_graph()
    assert {name: sorted(graph[name] - CONTRACT) for name in CONTRACT if graph[name] - CONTRACT} == {}


def test_analysis_reaches_no_cli_training_encoding_or_tool():
    graph = import_graph()
    wrong = {name: sorted(m for m in imported if any(m == up or m.startswith(up + ".") for up in ABOVE_ANALYSIS))
             for name, imported in graph.items() if name.startswith("audiobits.analysis")}
    assert {name: found for name, found in wrong.items() if found} == {}


def test_tools_call_library_functions_not_each_others_main():
    callers = {}
    for name, path in module_files().items():
        for node in ast.walk(syntax_tree(path)):
            if (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audiobits")
                    and any(alias.name == "main" for alias in node.names)
                    and name not in ("audiobits.cli", "audiobits.__main__")):
                callers.setdefault(name, []).append(node.module)
    assert callers == {}


def test_no_module_imports_an_old_path():
    """Old module paths are for saved configs only (audiobits.legacy_paths); the code names where modules live."""
    from audiobits.legacy_paths import MOVED
    users = {name: sorted(set(MOVED) & imported_names(path)) for name, path in module_files().items()}
    assert {name: old for name, old in users.items() if old} == {}


def test_importing_the_report_loads_no_lightning_encoder_or_listener():
    code = ("import sys, audiobits.analysis.report, audiobits.analysis.plots, audiobits.analysis.sanity; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('lightning', 'audiobits.training', "
            "'audiobits.representations', 'audiobits.prepare', 'audiobits.quality.scoring_models', 'transformers', "
            "'moshi', 'snac', 'audiobits.cli')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_docs_pages_exist_and_nothing_points_at_a_missing_design_file():
    for page in ("bins.md", "metrics.md", "results.md"):
        assert (ROOT / "docs" / page).is_file()
    sources = [*ROOT.glob("*.md"), *(ROOT / "audiobits").rglob("*.py"), *(ROOT / "callbacks").rglob("*.py"),
               *(ROOT / "tests").glob("*.py")]
    assert [p.name for p in sources if "DESIGN" + ".md" in p.read_text(encoding="utf-8")] == []
