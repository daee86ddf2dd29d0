"""The training domain of a run: every way an image can lie outside it, each named."""

import numpy as np
import pytest

from cimp.domain import Domain, brightness

# a run trained on simulated uint16 frames of 48-64 px at 300 kV, dwell times 1-10 us
DOMAIN = Domain(
    origins=["simulated"],
    dtypes=["uint16"],
    sizes=(48, 64),
    brightness=(0.2, 0.5),
    fields={"dwell_time": (1.0, 10.0), "beam_energy": (300.0, 300.0)},
)
INSIDE = {"dwell_time": 3.0, "beam_energy": 300.0}


def check(metadata=INSIDE, source="simulated", dtype="uint16", shape=(64, 64), level=0.3):
    return DOMAIN.check(metadata, source, dtype, shape, level=level)


def test_an_image_like_the_training_ones_is_inside():
    assert check() == {}
    assert check({}) == {}  # a field the file does not record is not held against it


@pytest.mark.parametrize(
    ("dwell", "inside"),
    # log10 span 1: the margin is 0.02 decades either side (0.955-10.47 us)
    [(1.0, True), (0.96, True), (0.95, False), (10.4, True), (10.5, False), (100.0, False)],
)
def test_a_field_outside_its_training_range_by_more_than_the_margin_is_named(dwell, inside):
    notes = check({**INSIDE, "dwell_time": dwell})
    assert (notes == {}) == inside
    if not inside:
        expected = f"dwell_time {dwell:.4g} us lies outside the training range 1-10 us"
        assert notes == {"dwell_time": expected}


def test_another_beam_energy_is_out_of_domain_even_close_by():
    notes = check({**INSIDE, "beam_energy": 299.0})
    assert notes == {"beam_energy": "beam_energy 299 kV lies outside the training range 300-300 kV"}
    assert check({**INSIDE, "beam_energy": 300.0 * (1 + 1e-12)}) == {}  # rounding is no reason


def test_origin_dtype_frame_size_and_brightness_are_each_named():
    assert list(check(source="real")) == ["origin"]
    assert "trained on simulated images only" in check(source="real")["origin"]
    assert list(check(dtype="float32")) == ["dtype"]
    assert check(shape=(24, 24)) == {} and check(shape=(128, 128)) == {}  # within a factor 2
    assert list(check(shape=(23, 64))) == ["frame size"] == list(check(shape=(64, 129)))
    assert check(level=0.1) == {} and check(level=1.0) == {}  # a factor 2 either way
    assert list(check(level=0.099)) == ["brightness"] == list(check(level=1.01))
    assert len(check({"dwell_time": 50.0}, "real", "float32", (512, 512), 5.0)) == 5


def test_brightness_is_the_999th_percentile_in_model_units():
    ramp = np.arange(60_000, dtype=np.uint16).reshape(240, 250)  # 0.1 % of it above 59,940
    assert brightness(ramp, 1 / 65535) == pytest.approx(59_940 / 65535, rel=2e-3)
    assert brightness(ramp, 2.0) == pytest.approx(2 * 59_940, rel=2e-3)


def test_a_saved_domain_loads_the_same_and_describes_itself(tmp_path):
    DOMAIN.save(tmp_path / "domain.json")
    again = Domain.load(tmp_path / "domain.json")
    assert again == DOMAIN
    assert again.describe() == "simulated images (uint16, 48-64 px) at 300 kV"
