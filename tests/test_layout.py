"""The package's shape: no module imports another that (directly or through others) imports it back."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file (inside functions too: a deferred import is
    how a circle hides)."""
    graph: dict[str, set[str]] = {}
    for path in sorted([*(ROOT / "audiobits").rglob("*.py"), *(ROOT / "callbacks").rglob("*.py")]):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = found
    return {name: {m for m in found if m in graph and m != name} for name, found in graph.items()}


def test_no_import_circle():
    graph = import_graph()
    assert {"audiobits.report", "audiobits.plots", "audiobits.runs"} <= graph.keys()
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
    assert "audiobits.cli" in graph["audiobits.demo"]  # demo imports cli inside run_demo


def test_the_layout_page_names_every_module():
    layout = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    modules = [p for p in (ROOT / "audiobits").glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    missing = [p.name for p in modules if p.name not in layout]
    assert missing == [], f"docs/layout.md does not name {missing}"
    for folder in ("docs/", "audiobits/representations/", "audiobits/resources/", "callbacks/", "configs/"):
        assert folder in layout


def test_the_docs_pages_exist_and_nothing_points_at_a_missing_design_file():
    for page in ("bins.md", "metrics.md", "results.md"):
        assert (ROOT / "docs" / page).is_file()
    sources = [*ROOT.glob("*.md"), *(ROOT / "audiobits").rglob("*.py"), *(ROOT / "callbacks").rglob("*.py"),
               *(ROOT / "tests").glob("*.py")]
    assert [p.name for p in sources if "DESIGN" + ".md" in p.read_text(encoding="utf-8")] == []
