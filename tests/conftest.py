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
