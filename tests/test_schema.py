import json

import numpy as np
import pandas as pd
import pytest

from cimp import schema


def test_core_fields_are_the_papers_seven_in_canonical_units():
    assert schema.CORE_NAMES == (
        "pixel_size",
        "dwell_time",
        "convergence_angle",
        "beam_current",
        "detector_gain",
        "detector_offset",
        "inner_collection_angle",
    )
    units = {f.name: f.unit for f in schema.CORE_FIELDS}
    assert units["pixel_size"] == "nm" and units["dwell_time"] == "us"
    assert units["beam_current"] == "pA" and units["convergence_angle"] == "mrad"
    logs = {f.name for f in schema.CORE_FIELDS if f.log}
    assert logs == {"pixel_size", "dwell_time", "beam_current"}


@pytest.mark.parametrize(
    ("name", "value", "unit", "expected"),
    [
        ("dwell_time", 2e-6, "s", 2.0),
        ("pixel_size", 1.5, "Å", 0.15),
        ("pixel_size", 3e-10, "m", 0.3),
        ("beam_current", 0.05, "nA", 50.0),
        ("convergence_angle", 0.0215, "rad", 21.5),
        ("beam_energy", 300000.0, "V", 300.0),
        ("camera_length", 0.091, "m", 91.0),
        ("dwell_time", 4.0, None, 4.0),
    ],
)
def test_units_convert_to_canonical(name, value, unit, expected):
    assert schema.to_canonical(name, value, unit) == pytest.approx(expected)


def test_bad_units_and_names_fail_clearly():
    with pytest.raises(ValueError, match="cannot convert"):
        schema.to_canonical("dwell_time", 1.0, "nm")
    with pytest.raises(KeyError, match="unknown metadata field 'dwel_time'"):
        schema.field("dwel_time")


def _table():
    return pd.DataFrame(
        {
            "pixel_size": [0.01, 0.1, 1.0, np.nan],
            "dwell_time": [1.0, 2.0, np.nan, 8.0],
            "detector_gain": [30.0, 40.0, 500.0, 600.0],
            "instrument": ["A", "A", "B", "B"],
            "detector": ["HAADF", None, "HAADF", "DF4"],
        }
    )


def test_normalizer_zscores_log_fields_and_keeps_missing_missing():
    table = _table()
    norm = schema.Normalizer.fit(table, ["pixel_size", "dwell_time", "detector_gain"])
    z, present = norm.encode(table)
    # pixel size is z-scored in log10: decades 0.01, 0.1, 1 -> -1.22, 0, 1.22
    assert z[:3, 0] == pytest.approx([-np.sqrt(1.5), 0.0, np.sqrt(1.5)], abs=1e-6)
    assert present[:, 0].tolist() == [True, True, True, False]
    assert z[3, 0] == 0.0 and present[2, 1] == np.False_
    back = norm.decode(z, table["instrument"])
    np.testing.assert_allclose(back["pixel_size"][:3], table["pixel_size"][:3], rtol=1e-6)
    np.testing.assert_allclose(back["detector_gain"], table["detector_gain"], rtol=1e-6)


def test_vendor_gain_is_normalised_per_instrument():
    norm = schema.Normalizer.fit(_table(), ["detector_gain"])
    z, _ = norm.encode(_table())
    # each instrument's two gains become -1 and +1, although their scales differ 15-fold
    assert z[:, 0] == pytest.approx([-1.0, 1.0, -1.0, 1.0])
    unseen = pd.DataFrame({"detector_gain": [292.5], "instrument": ["C"]})
    z_unseen, present = norm.encode(unseen)
    assert present[0, 0] and z_unseen[0, 0] == pytest.approx(0.0, abs=1e-6)  # global mean 292.5


def test_normalizer_survives_a_json_round_trip(tmp_path):
    norm = schema.Normalizer.fit(_table(), ["pixel_size", "detector_gain"])
    norm.save(tmp_path / "norm.json")
    json.loads((tmp_path / "norm.json").read_text())  # plain JSON a person can read
    again = schema.Normalizer.load(tmp_path / "norm.json")
    assert again == norm
    np.testing.assert_array_equal(again.encode(_table())[0], norm.encode(_table())[0])


def test_categories_code_unknown_and_missing_as_zero():
    norm = schema.Normalizer.fit(_table(), [])
    codes = norm.encode_categories(pd.DataFrame({"detector": ["DF4", None, "BF"]}))
    assert norm.categories["detector"] == ["DF4", "HAADF"]
    assert codes["detector"].tolist() == [1, 0, 0]


def test_a_field_absent_from_the_table_is_kept_and_always_missing():
    norm = schema.Normalizer.fit(_table(), ["pixel_size", "beam_current"])
    assert norm.names == ("pixel_size", "beam_current")
    z, present = norm.encode(_table())
    assert not present[:, 1].any() and (z[:, 1] == 0).all()
