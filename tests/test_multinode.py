"""Two "nodes" of one CPU process each on localhost: every training window once, every val token scored once.

The two launches a user has: torchrun on each node (static rendezvous on the first node's address), and
Lightning's own environment variables (MASTER_ADDR, MASTER_PORT, NODE_RANK; what a hand-written launcher sets).
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiobits.bins import TokenBins
from audiobits.data import num_windows
from results_file import results_json
from audiobits.demo.synthetic import write_markov_bins

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(launcher: str, node_rank: int, port: int, fit_args: list[str]) -> list[str]:
    if launcher == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                "--node_rank", str(node_rank), "--master_addr", "127.0.0.1", "--master_port", str(port),
                "-m", "audiobits", *fit_args]
    return [sys.executable, "-m", "audiobits", *fit_args]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "lightning-env"])
def test_two_nodes_train_every_window_once_and_score_every_val_token_once(tmp_path, launcher):
    bins_dir = tmp_path / "bins"
    write_markov_bins(bins_dir, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)
    record, port = tmp_path / "record", _free_port()
    fit_args = ["fit", "--config", str(REPO / "configs" / "tiny.yaml"), "--data.init_args.bins_dir", str(bins_dir),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar",
                "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
                "--trainer.num_nodes", "2", "--trainer.devices", "1", "--trainer.strategy", "ddp",
                "--data.init_args.batch_size", "8", "--trainer.callbacks+=recorders.WindowRecorder",
                f"--trainer.callbacks.out={record}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    nodes = []
    for rank in (0, 1):
        node_env = env if launcher == "torchrun" else {**env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                                                        "NODE_RANK": str(rank)}
        nodes.append(subprocess.Popen(_launch(launcher, rank, port, fit_args), env=node_env, cwd=tmp_path,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n---\n".join(out[-3000:] for out in outputs)
    bins = TokenBins(bins_dir)
    windows = num_windows(bins.split("train").num_tokens, 64, partial=False)
    per_rank = [np.loadtxt(record / f"windows-rank{r}.txt", dtype=np.int64, ndmin=2) for r in (0, 1)]
    assert all(len(rows) for rows in per_rank)  # both nodes trained ...
    assert sorted(np.concatenate([rows[:, 1] for rows in per_rank])) == list(range(windows))  # ... each window once
    runs = list((tmp_path / "runs" / "tiny").glob("version_*"))
    assert len(runs) == 1  # one run directory, written by global rank 0
    results = results_json(runs[0])
    assert results["finished"] and results["global_step"] == int(np.ceil(windows / 16))  # global batch 2 × 8
    assert results["val_tokens"] == bins.split("val").num_tokens - 1  # reduced over nodes, nothing twice
    assert results["val_scored_fraction"] == 1.0
