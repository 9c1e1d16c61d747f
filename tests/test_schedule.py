"""The WSD schedule: linear warmup 5 %, constant 85 %, cosine decay 10 % to min_lr."""

import pytest

from audiobits.training.schedule import wsd_lr


def test_wsd_shape():
    total, top, bottom = 1000, 3e-4, 3e-5
    lrs = [wsd_lr(s, total, top, bottom) for s in range(total)]
    assert lrs[0] == pytest.approx(top / 50)
    assert lrs[49] == pytest.approx(top)  # warmup ends after 5 %
    assert all(b >= a for a, b in zip(lrs[:50], lrs[1:50]))
    assert set(lrs[50:900]) == {top}  # stable 85 %
    decay = lrs[900:]
    assert all(b <= a for a, b in zip(decay, decay[1:]))
    assert decay[-1] == pytest.approx(bottom)
    assert lrs[949] == pytest.approx((top + bottom) / 2)  # cosine midpoint: 50 of 100 decay steps


def test_wsd_tiny_run_still_warms_and_decays():
    lrs = [wsd_lr(s, 3, 1.0, 0.1) for s in range(3)]
    assert lrs[-1] == pytest.approx(0.1) and max(lrs) == 1.0


def test_wsd_rejects_empty_schedule():
    with pytest.raises(ValueError):
        wsd_lr(0, 0, 1.0, 0.1)
