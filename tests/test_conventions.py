"""Per-entry conventions declared in suite files: counting (``count``) and metric-profile overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.complexity import measure_complexity
from harness.measure import MeasureContext
from harness.suite import SuiteError, load_suite

SUITE = """
id = "conv_suite"
paper = "synthetic"
table = "Table 0"

[[entries]]
id = "srcnn_x4"
row = "SRCNN"
model = "srcnn"
obtain = "train"
scale = 4
train = {{ recipe = "default" }}
{extra}
paper = [ {{ metric = "params", value = 57000, printed = "57K" }} ]
"""


def suite_with(tmp_path: Path, extra: str):
    p = tmp_path / "conv_suite.toml"
    p.write_text(SUITE.format(extra=extra))
    return load_suite(p)


def params_of(suite) -> float:
    e = suite.entries[0]
    ctx = MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=None, weights_dir=None)
    return next(m.value for m in measure_complexity(ctx, e) if m.metric == "params")


def test_count_convention_picks_the_value(tmp_path):
    # SRCNN 9-5-5 kernels: 1·64·9·9 + 64·32·5·5 + 32·1·5·5 = 57,184; biases add 64 + 32 + 1
    assert params_of(suite_with(tmp_path, 'count = { params = "weights-only" }')) == 57_184
    assert params_of(suite_with(tmp_path, "")) == 57_184 + 97


def test_unknown_count_convention_is_named(tmp_path):
    with pytest.raises(SuiteError, match=r"count\.params"):
        suite_with(tmp_path, 'count = { params = "some" }')


def test_entry_profile_override_applies_and_is_validated(tmp_path):
    suite = suite_with(tmp_path, 'profile = { grey_y = "bt601" }')
    assert suite.entry_profile(suite.entries[0]).grey_y == "bt601"
    assert suite.metric_profile.grey_y == "identity"
    assert suite.entry_profile(suite.entries[0]).digest() != suite.metric_profile.digest()
    with pytest.raises(SuiteError, match=r"invalid profile override"):
        suite_with(tmp_path, 'profile = { grey_y = "purple" }')
