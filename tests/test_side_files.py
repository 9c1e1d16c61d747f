"""The side files' readers (calibration.json, compress.json, scaling.json): None or the record when there is one,
one clear error naming a damaged file and its fix."""

import json

import pytest

from audiobits.compress.compress_summary import COMPRESS_FILE, read_compress_summary
from audiobits.errors import AudiobitsError
from audiobits.scaling.calibration_file import CALIBRATION_FILE, calibration_slack
from audiobits.scaling.scaling_file import SCALING_FILE, read_scaling


def test_calibration_slack_is_none_without_the_file_and_names_a_file_without_the_slack(tmp_path):
    assert calibration_slack(tmp_path) is None
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"slack_bits_per_token": 0.25}))
    assert calibration_slack(tmp_path) == 0.25
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"slack": 0.25}))
    with pytest.raises(AudiobitsError, match=f"{tmp_path / CALIBRATION_FILE}: lacks the field "
                                             "`slack_bits_per_token`.*audiobits calibrate --like"):
        calibration_slack(tmp_path)


def test_compress_summary_is_none_without_the_file_and_names_one_that_is_no_object(tmp_path):
    assert read_compress_summary(tmp_path) is None
    (tmp_path / COMPRESS_FILE).write_text(json.dumps({"compressed_bits_per_sec": 12.5}))
    assert read_compress_summary(tmp_path) == {"compressed_bits_per_sec": 12.5}
    (tmp_path / COMPRESS_FILE).write_text("[]")
    with pytest.raises(AudiobitsError, match=f"{tmp_path / COMPRESS_FILE}: holds a JSON list.*audiobits compress"):
        read_compress_summary(tmp_path)


def test_scaling_records_are_read_from_the_file_or_its_folder_and_a_foreign_file_is_named(tmp_path):
    with pytest.raises(AudiobitsError, match=f"{tmp_path / SCALING_FILE} not found"):
        read_scaling(tmp_path)
    (tmp_path / SCALING_FILE).write_text(json.dumps([{"representation": "mimi", "floor_bits_per_sec": 300.0}]))
    assert read_scaling(tmp_path) == read_scaling(tmp_path / SCALING_FILE) == [
        {"representation": "mimi", "floor_bits_per_sec": 300.0}]
    (tmp_path / SCALING_FILE).write_text(json.dumps({"representation": "mimi"}))
    with pytest.raises(AudiobitsError, match="not the list of records .*audiobits scaling"):
        read_scaling(tmp_path)
