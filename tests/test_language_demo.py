"""Real recorded speech end to end: the Asterisk prompts of five languages prepared, fitted, scored per language
(`audiobits demo --languages`, reduced) and decoded for quality — the suite's run on real recordings."""

import json
import math

import pytest

from audiobits.demo import asterisk
from audiobits.corpora import AudioFolder
from audiobits.demo.demo import SIZES, fit_config
from audiobits.demo.language_demo import parallel_files, run_language_demo
from audiobits.quality.quality import score_bins
from audiobits.quality.quality_file import read_quality
from audiobits.cli import main as cli_main
from audiobits.representations import build
from real_speech import missing_packages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    missing = missing_packages(asterisk.LANGUAGES)
    if missing:
        pytest.skip(f"real speech needs apt-get install {' '.join(missing)} (.ci/run installs them)")
    out = tmp_path_factory.mktemp("languages")
    run_language_demo(out, "tiny", SIZES["tiny"], fit_config, prompts=6, names=("phonemes", "codec2_700c"))
    return out


def results(demo, name):
    return json.loads(next((demo / "runs" / name).glob("version_*/results.json")).read_text())


@pytest.mark.parametrize("name", ["phonemes", "codec2_700c"])
def test_every_language_is_scored_and_the_languages_add_up_to_the_run(demo, name):
    r = results(demo, name)
    assert sorted(r["languages"]) == list(asterisk.LANGUAGES)
    scores = r["languages"].values()
    assert sum(s["utterances"] for s in scores) == r["val_utterances"]
    total_bits = sum(s["bits_per_sec"] * s["seconds"] for s in scores)
    assert math.isclose(total_bits, r["bits_per_sec"] * r["val_seconds"], rel_tol=1e-9)
    assert all(s["ci_kind"] == "utterances" and s["bits_per_sec_ci95"][0] <= s["bits_per_sec_ci95"][1]
               for s in scores)  # one speaker per language: the interval can only resample utterances


def test_phonemes_read_every_language_in_its_own_voice_and_drop_nothing(demo):
    meta = json.loads((demo / "bins" / "asterisk" / "phonemes" / "meta.json").read_text())
    assert meta["encoder"]["weights"] == "espeak-ng rules (en: en-us, es: es, fr: fr, it: it, ru: ru)"
    assert meta["extra"]["dropped_utterances"] == {"train": 0, "val": 0}
    codec2 = results(demo, "codec2_700c")
    # the same val utterances in every stream: iso-data across representations
    assert results(demo, "phonemes")["val_utterance_set"] == codec2["val_utterance_set"]


def test_report_by_language_and_the_parallel_subset(demo, capsys):
    out = demo / "by-language"
    cli_main(["report", "--by", "language", str(demo / "runs"), "--out", str(out), "--format", "csv"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("run,representation,language") and len(lines) == 1 + 2 * len(asterisk.LANGUAGES)
    assert {p.name for p in out.iterdir()} >= {"languages.md", "languages.csv", "languages.json", "languages.png"}
    shared = parallel_files(demo / "corpus" / "asterisk", asterisk.LANGUAGES)
    assert shared and {f.split("/")[0] for f in shared} == set(asterisk.LANGUAGES)
    assert (demo / "report" / "languages_parallel.md").read_text().count("| phonemes |") == len(asterisk.LANGUAGES)


def test_decoded_quality_of_real_recordings(demo):
    corpus = AudioFolder(str(demo / "corpus" / "asterisk"), name="asterisk")
    bins = demo / "bins" / "asterisk" / "codec2_700c"
    score_bins(corpus, build("codec2_700c"), bins, max_utterances=4)
    quality = read_quality(bins)
    assert 0.2 < quality["stoi"] < 0.95 and quality["si_sdr"] < 10  # 700 bit/s: intelligible, far from the wave
