"""The Python API: arrays and rosettasciio-style signals in, the command line's answers out."""

import inspect

import numpy as np
import pandas as pd
import pytest

import cimp
from cimp.errors import CimpError


def test_predict_takes_an_array_a_signal_dict_and_a_file(trained):
    run, dataset, emb = trained
    store = cimp.Store(dataset)
    row = emb.table.iloc[0]
    image = store.image(row["image_id"])
    signal = {
        "data": image,
        "axes": [
            {"name": "y", "size": image.shape[0], "scale": row["pixel_size"], "units": "nm"},
            {"name": "x", "size": image.shape[1], "scale": row["pixel_size"], "units": "nm"},
        ],
        "metadata": {"Acquisition_instrument": {"TEM": {"beam_energy": 300.0}}},
        "original_metadata": {},
    }
    from_array = cimp.predict(cimp.Run(run), image, dataset=dataset)
    from_signal = cimp.predict(run, signal, dataset=dataset)
    from_file = cimp.predict(run, row["source"], dataset=dataset)
    assert isinstance(from_array, pd.DataFrame) and len(from_array) == 1
    fields = ["dwell_time", "dwell_time_low", "dwell_time_high", "detector_gain"]
    for table in (from_signal, from_file):  # the same pixels: the same answer
        np.testing.assert_allclose(table[fields].to_numpy(), from_array[fields].to_numpy())
    low, value, high = from_array.loc[0, ["dwell_time_low", "dwell_time", "dwell_time_high"]]
    assert low <= value <= high
    # a bare array is not the run's kind of image in every way the run can tell
    assert any("real image" in note for note in from_array.loc[0, "out_of_domain"])


def test_the_api_says_what_it_cannot_read():
    from cimp.api import records_of

    with pytest.raises(CimpError, match="cannot read a int"):
        records_of(3)
    spectrum = {"data": np.ones(64), "axes": [{"name": "E", "size": 64, "units": "eV"}]}
    with pytest.raises(CimpError):
        records_of(spectrum)


def test_simulate_and_read_are_at_the_top(tmp_path):
    from cimp.simulator.files import write

    acquisition = cimp.simulate(0, 1, 32)
    assert acquisition.image.shape == (32, 32) and acquisition.image.dtype == np.uint16
    write(tmp_path / "one.hspy", acquisition, "s0-1", {})
    (record,) = cimp.read(tmp_path / "one.hspy")
    np.testing.assert_array_equal(record.image, acquisition.image)
    recorded = acquisition.settings.metadata()
    for field in ("pixel_size", "dwell_time", "beam_current", "detector_gain"):
        assert record.metadata[field] == pytest.approx(recorded[field], rel=1e-6), field
    assert cimp.Run.__name__ == "Run" and cimp.Store.__name__ == "Store"
    assert (
        inspect.isfunction(cimp.simulate) and cimp.simulate.__module__ == "cimp.simulator.generate"
    )
    with pytest.raises(AttributeError):
        cimp.no_such_thing  # noqa: B018
