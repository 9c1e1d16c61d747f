"""notebooks/analysis.ipynb executes on the demo's runs and draws every figure that has data."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from audiobits.analysis import plots
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "analysis.ipynb"


@pytest.mark.slow
def test_notebook_executes_on_demo_output(demo_output, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOBITS_RUNS", str(demo_output / "runs"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # every figure draws: Codec 2's fields give the codebook decomposition, its and mu-law's scores the frontier
    assert len(images) == len(plots.FIGURES)
    text = "".join(o.get("text", "") for o in outputs) + "".join(
        o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "| mulaw | mulaw | " in text and "nothing to draw" not in text
