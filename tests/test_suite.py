"""Suite files: the real ones load; malformed ones fail with a message naming file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.suite import SuiteError, list_suite_ids, load_suite

GOOD = """
id = "{id}"
paper = "A. Author, A Paper"
table = "Table 1"

[[entries]]
id = "rb"
row = "RB"
model = "rb"
obtain = "compute"
paper = [ {{ metric = "uae_n", value = 73856, printed = "73,856" }} ]
"""


def write(tmp_path: Path, body: str, name: str = "t_suite") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(textwrap.dedent(body).format(id=name) if "{id}" in body else textwrap.dedent(body))
    return p


@pytest.mark.parametrize("suite_id", list_suite_ids())
def test_every_suite_file_loads(suite_id):
    suite = load_suite(suite_id)
    assert suite.entries, f"{suite_id} has no entries"
    for e in suite.entries:
        for c in e.paper:
            assert c.printed.strip(), f"{suite_id}/{e.id}/{c.metric}: empty printed string"


def test_good_suite_loads(tmp_path):
    suite = load_suite(write(tmp_path, GOOD))
    assert suite.entry("rb").paper[0].value == 73856


def test_bad_toml_names_file_and_line(tmp_path):
    p = write(tmp_path, GOOD.replace('table = "Table 1"', 'table = "Table 1'))
    with pytest.raises(SuiteError, match=r"t_suite\.toml: invalid TOML.*line"):
        load_suite(p)


def test_unknown_field_is_named(tmp_path):
    p = write(tmp_path, GOOD.replace('obtain = "compute"', 'obtain = "compute"\ncolour = "blue"'))
    with pytest.raises(SuiteError, match=r"(?s)t_suite\.toml.*entries\[0\] \(id='rb'\)\.colour.*Extra inputs"):
        load_suite(p)


def test_missing_paper_value_is_named(tmp_path):
    p = write(tmp_path, GOOD.replace('value = 73856, ', ''))
    with pytest.raises(SuiteError, match=r"entries\[0\] \(id='rb'\)\.paper\[0\].*needs 'value'"):
        load_suite(p)


def test_paper_value_of_wrong_type_is_named(tmp_path):
    p = write(tmp_path, GOOD.replace('value = 73856', 'value = "seventy"'))
    with pytest.raises(SuiteError, match=r"paper\[0\]\.value"):
        load_suite(p)


def test_printed_dash_means_no_value(tmp_path):
    p = write(tmp_path, GOOD.replace('value = 73856, printed = "73,856"', 'printed = "-"'))
    assert load_suite(p).entry("rb").paper[0].value is None


def test_unknown_model_is_named(tmp_path):
    p = write(tmp_path, GOOD.replace('model = "rb"', 'model = "no_such_net"'))
    with pytest.raises(SuiteError, match=r"entries\[0\] \(id='rb'\)\.model: unknown model 'no_such_net'; known models:"):
        load_suite(p)


def test_unknown_metric_is_named(tmp_path):
    p = write(tmp_path, GOOD.replace('metric = "uae_n"', 'metric = "psnr_z"'))
    with pytest.raises(SuiteError, match=r"unknown metric 'psnr_z'"):
        load_suite(p)


def test_paper_only_needs_reason(tmp_path):
    p = write(tmp_path, GOOD.replace('obtain = "compute"', 'obtain = "paper-only"'))
    with pytest.raises(SuiteError, match=r"entries\[0\].*paper-only entry needs 'reason'"):
        load_suite(p)


def test_load_weights_source_is_checked(tmp_path):
    p = write(tmp_path, GOOD.replace('obtain = "compute"', 'obtain = "load"\nweights = "somewhere/else.pth"'))
    with pytest.raises(SuiteError, match=r"weights.*zoo"):
        load_suite(p)


def test_id_must_match_file_name(tmp_path):
    p = write(tmp_path, GOOD.format(id="other_name"), name="t_suite")
    with pytest.raises(SuiteError, match=r"field id = 'other_name' must equal the file name 't_suite'"):
        load_suite(p)


def test_duplicate_entry_ids(tmp_path):
    body = GOOD + GOOD[GOOD.index("[[entries]]"):]
    with pytest.raises(SuiteError, match=r"entry id 'rb' appears twice"):
        load_suite(write(tmp_path, body))


def test_unknown_profile(tmp_path):
    p = write(tmp_path, GOOD + '\n[profile]\nname = "nonesuch"\n')
    with pytest.raises(SuiteError, match=r"profile.*nonesuch"):
        load_suite(p)


def test_unknown_suite_id_lists_known():
    with pytest.raises(SuiteError, match=r"no such suite file; known suites: .*uae_table2"):
        load_suite("no_such_suite")


TRAINED = GOOD + """
[[entries]]
id = "fsrcnn_x4"
row = "FSRCNN"
model = "fsrcnn"
obtain = "train"
scale = 4
train = {{ recipe = "fsrcnn" }}
paper = [ {{ metric = "psnr_y", value = 30.71, printed = "30.71", dataset = "Set5" }} ]
"""


def test_a_table_sizes_its_short_budget_for_every_trained_row(tmp_path):
    """[budgets.short]: the table's own iterations / batch / patch reach every trained row's config (and its
    run key); smoke and paper are untouched; checkpoints stay at least every tenth of the run."""
    from harness.training.api import resolve_entry

    sized = TRAINED + '\n[budgets.short]\niterations = 300\nbatch = 8\nhr_patch = 48\nnote = "measured: 1 s/step"\n'
    entry = load_suite(write(tmp_path, sized)).entry("fsrcnn_x4")
    (tmp_path / "p").mkdir()
    plain = load_suite(write(tmp_path / "p", TRAINED)).entry("fsrcnn_x4")
    _, budget, cfg = resolve_entry(entry, 4, "short")
    assert (cfg.iterations, cfg.batch, cfg.hr_patch, cfg.checkpoint_every) == (300, 8, 48, 30)
    assert "sized for this table ([budgets.short]" in budget.description
    assert cfg.hash() != resolve_entry(plain, 4, "short")[2].hash()
    assert resolve_entry(entry, 4, "smoke")[2] == resolve_entry(plain, 4, "smoke")[2]
    assert load_suite(write(tmp_path, sized)).entry("rb").budget_size("short") is None  # not a trained row


@pytest.mark.parametrize("bad, match", [
    ('[budgets.paper]\niterations = 3\nbatch = 8\nhr_patch = 48\nnote = "x"\n', r"budgets\.paper.*short"),
    ('[budgets.short]\niterations = 0\nbatch = 8\nhr_patch = 48\nnote = "x"\n', r"budgets\.short\.iterations.*greater than 0"),
    ('[budgets.short]\niterations = 300\nbatch = 8\nhr_patch = 48\n', r"budgets\.short\.note.*Field required"),
])
def test_a_malformed_budget_size_is_named(tmp_path, bad, match):
    with pytest.raises(SuiteError, match=rf"(?s)t_suite\.toml.*{match}"):
        load_suite(write(tmp_path, TRAINED + "\n" + bad))


def test_a_budget_size_may_reduce_the_model(tmp_path):
    """[budgets.short].kwargs: the declared reduced size reaches the trained row's config, its run key and the
    cells' reason; the entry keeps the paper's size (complexity counts it); smoke is untouched."""
    from harness.training.api import resolve_entry

    size = '\n[budgets.short]\niterations = 300\nbatch = 8\nhr_patch = 48\nnote = "measured"\n'
    base = TRAINED.replace('train = {{ recipe = "fsrcnn" }}', 'kwargs = {{ d = 56, s = 12 }}\ntrain = {{ recipe = "fsrcnn" }}')
    (tmp_path / "p").mkdir()
    plain = load_suite(write(tmp_path / "p", base + size)).entry("fsrcnn_x4")
    entry = load_suite(write(tmp_path, base + size.replace('note', 'kwargs = {{ d = 16 }}\nnote'))).entry("fsrcnn_x4")
    assert entry.kwargs == {"d": 56, "s": 12}
    _, budget, cfg = resolve_entry(entry, 4, "short")
    assert cfg.model_kwargs == {"d": 16, "s": 12}
    assert "the model reduced to d=16 for this budget" in budget.description
    assert cfg.hash() != resolve_entry(plain, 4, "short")[2].hash()
    assert resolve_entry(entry, 4, "smoke")[2].model_kwargs == {"d": 56, "s": 12}


def test_a_reduced_size_the_model_cannot_take_is_named(tmp_path):
    bad = '\n[budgets.short]\niterations = 300\nbatch = 8\nhr_patch = 48\nkwargs = {{ blocks = 4 }}\nnote = "x"\n'
    with pytest.raises(SuiteError, match=r"(?s)t_suite\.toml.*budgets\.short\]\.kwargs.*'fsrcnn_x4'.*fsrcnn"):
        load_suite(write(tmp_path, TRAINED + bad))


def test_a_row_may_get_its_own_reduced_size(tmp_path):
    """[budgets.short].row_kwargs: a row whose model names its size differently (EDSR's num_blocks next to the
    MxCy nets' blocks) gets its own reduced size instead of the table's; a row it names must be a trained row of
    the suite, and its size must build."""
    from harness.training.api import resolve_entry

    base = TRAINED.replace('train = {{ recipe = "fsrcnn" }}', 'kwargs = {{ d = 56, s = 12 }}\ntrain = {{ recipe = "fsrcnn" }}')
    size = ('\n[budgets.short]\niterations = 300\nbatch = 8\nhr_patch = 48\nkwargs = {{ blocks = 4 }}\n'
            'row_kwargs = {{ fsrcnn_x4 = {{ d = 16 }} }}\nnote = "measured"\n')
    entry = load_suite(write(tmp_path, base + size)).entry("fsrcnn_x4")  # blocks alone would not build fsrcnn
    _, budget, cfg = resolve_entry(entry, 4, "short")
    assert cfg.model_kwargs == {"d": 16, "s": 12}
    assert "the model reduced to d=16 for this budget" in budget.description
    with pytest.raises(SuiteError, match=r"(?s)t_suite\.toml.*row_kwargs names 'rb', not a trained row.*fsrcnn_x4"):
        load_suite(write(tmp_path, base + size.replace("fsrcnn_x4 = ", "rb = ")))
    with pytest.raises(SuiteError, match=r"(?s)t_suite\.toml.*budgets\.short\]\.row_kwargs\.fsrcnn_x4.*cannot be built"):
        load_suite(write(tmp_path, base + size.replace("d = 16", "depth = 16")))


def test_repsr_table4_reduces_edsr_by_its_own_size_and_shares_table5_runs():
    """Table 4's short budget: the MxCy rows at M4C16, EDSR at 4 blocks × 16 channels (row_kwargs), and the RepSR
    row and its seed repeat the same runs as Table 5's default row and its repeat."""
    from harness.training.api import resolve_entry

    t4, t5 = load_suite("repsr_table4"), load_suite("repsr_table5")

    def cfg(suite, entry):
        return resolve_entry(suite.entry(entry), 4, "short")[2]

    assert cfg(t4, "edsr").model_kwargs == {"num_blocks": 4, "channels": 16}
    assert cfg(t4, "ecbsr").model_kwargs == {"blocks": 4, "channels": 16}
    assert cfg(t4, "repsr").hash() == cfg(t5, "v1_repsr").hash()
    assert cfg(t4, "repsr_seed1").hash() == cfg(t5, "v1_repsr_seed1").hash() != cfg(t4, "repsr").hash()


def test_repsr_ablation_tables_share_their_default_row_run():
    """Tables 5-7 declare one reduced size, so their default row (RepSR; width 2; 2 branches) and its seed-1
    repeat are one run each, and every other row is a run of its own."""
    from harness.training.api import resolve_entry

    def key(suite, entry):
        return resolve_entry(load_suite(suite).entry(entry), 4, "short")[2].hash()

    default = {key("repsr_table5", "v1_repsr"), key("repsr_table6", "width_2"), key("repsr_table7", "branches_2")}
    seed1 = {key("repsr_table5", "v1_repsr_seed1"), key("repsr_table6", "width_2_seed1"),
             key("repsr_table7", "branches_2_seed1")}
    assert len(default) == 1 and len(seed1) == 1 and default != seed1
    others = {key(s, e.id) for s in ("repsr_table5", "repsr_table6", "repsr_table7")
              for e in load_suite(s).entries if e.obtain == "train" and "seed1" not in e.id}
    assert len(others) == 12  # 6 + 4 + 4 rows, two of which are Table 5's default row
    assert resolve_entry(load_suite("repsr_table5").entry("v1_repsr"), 4, "short")[2].model_kwargs == \
        {"blocks": 4, "channels": 16}


def test_stea_ablation_tables_share_their_common_rows_and_differ_in_the_ablated_module():
    """STEA Tables III, VI and VII: one reduced LabNet size; Table III's STEA + DWC(V) row is Table VII's 'STEA ✓ |
    MLFR ✗' run, Table VI's MLFR{6,4,2} row is Table VII's full LabNet run (and their seed-1 repeats likewise);
    the 7 distinct rows differ only in the module each table ablates, and are scored under Gaussian8."""
    from harness.training.api import resolve_entry

    def cfg(suite, entry):
        return resolve_entry(load_suite(suite).entry(entry), 4, "short")[2]

    assert cfg("stea_table3", "dwcv_stea_x4").hash() == cfg("stea_table7", "stea_x4").hash()
    assert cfg("stea_table6", "mlfr_d6_d4_d2_x4").hash() == cfg("stea_table7", "stea_mlfr_x4").hash()
    assert cfg("stea_table3", "dwcv_stea_x4_seed1").hash() == cfg("stea_table7", "stea_x4_seed1").hash()
    assert cfg("stea_table6", "mlfr_d6_d4_d2_x4_seed1").hash() == cfg("stea_table7", "stea_mlfr_x4_seed1").hash()
    rows = {(s, e.id) for s in ("stea_table3", "stea_table6", "stea_table7") for e in load_suite(s).entries
            if e.obtain == "train" and "seed1" not in e.id}
    assert len({cfg(s, e).hash() for s, e in rows}) == 7
    full = cfg("stea_table7", "stea_mlfr_x4")
    assert full.model_kwargs["channels"] == 16 and full.model_kwargs["blocks"] == [1, 1, 1, 1, 1, 1]
    assert full.degradation == "random_gaussian_blur" and full.dataset == "T91" and full.iterations == 2000
    ablated = {"ftea_x4": {"attention": "ftea", "dwc_v": False, "mlfr": False},
               "dwcv_ftea_x4": {"attention": "ftea", "mlfr": False}, "dwcv_stea_x4": {"mlfr": False}}
    for entry, diff in ablated.items():
        assert cfg("stea_table3", entry).model_kwargs == {**full.model_kwargs, **diff}
    for entry, dil in {"mlfr_d6_x4": [6], "mlfr_d6_d4_x4": [6, 4]}.items():
        assert cfg("stea_table6", entry).model_kwargs == {**full.model_kwargs, "mlfr": dil}
    assert cfg("stea_table7", "mlfr_x4").model_kwargs == {**full.model_kwargs, "attention": "none"}
    for s in ("stea_table3", "stea_table6", "stea_table7"):
        for e in load_suite(s).entries:
            assert (e.degradation, e.degradation_params) == ("gaussian8", {"downsample": "matlab", "pad": "reflect"})
