"""Figures: every one is written as a non-empty PNG and SVG; curves come from real TensorBoard event files."""

import numpy as np
from matplotlib.image import imread

from audiobits.analysis import plots
from audiobits.bins import Codebook
from audiobits.analysis.runs import load_runs
from run_dirs import TEXT, make_run


def write_quality(bins_dir, asr_model=None, **means):
    """A quality.json as `audiobits quality` writes it, with the given metric means (others missing)."""
    import json

    from audiobits.quality.quality import METRICS

    metrics = {name: {"mean": means.get(name), "ci95": None, "n": 1} for name in METRICS}
    listeners = {"asr_model": asr_model, "speaker_model": None, "language": "en", "originals": "whole"}
    (bins_dir / "quality.json").write_text(json.dumps({"metrics": metrics, "listeners": listeners}))


def test_every_figure_is_written_and_has_content(tmp_path):
    make_run(tmp_path, "mimi_sem")
    make_run(tmp_path, "text", codebooks=TEXT, bits_per_token=8.0, tokens_per_utt=8, distinct=300)
    make_run(tmp_path, "snac_orpheus", codebooks=[Codebook(4096, 11.72), Codebook(4096, 23.44),
                                                  Codebook(4096, 46.875)], tokens_per_utt=7 * 23,
             tokens_per_frame=7, weights="random", bits_per_token=3.0)
    write_quality(tmp_path / "bins" / "demo" / "mimi_sem", stoi=0.9)
    write_quality(tmp_path / "bins" / "demo" / "snac_orpheus", stoi=0.8)
    runs = load_runs([tmp_path / "runs"])
    written = plots.write_figures(runs, tmp_path / "figures")
    assert sorted(p.name for p in written) == sorted(f"{name}.{ext}" for name in plots.FIGURES
                                                     for ext in ("png", "svg"))
    for path in written:
        if path.suffix == ".png":
            pixels = imread(path)
            assert pixels.shape[0] > 200 and pixels.shape[1] > 400 and pixels.std() > 0.05  # not blank
        else:
            assert path.read_text().lstrip().startswith("<?xml") and "<svg" in path.read_text()


def test_orpheus_positions_are_labelled_and_per_level_rates_add_up(tmp_path):
    make_run(tmp_path, "snac_orpheus", codebooks=[Codebook(4096, 11.72), Codebook(4096, 23.44),
                                                  Codebook(4096, 46.875)], tokens_per_utt=7 * 23, tokens_per_frame=7)
    [run] = load_runs([tmp_path / "runs"])
    fig = plots.codebook_decomposition([run])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [*plots.ORPHEUS_POSITIONS, "EOS"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    # make_run gives position k (0-based) k+1 bits: L0 = 1, L1 = 2 + 5, L2 = 3 + 4 + 6 + 7, at 23 frames / 2 s.
    frames_per_sec = 23 / 2.0
    assert legend == [f"L0: {1 * frames_per_sec:.4g} bits/s", f"L1: {7 * frames_per_sec:.4g} bits/s",
                      f"L2: {20 * frames_per_sec:.4g} bits/s"]


def test_loss_curves_read_tensorboard_events(tmp_path):
    make_run(tmp_path, "mimi_sem", bits_per_token=2.0)
    [run] = load_runs([tmp_path / "runs"])
    steps, nats = run.scalars("val/loss")
    assert steps.tolist() == [10, 20, 30, 40] and nats[-1] == np.float32(2.0 * np.log(2.0))
    assert run.scalars("val/never_logged")[0].size == 0
    fig = plots.loss_curves([run])
    x, y = fig.axes[1].get_lines()[0].get_data()
    assert x.tolist() == [0.25, 0.5, 0.75, 1.0] and np.allclose(y[-1], 2.0, atol=1e-6)


def test_a_runs_event_files_are_parsed_once_for_all_the_tags_a_figure_asks_for(tmp_path, monkeypatch):
    """The loss-curve figure asks for two tags per run; the event files are read once, not once per tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    make_run(tmp_path, "mimi_sem", bits_per_token=2.0)
    [run] = load_runs([tmp_path / "runs"])
    reloads = []
    reload = EventAccumulator.Reload
    monkeypatch.setattr(EventAccumulator, "Reload", lambda self: reloads.append(self) or reload(self))
    plots.loss_curves([run])
    assert run.scalars("val/loss")[0].tolist() == [10, 20, 30, 40]
    assert len(reloads) == len(list(run.path.glob("events.out.tfevents.*"))) == 1


def test_figures_without_data_are_skipped(tmp_path):
    run = make_run(tmp_path, "mimi_sem", curve=False, results_overrides={"bits_per_byte": None,
                                                                         "bits_by_context": []})
    runs = load_runs([run])
    assert plots.codebook_decomposition(runs) is None and plots.context(runs) is None
    assert plots.bits_per_byte(runs) is None and plots.loss_curves(runs) is None
    assert {p.stem for p in plots.write_figures(runs, tmp_path / "out")} == {"headline", "capacity",
                                                                             "flops_per_bit"}


def three_runs(tmp_path):
    make_run(tmp_path, "mimi_sem", bits_per_token=2.0)
    make_run(tmp_path, "text", codebooks=TEXT, bits_per_token=8.0, tokens_per_utt=8, distinct=300)
    make_run(tmp_path, "snac_orpheus", codebooks=[Codebook(4096, 11.72), Codebook(4096, 23.44),
                                                  Codebook(4096, 46.875)], tokens_per_utt=7 * 23,
             tokens_per_frame=7, weights="random", bits_per_token=3.0)
    return load_runs([tmp_path / "runs"])


def test_headline_points_are_the_runs_bits_per_sec_and_intervals(tmp_path):
    runs = three_runs(tmp_path)
    ax = plots.headline(runs).axes[0]
    ordered = sorted(runs, key=lambda r: r.results.headline.bits_per_sec)
    points = [c for c in ax.containers]  # one errorbar per run, bottom to top
    assert len(points) == 3
    for y, (run, container) in enumerate(zip(ordered, points)):
        x, y_data = container.lines[0].get_data()
        assert x[0] == run.results.headline.bits_per_sec and y_data[0] == y
        low, high = run.results.headline.bits_per_sec_ci95
        segments = container.lines[2][0].get_segments()
        assert np.allclose(segments[0][:, 0], [low, high])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [r.label + (" *" if r.results.weights == "random" else "") for r in ordered]


def test_capacity_points_sit_at_nominal_and_flat_capacity(tmp_path):
    runs = three_runs(tmp_path)
    ax = plots.capacity(runs).axes[0]
    points = {tuple(np.ravel(line.get_xydata())) for line in ax.get_lines() if line.get_marker() == "o"}
    expected = {(getattr(r.results.headline, key), r.results.headline.bits_per_sec) for r in runs
                for key in ("nominal_bitrate", "flat_capacity")}
    assert points == expected


def test_bits_per_byte_points_are_the_runs_values(tmp_path):
    runs = three_runs(tmp_path)
    ax = plots.bits_per_byte(runs).axes[0]
    points = [tuple(line.get_xydata()[0]) for line in ax.get_lines() if line.get_marker() == "o"]
    assert points == [(r.results.headline.bits_per_byte, y) for y, r in enumerate(runs)]
    assert [t.get_text() for t in ax.get_yticklabels()] == [r.label + (" *" if r.results.weights == "random"
                                                                       else "") for r in runs]


def test_flops_per_bit_points_are_trunk_and_full_per_run(tmp_path):
    runs = three_runs(tmp_path)
    ax = plots.flops_per_bit(runs).axes[0]
    trunk, full = (line for line in ax.get_lines() if line.get_marker() in ("o", "s"))
    assert list(trunk.get_xdata()) == [r.results.inference_flops_per_bit_trunk for r in runs]
    assert list(full.get_xdata()) == [r.results.inference_flops_per_bit_full for r in runs]


def test_frontier_marks_the_pareto_front_and_both_bitrates(tmp_path):
    """Two scored runs (mimi_sem 1 bit/token, text 8): the one with fewer bits/s and better STOI is the front."""
    make_run(tmp_path, "mimi_sem")
    make_run(tmp_path, "text", codebooks=TEXT, bits_per_token=8.0, tokens_per_utt=8, distinct=300)
    make_run(tmp_path, "snac_orpheus", codebooks=[Codebook(4096, 11.72), Codebook(4096, 23.44),
                                                  Codebook(4096, 46.875)], tokens_per_utt=7 * 23, tokens_per_frame=7)
    write_quality(tmp_path / "bins" / "demo" / "mimi_sem", stoi=0.9, log_mel_distance=0.5)
    write_quality(tmp_path / "bins" / "demo" / "snac_orpheus", stoi=0.8, log_mel_distance=0.4, wer=0.3)
    runs = load_runs([tmp_path / "runs"])
    fig = plots.frontier(runs)
    # one panel per score some run has (PESQ, SI-SDR and speaker similarity were not scored)
    assert [ax.get_ylabel() for ax in fig.axes] == ["STOI", "log-mel distance (lower is better)",
                                                    "WER, Whisper (lower is better)"]
    stoi_ax = fig.axes[0]
    assert stoi_ax.get_xscale() == "log" and stoi_ax.get_ylabel() == "STOI"
    front = [line for line in stoi_ax.get_lines() if line.get_label() == "Pareto front (bits/s)"]
    bits = {r.representation: r.results.headline.bits_per_sec for r in runs}
    nominal = {r.representation: r.results.headline.nominal_bitrate for r in runs}
    better = min(["mimi_sem", "snac_orpheus"], key=lambda n: bits[n])
    expected = [bits[better]] if (better == "mimi_sem") else [bits["snac_orpheus"], bits["mimi_sem"]]
    assert list(front[0].get_xdata()) == expected
    xs = {x for line in stoi_ax.get_lines() for x in line.get_xdata()}
    assert {nominal["mimi_sem"], nominal["snac_orpheus"]} <= xs  # the nominal marker on each row
    assert plots.frontier([r for r in runs if r.representation == "text"]) is None  # nothing scored


def test_a_wer_from_another_whisper_is_off_the_front_in_the_wer_panel_only(tmp_path):
    make_run(tmp_path, "mimi_sem")
    make_run(tmp_path, "snac_orpheus", codebooks=[Codebook(4096, 11.72), Codebook(4096, 23.44),
                                                  Codebook(4096, 46.875)], tokens_per_utt=7 * 23, tokens_per_frame=7)
    make_run(tmp_path, "mimi_all", codebooks=[Codebook(2048, 12.5)] * 8, tokens_per_utt=8 * 25, tokens_per_frame=8)
    for name, whisper in (("mimi_sem", "whisper-a"), ("snac_orpheus", "whisper-a"), ("mimi_all", "whisper-b")):
        write_quality(tmp_path / "bins" / "demo" / name, asr_model=whisper, stoi=0.8, wer=0.1)
    fig = plots.frontier(load_runs([tmp_path / "runs"]))
    stoi_ax, wer_ax = fig.axes

    def hollow(ax):
        return sorted(points.get_label() for points in ax.containers
                      if points.lines[0].get_markerfacecolor() == "white")

    assert hollow(stoi_ax) == [] and hollow(wer_ax) == ["mimi_all *"]
    assert "mimi_all: scored by whisper-b (en)" in wer_ax.get_xlabel() and "*" not in stoi_ax.get_xlabel()
    assert "not comparable" in fig._suptitle.get_text()


def test_context_figure_draws_each_runs_bits_by_context_against_seconds(tmp_path):
    make_run(tmp_path, "mimi_sem")
    [run] = load_runs([tmp_path / "runs"])
    fig = plots.context([run])
    per_token, per_sec = fig.axes[:2]
    curve = run.results.bits_by_context
    x, y = per_token.get_lines()[0].get_data()
    assert list(x) == [b["mean_context_seconds"] for b in curve] and list(y) == [b["bits_per_token"] for b in curve]
    assert per_token.get_xscale() == "log"
    _, y_sec = per_sec.get_lines()[0].get_data()
    assert np.allclose(y_sec, np.array(y) * run.results.headline.tokens_per_sec) and per_sec.get_yscale() == "log"
    # each bucket's bootstrap interval is a band around the curve; older results.json files draw none
    [band] = per_token.collections
    low, high = ([b[k] for b in curve] for k in ("bits_per_token_lo", "bits_per_token_hi"))
    assert len(low) >= 5 and None not in low + high and min(low) < max(high)
    assert all(lo <= b <= hi for lo, b, hi in zip(low, y, high))
    extent = band.get_paths()[0].get_extents()
    assert np.isclose(extent.y0, min(low)) and np.isclose(extent.y1, max(high))
    assert len(per_sec.collections) == 1
    older = [{k: v for k, v in b.items() if not k.startswith("bits_per_token_")} for b in curve]
    make_run(tmp_path, "mimi_old", results_overrides={"bits_by_context": older})
    old = next(r for r in load_runs([tmp_path / "runs"]) if r.label.startswith("mimi_old"))
    assert not plots.context([old]).axes[0].collections


def test_frontier_points_carry_the_bootstrap_interval_of_their_score(tmp_path):
    import json

    make_run(tmp_path, "mimi_sem")
    (tmp_path / "bins" / "demo" / "mimi_sem" / "quality.json").write_text(json.dumps(
        {"metrics": {"stoi": {"mean": 0.8, "ci95": [0.7, 0.85], "n": 8}}, "listeners": None}))
    [run] = load_runs([tmp_path / "runs"])
    [points] = plots.frontier([run]).axes[0].containers
    [bars] = points.lines[2]
    x = run.results.headline.bits_per_sec
    assert np.allclose(bars.get_segments()[0], [[x, 0.7], [x, 0.85]])


def overlapping(boxes, gap: float = 3.0) -> bool:
    """Whether any two of ``boxes`` (display pixels) come closer than ``gap``: labels that touch read as one."""
    padded = [box.padded(gap / 2) for box in boxes]
    return any(a.overlaps(b) for i, a in enumerate(padded) for b in padded[i + 1:])


def test_every_figure_stands_alone(tmp_path):
    """A title, labelled axes, no bar on a log axis (its base would be arbitrary), no colliding tick labels."""
    from matplotlib.container import BarContainer

    three_runs(tmp_path)
    # the demo's audio streams: 500 to 64,000 bits/s (learned to nominal), where 10,000 and 20,000 once collided
    make_run(tmp_path, "codec2_3200", codebooks=[Codebook(256, 50.0)] * 8, tokens_per_utt=8 * 100, tokens_per_frame=8,
             bits_per_token=4.0, results_overrides={"flattening": "frame_major_field_offsets"})  # long tick labels
    make_run(tmp_path, "mulaw", codebooks=[Codebook(256, 8000.0)], tokens_per_utt=4000, seconds=0.5, bits_per_token=5.0)
    make_run(tmp_path, "codec2_700c", codebooks=[Codebook(256, 25.0)] * 4, tokens_per_utt=4 * 50, tokens_per_frame=4,
             bits_per_token=5.0)
    for name, stoi in (("codec2_700c", 0.6), ("codec2_3200", 0.7), ("mulaw", 0.99)):
        write_quality(tmp_path / "bins" / "demo" / name, stoi=stoi, pesq_wb=2.0 + stoi)
    runs = load_runs([tmp_path / "runs"])
    for name, draw in plots.FIGURES.items():
        fig = draw(runs)
        if fig is None:
            continue
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        assert (fig._suptitle is not None and fig._suptitle.get_text()) or all(ax.get_title() for ax in fig.axes), name
        xlabels = [ax.xaxis.label.get_window_extent(renderer) for ax in fig.axes]
        assert not overlapping(xlabels), name  # a panel's axis label runs into its neighbour's
        for ax in fig.axes:
            assert ax.get_xlabel(), name
            categorical = any(t.get_text() and not t.get_text()[0].isdigit() for t in ax.get_yticklabels())
            assert ax.get_ylabel() or categorical, name
            if "log" in (ax.get_xscale(), ax.get_yscale()):
                assert not any(isinstance(c, BarContainer) for c in ax.containers), name
            for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
                shown = [t.get_window_extent(renderer) for t in ticks if t.get_visible() and t.get_text()]
                assert not overlapping(shown), (name, [t.get_text() for t in ticks])


def test_the_codebook_legend_hides_no_bar_and_codec2_has_fields(tmp_path):
    make_run(tmp_path, "codec2_3200", codebooks=[Codebook(256, 50.0)] * 8, tokens_per_utt=8 * 25, tokens_per_frame=8)
    [run] = load_runs([tmp_path / "runs"])
    run.results.flattening = "frame_major_field_offsets"  # as the Codec 2 representation writes it
    fig = plots.codebook_decomposition([run])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"field{k}" for k in range(8)] + ["EOS"]
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [bar.get_window_extent(renderer) for bar in ax.patches if bar.get_height() > 0]
    assert len(bars) == 9 and not any(legend.overlaps(bar) for bar in bars)
