"""Lightning callbacks that turn validation sums into information rates, utilization, FLOPs, training throughput
and results.json."""

from callbacks.channel_utilization import ChannelUtilization
from callbacks.cumulative_flops import CumulativeFLOPs
from callbacks.fraction_checkpoints import DataFractionCheckpoints
from callbacks.information_rate import InformationRate
from callbacks.results_writer import ResultsWriter
from callbacks.throughput import TrainingThroughput

__all__ = ["ChannelUtilization", "CumulativeFLOPs", "DataFractionCheckpoints", "InformationRate", "ResultsWriter",
           "TrainingThroughput"]
