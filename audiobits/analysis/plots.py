"""The report's figures (matplotlib, Agg; each saved as PNG and SVG by :func:`write_figures`).

Every function takes loaded runs (:func:`audiobits.analysis.runs.load_runs`) and returns a Figure, or None when no run
has what it plots. Numbers come from results.json, curves from the TensorBoard event files. Flagged runs
(:func:`audiobits.analysis.runs.flags`) are drawn hollow and starred.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from audiobits.files import write_figure
from audiobits.analysis.runs import Run, flags, reference_group
from audiobits.analysis.sanity import content_tokens_per_sec

SPEECH_INFORMATION_RATE = (39.15, 5.10)  # bits/s, mean and s.d. over 17 languages: Coupé et al. 2019, Sci. Adv.
ORPHEUS_POSITIONS = ("L0", "L1a", "L2a", "L2b", "L1b", "L2c", "L2d")  # [L0[i], L1[2i], L2[4i], L2[4i+1], ...]


def significant(x: float | None, digits: int = 4) -> str:
    """``digits`` significant digits without exponent (24,531 / 39.15 / 0.01230); '–' for missing. The report's
    and the figures' number format."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


def compact(value: float) -> str:
    """A tick label short enough not to collide with its neighbours: 500, 2k, 10k, 3M, 0.05."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _log(ax, which: str) -> None:
    """Make ``ax``'s ``which`` ("x" or "y") axis logarithmic with compact plain-number labels: at 1, 2, 5 × 10^k when
    the data span under a decade and a half, else at decades (unlabelled ticks at 2 and 5). Call it after plotting."""
    getattr(ax, f"set_{which}scale")("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = ax.get_xlim() if which == "x" else ax.get_ylim()
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if high / low < 30 else (1.0,)))
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))
    axis.set_minor_formatter(NullFormatter())


def _colors(runs: list[Run]) -> dict[str, tuple]:
    """One tab10 color per representation, stable across figures."""
    names = sorted({r.representation for r in runs})
    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _flagged(runs: list[Run]) -> dict[str, list[str]]:
    reference = reference_group(runs)
    return {r.label: flags(r.results, reference) for r in runs}


def _name(run: Run, flagged: dict[str, list[str]]) -> str:
    name = run.label if run.label == run.representation else f"{run.representation} ({run.label})"
    return name + (" *" if flagged[run.label] else "")


def _xlabel(ax, text: str, runs: list[Run], flagged: dict[str, list[str]]) -> None:
    """The x label, with a line naming why starred runs are not comparable."""
    notes = [f"{r.label}: {', '.join(flagged[r.label])}" for r in runs if flagged[r.label]]
    ax.set_xlabel(text + ("\n* not comparable — " + "; ".join(notes) if notes else ""))


def headline(runs: list[Run], floors: dict | None = None) -> Figure:
    """bits/sec per run with its 95 % interval, log axis; speech information-rate band and each nominal bitrate.

    ``floors`` (from `audiobits scaling`): representation → (floor bits/sec, its interval or None, unreliable),
    drawn as a diamond with its interval on the run's row (hollow when the fit flagged itself unreliable)."""
    runs = sorted(runs, key=lambda r: r.results.headline.bits_per_sec)
    colors, flagged = _colors(runs), _flagged(runs)
    fig, [ax] = _figure(8, 1.2 + 0.55 * len(runs))
    mean, sd = SPEECH_INFORMATION_RATE
    ax.axvspan(mean - sd, mean + sd, color="0.85", zorder=0,
               label=f"speech information rate {mean:.0f} ± {sd:.0f} bits/s (Coupé et al. 2019)")
    for y, run in enumerate(runs):
        r = run.results.headline
        low, high = r.bits_per_sec_ci95
        hollow = bool(flagged[run.label])
        ax.errorbar(r.bits_per_sec, y, xerr=[[r.bits_per_sec - low], [high - r.bits_per_sec]], fmt="o",
                    color=colors[run.representation], mfc="white" if hollow else colors[run.representation],
                    capsize=4, label="bits/s, 95 % bootstrap interval" if y == 0 else None)
        ax.plot(r.nominal_bitrate, y, "|", color="0.3", ms=14, mew=2, label="nominal bitrate" if y == 0 else None)
        ax.plot(r.flat_capacity, y, "4", color="0.5", ms=10, label="flat capacity" if y == 0 else None)
        ax.annotate(significant(r.bits_per_sec, 3), (r.bits_per_sec, y), textcoords="offset points",
                    xytext=(0, 7), ha="center", fontsize=8)
        if floors and run.representation in floors:
            _floor(ax, y, *floors[run.representation], first=not any(rr.representation in floors for rr in runs[:y]))
    _log(ax, "x")
    ax.set_yticks(range(len(runs)), [_name(r, flagged) for r in runs])
    ax.set_ylim(-0.7, len(runs) - 0.3)
    ax.set_title("Information carried per second, by representation")
    fig.legend(fontsize=7, loc="outside lower center", ncol=2)
    ax.grid(axis="x", which="both", alpha=0.3)
    _xlabel(ax, "bits per second of speech (validation)", runs, flagged)
    return fig


def _floor(ax, y: float, floor: float, interval: list[float] | None, unreliable: bool, first: bool) -> None:
    """The scaling law's extrapolated floor on a headline row: a diamond with its bootstrap interval."""
    # a percentile interval need not contain the point (the fit then flags itself): clip the bars at the point
    xerr = [[max(floor - interval[0], 0.0)], [max(interval[1] - floor, 0.0)]] if interval else None
    ax.errorbar(floor, y - 0.18, xerr=xerr, fmt="D", color="black", mfc="white" if unreliable else "black", ms=5,
                capsize=3, label="fitted floor E × tok/s, 95 % interval (hollow: fit unreliable)" if first else None)


def scaling_curves(params: np.ndarray, tokens: np.ndarray, loss: np.ndarray, fit, title: str) -> Figure:
    """bits/token against trained tokens per model size (log-log), the fitted L(N, D) curves and the floor E."""
    fig, [ax] = _figure(6.5, 4.5)
    cmap = matplotlib.colormaps["viridis"]
    sizes = sorted(set(params))
    grid = np.geomspace(min(tokens) / 1.5, max(tokens) * 2, 100)
    for i, n in enumerate(sizes):
        color = cmap(i / max(len(sizes) - 1, 1))
        mine = params == n
        ax.plot(tokens[mine], loss[mine], "o", color=color, label=f"N = {significant(n / 1e6, 3)} M")
        ax.plot(grid, fit.predict(np.full_like(grid, n), grid), "-", color=color, alpha=0.7)
    ax.axhline(fit.E, color="black", ls="--", lw=1, label=f"floor E = {fit.E:.3f} bits/token")
    ax.set_xscale("log")  # decades as 10^k: token counts span several
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yscale("log")  # losses span less than a decade: label 1…9 × 10^k
    ax.yaxis.set_major_locator(LogLocator(subs=tuple(range(1, 10))))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    flag = " — UNRELIABLE" if fit.unreliable else ""
    ax.set_title(f"{title}: L = E + A/N^{fit.alpha:.2f} + B/D^{fit.beta:.2f}{flag}", fontsize=9)
    ax.set_xlabel("training tokens D")
    ax.set_ylabel("validation bits/token")
    ax.legend(fontsize=7)
    ax.grid(which="both", alpha=0.3)
    return fig


def capacity(runs: list[Run]) -> Figure:
    """bits/sec against the nominal bitrate (filled) and the flat capacity (hollow), with utilization diagonals."""
    colors, flagged = _colors(runs), _flagged(runs)
    fig, [ax] = _figure(6.5, 5)
    xs = [v for r in runs for v in (r.results.headline.nominal_bitrate, r.results.headline.flat_capacity)]
    line = np.array([min(xs) / 3, max(xs) * 3])
    for share in (1.0, 0.1, 0.01):
        ax.plot(line, share * line, ":", color="0.6", lw=1)
        ax.annotate(f"{share:.0%}", (line[-1], share * line[-1]), fontsize=7, color="0.4", ha="right")
    for run in runs:
        r, color = run.results.headline, colors[run.representation]
        ax.plot([r.nominal_bitrate, r.flat_capacity], [r.bits_per_sec] * 2, "-", color=color, lw=0.8)
        ax.plot(r.nominal_bitrate, r.bits_per_sec, "o", color=color, mfc="white" if flagged[run.label] else color)
        ax.plot(r.flat_capacity, r.bits_per_sec, "o", color=color, mfc="none", ms=8)
        ax.annotate(_name(run, flagged), (r.nominal_bitrate, r.bits_per_sec), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)
    measured = [r.results.headline.bits_per_sec for r in runs]
    ax.set_ylim(min(measured) / 3, max(xs) * 3)
    _log(ax, "x")
    _log(ax, "y")
    ax.set_ylabel("measured bits/s")
    ax.set_title("Bits per second vs capacity (dotted: utilization)")
    ax.grid(which="both", alpha=0.3)
    _xlabel(ax, "channel: nominal bitrate (•) and flat capacity (○), bits/s", runs, flagged)
    return fig


def bits_per_byte(runs: list[Run]) -> Figure | None:
    """bits per UTF-8 byte of the transcript, for runs whose validation utterances have transcripts."""
    runs = [r for r in runs if r.results.headline.bits_per_byte is not None]
    if not runs:
        return None
    colors, flagged = _colors(runs), _flagged(runs)
    fig, [ax] = _figure(7, 1.2 + 0.45 * len(runs))
    values = [r.results.headline.bits_per_byte for r in runs]
    for y, (run, v) in enumerate(zip(runs, values)):  # points, not bars: a bar on a log axis has no true base
        ax.plot(v, y, "o", color=colors[run.representation], mfc="white" if flagged[run.label] else None)
    for y, v in enumerate(values):
        ax.annotate(significant(v, 3), (v, y), textcoords="offset points", xytext=(3, -3), fontsize=8)
    ax.set_yticks(range(len(runs)), [_name(r, flagged) for r in runs])
    _log(ax, "x")
    ax.set_title("Bits per transcript byte")
    ax.set_ylim(-0.7, len(runs) - 0.3)
    ax.grid(axis="x", which="major", alpha=0.3)
    _xlabel(ax, "bits per byte of transcript (bits/byte, validation)", runs, flagged)
    return fig


def flops_per_bit(runs: list[Run]) -> Figure:
    """Inference FLOPs per bit of information, trunk (2N) and full (with output projection and attention)."""
    flagged = _flagged(runs)
    fig, [ax] = _figure(7, 1.2 + 0.55 * len(runs))
    y = np.arange(len(runs))
    trunk = [r.results.inference_flops_per_bit_trunk for r in runs]
    full = [r.results.inference_flops_per_bit_full for r in runs]
    # points joined by a line, not bars: a bar on a log axis starts at an arbitrary limit, its length means nothing
    ax.hlines(y, trunk, full, color="0.7", lw=1)
    ax.plot(trunk, y - 0.2, "o", color="tab:blue", label="trunk: 2N / bits per token")
    ax.plot(full, y + 0.2, "s", color="tab:orange", label="full: (2N + 2Vd + 4Ld·ctx) / bits per token")
    for offset, values in ((-0.2, trunk), (0.2, full)):
        for row, v in zip(y, values):
            ax.annotate(significant(v, 3), (v, row + offset), textcoords="offset points", xytext=(3, -3), fontsize=7)
    ax.set_yticks(y, [_name(r, flagged) for r in runs])
    _log(ax, "x")
    ax.set_title("Compute per bit of information")
    ax.legend(fontsize=7)
    ax.set_ylim(-0.7, len(runs) - 0.3)
    ax.grid(axis="x", which="major", alpha=0.3)
    _xlabel(ax, "inference FLOPs per bit (FLOPs/bit)", runs, flagged)
    return fig


def loss_curves(runs: list[Run]) -> Figure | None:
    """Validation bits/sec and bits/token over training (TensorBoard ``val/bits_per_sec``, ``val/loss``)."""
    colors, flagged = _colors(runs), _flagged(runs)
    fig, axes = _figure(11, 4, ncols=2)
    drawn = False
    for run in runs:
        steps, bps = run.scalars("val/bits_per_sec")
        loss_steps, nats = run.scalars("val/loss")
        total = run.results.global_step or max([*steps, *loss_steps, 1])
        style = {"color": colors[run.representation], "ls": "--" if flagged[run.label] else "-", "marker": "."}
        if len(steps):
            axes[0].plot(steps / total, bps, label=_name(run, flagged), **style)
            drawn = True
        if len(loss_steps):
            axes[1].plot(loss_steps / total, nats / math.log(2.0), label=_name(run, flagged), **style)
            drawn = True
    if not drawn:
        return None
    _log(axes[0], "y")
    axes[0].set_ylabel("validation bits/s")
    axes[1].set_ylabel("validation bits/token (loss / ln 2)")
    for ax in axes:
        ax.set_xlabel("fraction of the training epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Validation during training")
    return fig


def _position_labels(run: Run, positions: int) -> list[str]:
    r = run.results
    if positions == len(ORPHEUS_POSITIONS) and "orpheus" in f"{r.representation} {r.flattening}":
        return list(ORPHEUS_POSITIONS)
    if positions == len(r.codebooks):
        unit = "field" if "field" in r.flattening else "cb"  # Codec 2's 8-bit fields are no codebooks
        return [f"{unit}{k}" for k in range(positions)]
    return [f"pos {k}" for k in range(positions)]


def codebook_decomposition(runs: list[Run]) -> Figure | None:
    """bits/token of each position inside a coarse frame (codebook level / Orpheus slot) and the EOS token.

    Each position occurs once per coarse frame, so position k carries b_k × (content tokens/s ÷ tokens per
    frame) bits/s; the legend sums them per level.
    """
    runs = [r for r in runs if r.results.tokens_per_frame > 1 and r.results.bits_per_position]
    if not runs:
        return None
    fig, axes = _figure(6.5 * len(runs), 4.2, ncols=len(runs))
    for ax, run in zip(axes, runs):
        bits = run.results.bits_per_position
        labels = _position_labels(run, len(bits) - 1) + ["EOS"]
        frames_per_sec = content_tokens_per_sec(run.results.headline) / (len(bits) - 1)
        levels = sorted({label.rstrip("abcd") for label in labels[:-1]})
        cmap = {level: f"C{i}" for i, level in enumerate(levels)}
        values = [np.nan if b is None else b for b in bits]
        ax.bar(range(len(bits)), values, color=[cmap.get(lb.rstrip("abcd"), "0.6") for lb in labels],
               hatch=[""] * (len(bits) - 1) + ["//"])
        for level in levels:
            carried = sum(v * frames_per_sec for lb, v in zip(labels[:-1], values[:-1]) if lb.rstrip("abcd") == level
                          and not np.isnan(v))
            ax.bar([0], [0], color=cmap[level], label=f"{level}: {carried:.4g} bits/s")
        ax.set_xticks(range(len(bits)), labels)
        ax.set_ylabel("bits/token")
        ax.set_xlabel("position in the frame (hatched: end of utterance)")
        ax.set_title(f"{run.label}: bits per frame position", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="bits/s carried",
                  title_fontsize=7)  # beside the axes: it hides no bar
        if len(labels) > 5:
            ax.tick_params(axis="x", labelrotation=45)
    fig.suptitle("Information per position inside a frame")
    return fig


def context(runs: list[Run]) -> Figure | None:
    """bits/token and bits/sec against in-window context in seconds of audio (log x), per run: how much of each
    stream's information is long-range. From the final evaluation's non-overlapping pass (``bits_by_context``),
    with each bucket's 95 % bootstrap interval as a band where results.json records it."""
    runs = [r for r in runs if r.results.bits_by_context]
    if not runs:
        return None
    colors, flagged = _colors(runs), _flagged(runs)
    fig, (per_token, per_sec) = _figure(11, 4, ncols=2)
    for run in runs:
        curve = run.results.bits_by_context
        seconds = [b["mean_context_seconds"] for b in curve]
        bits = np.array([b["bits_per_token"] for b in curve])
        style = {"color": colors[run.representation], "marker": "o", "ms": 3,
                 "mfc": "white" if flagged[run.label] else colors[run.representation]}
        per_token.plot(seconds, bits, label=_name(run, flagged), **style)
        per_sec.plot(seconds, bits * run.results.headline.tokens_per_sec, **style)
        if all("bits_per_token_lo" in b for b in curve):  # older results.json files have no interval: no band
            low, high = (np.array([np.nan if b[k] is None else b[k] for b in curve], dtype=float)
                         for k in ("bits_per_token_lo", "bits_per_token_hi"))
            per_token.fill_between(seconds, low, high, color=style["color"], alpha=0.2, linewidth=0)
            rate = run.results.headline.tokens_per_sec
            per_sec.fill_between(seconds, low * rate, high * rate,
                                 color=style["color"], alpha=0.2, linewidth=0)
    for ax, label in ((per_token, "bits/token"), (per_sec, "bits/sec (bits/token × tokens/s)")):
        ax.set_ylabel(label)
        _log(ax, "x")
        _xlabel(ax, "context: seconds of audio before the target in its window", runs, flagged)
        ax.grid(True, which="major", alpha=0.3)
    _log(per_sec, "y")  # streams differ by decades in bits/sec (phonemes ~10², μ-law ~10⁴), as on the headline
    per_token.legend(fontsize=8)
    fig.suptitle("Bits against the context a target sees (final evaluation, non-overlapping windows; bands: 95 % "
                 "bootstrap intervals)")
    return fig


QUALITY_AXES = {"stoi": "STOI", "pesq_wb": "PESQ wideband (MOS-LQO)", "si_sdr": "SI-SDR (dB)",
                "log_mel_distance": "log-mel distance (lower is better)", "wer": "WER, Whisper (lower is better)",
                "speaker_similarity": "speaker similarity (WavLM cosine)"}


def frontier(runs: list[Run]) -> Figure | None:
    """bits/sec (log x) against each decoded-quality score, one point per run; the nominal bitrate as a second
    marker on the same row (joined by a thin line); the Pareto front of comparable runs marked."""
    from audiobits.metrics import pareto_front
    from audiobits.quality.quality_file import HIGHER_IS_BETTER, other_listeners, quality_means, read_quality_file

    results = {run.label: read_quality_file(run.bins_dir()) for run in runs}  # each quality.json read once
    scored = [(run, quality_means(results[run.label])) for run in runs]
    scored = [(run, q) for run, q in scored if any(v is not None for v in q.values())]
    if not scored:
        return None
    colors, flagged = _colors([r for r, _ in scored]), _flagged(runs)
    panels = {m: label for m, label in QUALITY_AXES.items() if any(q[m] is not None for _, q in scored)}
    fig, axes = _figure(4.2 * len(panels), 4.4, ncols=len(panels))
    hollow = False
    for ax, (metric, label) in zip(axes, panels.items()):
        points = [(run, q[metric]) for run, q in scored if q[metric] is not None]
        other = other_listeners({run.label: (results[run.label] or {}).get("listeners") for run, _ in points},
                                metric)  # WER by another Whisper is another number
        apart = {run.label: flagged[run.label] + ([f"scored by {other[run.label]}"] if run.label in other else [])
                 for run, _ in points}
        comparable = [(run, v) for run, v in points if not apart[run.label]]
        hollow |= len(comparable) < len(points)
        on_front = pareto_front([r.results.headline.bits_per_sec for r, _ in comparable], [v for _, v in comparable],
                                HIGHER_IS_BETTER[metric])
        front = sorted((r.results.headline.bits_per_sec, v) for (r, v), f in zip(comparable, on_front) if f)
        if front:
            ax.plot(*zip(*front), "-", color="0.6", lw=3, alpha=0.5, zorder=0, label="Pareto front (bits/s)")
        for run, value in points:
            r, color = run.results.headline, colors[run.representation]
            ax.plot([r.bits_per_sec, r.nominal_bitrate], [value, value], "-", color=color, lw=0.8, alpha=0.5)
            ci = ((results[run.label] or {}).get("metrics", {}).get(metric) or {}).get("ci95")
            yerr = [[max(value - ci[0], 0.0)], [max(ci[1] - value, 0.0)]] if ci else None  # the bootstrap interval
            ax.errorbar(r.bits_per_sec, value, yerr=yerr, fmt="o", color=color, capsize=3,
                        mfc="white" if apart[run.label] else color, label=_name(run, apart))
            ax.plot(r.nominal_bitrate, value, "|", color=color, ms=12, mew=2)
        _log(ax, "x")
        ax.set_ylabel(label)
        _xlabel(ax, "bits/s: ● learned, | nominal", [run for run, _ in points], apart)
        ax.grid(which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=min(len(labels), 5))
    fig.suptitle("Bits per second (validation) against decoded quality, with the score's 95 % bootstrap interval"
                 + (" (* not comparable: hollow)" if hollow else ""))
    return fig


FIGURES = {"headline": headline, "context": context, "capacity": capacity, "bits_per_byte": bits_per_byte,
           "flops_per_bit": flops_per_bit, "loss_curves": loss_curves,
           "codebook_decomposition": codebook_decomposition, "frontier": frontier}


def write_figures(runs: list[Run], out: str | Path) -> list[Path]:
    """Every figure that has data, as ``<out>/<name>.png`` and ``.svg``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        fig = draw(runs)
        if fig is None:
            continue
        for suffix in ("png", "svg"):
            path = out / f"{name}.{suffix}"
            write_figure(fig, path)
            written.append(path)
    return written
