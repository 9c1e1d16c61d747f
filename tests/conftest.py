"""Test-wide settings: no network, and every cache the code touches lives in a throw-away folder."""

import os
import tempfile

# Set before huggingface_hub / datasets / tiktoken are imported: they read these at import time.
_CACHE = tempfile.mkdtemp(prefix="audiobits-test-cache-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = os.path.join(_CACHE, "hf")
os.environ["HF_HUB_CACHE"] = os.path.join(_CACHE, "hf", "hub")
os.environ["TIKTOKEN_CACHE_DIR"] = os.path.join(_CACHE, "tiktoken")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import importlib.util  # noqa: E402 - after the environment above, which later imports must see

import pytest  # noqa: E402

EXTRAS_HINT = "pip install -e '.[all,test]' (the mimi, snac and neucodec extras)"


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.needs("moshi", ...)``: skip, naming what is missing and how to install it, when an optional
    package a test imports is not installed (``pip install -e .[test]`` leaves the codec extras out)."""
    for item in items:
        for marker in item.iter_markers("needs"):
            missing = [name for name in marker.args if importlib.util.find_spec(name) is None]
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(missing)}: {EXTRAS_HINT}"))


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory):
    """The output folder of one reduced-size ``audiobits demo`` (``size="tiny"``), shared by the whole session."""
    from audiobits.demo.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out, size="tiny")
    return out
