"""scripts/hostile_inputs.py, the generator docs/reliability.md quotes: it has the cases the
threat model asks for, and its harness judges a few of them end to end (in a fresh process,
as the script does) the way the documented run did."""

from collections import Counter

import pytest
from tests.conftest import script_module


@pytest.fixture(scope="module")
def hostile():
    with script_module("hostile_inputs") as module:
        yield module


def test_at_least_300_cases_over_every_reader_and_command(hostile):
    cases = hostile.cases()
    groups = Counter(c.group for c in cases)
    assert len(cases) >= 300
    assert len({(c.group, c.name) for c in cases}) == len(cases)  # each case named once
    for group in ("pickle (hostile)", "csd (HDF5)", "MFN (HDF5)", "native folder",
                  "extract text", "extract audio", "data assemble", "data import",
                  "data synth", "train options", "compare / ablate / tune", "run folders",
                  "predict"):  # fmt: skip
        assert groups[group] >= 7, group


@pytest.mark.parametrize(
    "name", ["os.system", "reconstruct 1e9 objects", "BINBYTES8 64 GB", "deep nesting"]
)
def test_the_harness_accepts_refused_hostile_pickles(hostile, tmp_path, name):
    fx = tmp_path / "fx"
    (fx / "outside").mkdir(parents=True)
    (fx / "outside" / "secret.txt").write_bytes(hostile.SECRET)
    case = next(c for c in hostile.cases() if c.name == name)
    result = hostile.run_case(case, tmp_path / "case", fx)
    assert result.code == 2 and not result.problems, result.problems
    assert not (tmp_path / "case" / "in" / "pwned").exists()


def test_the_harness_flags_a_write_outside_the_output(hostile, tmp_path):
    fx = tmp_path / "fx"
    (fx / "outside").mkdir(parents=True)
    (fx / "outside" / "secret.txt").write_bytes(hostile.SECRET)
    argv = ["data", "synth", "--out", "{in}/elsewhere", "--n-train", "10"]  # not "{out}"
    result = hostile.run_case(hostile.Case("test", "stray", argv, None, "ok"), tmp_path / "c", fx)
    assert result.code == 0
    assert any("changed outside the output" in p for p in result.problems), result.problems
