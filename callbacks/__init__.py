"""Lightning callbacks that turn validation sums into information rates, utilization, FLOPs, training throughput
and results.json."""

from audiobits.callbacks.channel_utilization import ChannelUtilization
from audiobits.callbacks.cumulative_flops import CumulativeFLOPs
from audiobits.callbacks.fraction_checkpoints import DataFractionCheckpoints
from audiobits.callbacks.information_rate import InformationRate
from audiobits.callbacks.results_writer import ResultsWriter
from audiobits.callbacks.throughput import TrainingThroughput

__all__ = ["ChannelUtilization", "CumulativeFLOPs", "DataFractionCheckpoints", "InformationRate", "ResultsWriter",
           "TrainingThroughput"]
