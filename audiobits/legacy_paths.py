"""Module paths of earlier releases, resolved to where each module lives now.

Saved configs (a run's ``config.yaml``, a sweep's generated configs) and checkpoints name classes by module path;
the package moved its modules into stage subpackages and installs the callbacks as ``audiobits.callbacks``, so an
import of an old path is answered with the module at its new one (the same module object, not a copy). The
old modules ``prepare``, ``compress``, ``scaling``, ``quality`` and ``demo`` became packages of the same names (their
code is now in ``audiobits.<name>.<name>``): no saved config names a class in them, so they are not in the table.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

MOVED = {
    "callbacks": "audiobits.callbacks",
    "callbacks.channel_utilization": "audiobits.callbacks.channel_utilization",
    "callbacks.cumulative_flops": "audiobits.callbacks.cumulative_flops",
    "callbacks.fraction_checkpoints": "audiobits.callbacks.fraction_checkpoints",
    "callbacks.information_rate": "audiobits.callbacks.information_rate",
    "callbacks.results_writer": "audiobits.callbacks.results_writer",
    "callbacks.throughput": "audiobits.callbacks.throughput",
    "audiobits.encode": "audiobits.prepare.encode",
    "audiobits.shards": "audiobits.prepare.shards",
    "audiobits.merge": "audiobits.prepare.merge",
    "audiobits.iso_data": "audiobits.prepare.common_utterances",
    "audiobits.module": "audiobits.training.module",
    "audiobits.chunked_loss": "audiobits.training.chunked_loss",
    "audiobits.loss_sums": "audiobits.training.loss_sums",
    "audiobits.schedule": "audiobits.training.schedule",
    "audiobits.evaluation": "audiobits.training.evaluation",
    "audiobits.trainer_options": "audiobits.training.trainer_options",
    "audiobits.trainer_cli": "audiobits.training.trainer_cli",
    "audiobits.console": "audiobits.training.console",
    "audiobits.checkpoint": "audiobits.training.checkpoint",
    "audiobits.accelerators": "audiobits.training.accelerators",
    "audiobits.provenance": "audiobits.training.provenance",
    "audiobits.runs": "audiobits.analysis.runs",
    "audiobits.report": "audiobits.analysis.report",
    "audiobits.report_columns": "audiobits.analysis.report_columns",
    "audiobits.report_formats": "audiobits.analysis.report_formats",
    "audiobits.report_page": "audiobits.analysis.report_page",
    "audiobits.plots": "audiobits.analysis.plots",
    "audiobits.sanity": "audiobits.analysis.sanity",
    "audiobits.per_speaker": "audiobits.analysis.per_speaker",
    "audiobits.baselines": "audiobits.analysis.baselines",
    "audiobits.kgram": "audiobits.analysis.kgram",
    "audiobits.learning_curve": "audiobits.analysis.learning_curve",
    "audiobits.known_truth": "audiobits.analysis.known_truth",
    "audiobits.languages": "audiobits.results",
    "audiobits.language_report": "audiobits.analysis.language_report",
    "audiobits.conditional": "audiobits.analysis.conditional",
    "audiobits.conditional_report": "audiobits.analysis.conditional_report",
    "audiobits.compare": "audiobits.analysis.compare",
    "audiobits.seeds": "audiobits.analysis.seed_spread",
    "audiobits.range_coder": "audiobits.compress.range_coder",
    "audiobits.range_coder_v1": "audiobits.compress.range_coder_v1",
    "audiobits.lane_coder": "audiobits.compress.lane_coder",
    "audiobits.compressed_file": "audiobits.compress.compressed_file",
    "audiobits.decompress": "audiobits.compress.decompress",
    "audiobits.sweep": "audiobits.scaling.sweep",
    "audiobits.sweep_records": "audiobits.scaling.sweep_records",
    "audiobits.cooldown": "audiobits.scaling.cooldown",
    "audiobits.scaling_law": "audiobits.scaling.law",
    "audiobits.calibrate": "audiobits.scaling.calibrate",
    "audiobits.hmm": "audiobits.scaling.hmm",
    "audiobits.floor": "audiobits.scaling.floor",
    "audiobits.listeners": "audiobits.quality.scoring_models",
    "audiobits.quality_file": "audiobits.quality.quality_file",
    "audiobits.samples": "audiobits.quality.samples",
    "audiobits.demo_conditional": "audiobits.demo.demo_conditional",
    "audiobits.language_demo": "audiobits.demo.language_demo",
    "audiobits.synthetic": "audiobits.demo.synthetic",
    "audiobits.synthetic_paired": "audiobits.demo.synthetic_paired",
    "audiobits.asterisk": "audiobits.demo.asterisk",
    "audiobits.espeak": "audiobits.representations.espeak",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path in :data:`MOVED` and loads the module at its new path in its place."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        # the import system hands back whatever sys.modules holds under the old name after this
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


def install() -> None:
    """Answer old module paths (first on the path, so a source checkout's top-level callbacks/ is not found twice)."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModules())
