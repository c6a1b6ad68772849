"""Claims (harness/claims.py): verdicts on printed and measured numbers, noise bands, malformed declarations."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from harness.claims import evaluate_claims, half_unit
from harness.suite import SuiteError, list_suite_ids, load_suite

PAPERS = Path(__file__).resolve().parent.parent.parent / "shared" / "papers"

SUITE = """
id = "{id}"
paper = "A. Author, A Paper"
table = "Table 1"

[[entries]]
id = "new"
row = "New"
model = "bicubic"
obtain = "compute"
scale = 4
paper = [
  {{ metric = "psnr_y", value = 23.52, printed = "23.52", dataset = "Set5" }},
  {{ metric = "psnr_y", value = 30.00, printed = "30.00", dataset = "Set14" }},
]

[[entries]]
id = "old"
row = "Old"
model = "bicubic"
obtain = "compute"
scale = 4
paper = [
  {{ metric = "psnr_y", value = 23.53, printed = "23.53", dataset = "Set5" }},
  {{ metric = "psnr_y", value = 29.93, printed = "29.93", dataset = "Set14" }},
]

[[entries]]
id = "net_a"
row = "Net A"
model = "bicubic"
obtain = "train"
scale = 4
train = {{ recipe = "default", dataset = "T91" }}
paper = [ {{ metric = "psnr_y", value = 28.10, printed = "28.10", dataset = "Set14" }} ]

[[entries]]
id = "net_b"
row = "Net B"
model = "bicubic"
obtain = "train"
scale = 4
train = {{ recipe = "default", dataset = "T91" }}
paper = [ {{ metric = "psnr_y", value = 28.00, printed = "28.00", dataset = "Set14" }} ]

[[entries]]
id = "net_b_seed1"
row = "Net B (seed 1)"
model = "bicubic"
obtain = "train"
scale = 4
train = {{ recipe = "default", dataset = "T91" }}
datasets = ["Set5", "Set14"]

[[claims]]
id = "new_beats_old"
kind = "ordering"
statement = "New consistently beats Old."
source = "000 L315"
metric = "psnr_y"
a = "new"
b = "old"

[[claims]]
id = "gain_007"
kind = "text"
quantity = "difference"
statement = "New improves on Old by 0.07 dB on Set14."
source = "000 L25"
metric = "psnr_y"
datasets = ["Set14"]
a = "new"
b = "old"
value = 0.07
printed = "0.07 dB"

[[claims]]
id = "a_beats_b"
kind = "ordering"
statement = "Net A beats Net B."
source = "003 L213"
metric = "psnr_y"
a = "net_a"
b = "net_b"
"""


def write(tmp_path: Path, body: str = SUITE, name: str = "t_claims") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(textwrap.dedent(body).format(id=name))
    return p


def cell(entry: str, value: float, *, dataset: str = "Set14", status: str = "match", budget: str = "smoke",
         run: str = "r1", extra: dict | None = None) -> dict:
    return {"entry": entry, "row": entry, "dataset": dataset, "scale": 4, "metric": "psnr_y", "paper": None,
            "measured": value, "status": status, "budget": budget, "run": run, "extra": extra or {}}


def by_id(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in records}


@pytest.fixture()
def suite(tmp_path):
    return load_suite(write(tmp_path), check_models=False)


# ------------------------------------------------------------------ paper verdicts

def test_paper_verdict_uses_printed_numbers(suite):
    r = by_id(evaluate_claims(suite, []))
    # 23.52 < 23.53 on Set5: "consistently beats" fails on the paper's own numbers
    assert r["new_beats_old"]["paper_verdict"] == "fails"
    assert "Set5" in r["new_beats_old"]["paper_detail"] and "-0.01" in r["new_beats_old"]["paper_detail"]
    # 30.00 − 29.93 = 0.07, as the sentence states
    assert r["gain_007"]["paper_verdict"] == "holds"
    assert r["a_beats_b"]["paper_verdict"] == "holds"


def test_text_claim_fails_when_the_table_disagrees(tmp_path):
    s = load_suite(write(tmp_path, SUITE.replace("value = 0.07\nprinted = \"0.07 dB\"",
                                                 "value = 0.83\nprinted = \"0.83 dB\"")), check_models=False)
    assert by_id(evaluate_claims(s, []))["gain_007"]["paper_verdict"] == "fails"


def test_real_crb_table4_claim_is_contradicted_by_its_own_table():
    s = load_suite("crb_table4", check_models=False)
    r = by_id(evaluate_claims(s, []))["crb_highest_psnr"]
    assert r["paper_verdict"] == "fails"
    assert "edsr_rb_x4 Urban100 ×4" in r["paper_detail"]
    assert r["verdict"] == "not-run" and r["needs"]


# ------------------------------------------------------------------ measured verdicts

def test_measured_claim_holds_beyond_the_noise_band(suite):
    cells = [cell("new", 30.10), cell("old", 30.00), cell("new", 24.0, dataset="Set5"), cell("old", 23.9, dataset="Set5")]
    r = by_id(evaluate_claims(suite, cells))["new_beats_old"]
    assert r["verdict"] == "holds"
    assert r["noise"]["seeded"] is False and "catalog band" in r["noise"]["source"]
    assert {c["entry"] for c in r["cells"]} == {"new", "old"} and r["runs"] == ["r1"]
    json.dumps(r)  # the record goes into results/<suite>.json


def test_measured_claim_fails(suite):
    cells = [cell("new", 29.50), cell("old", 30.00), cell("new", 24.0, dataset="Set5"), cell("old", 23.9, dataset="Set5")]
    r = by_id(evaluate_claims(suite, cells))["new_beats_old"]
    assert r["verdict"] == "fails"
    assert "Set14" in r["detail"]


def test_gap_inside_the_catalog_band_is_inconclusive(suite):
    # 0.02 dB gap; each value carries the PSNR match band 0.018 dB → the gap's band is 0.036
    cells = [cell("new", 30.02), cell("old", 30.00), cell("new", 24.0, dataset="Set5"), cell("old", 23.9, dataset="Set5")]
    assert by_id(evaluate_claims(suite, cells))["new_beats_old"]["verdict"] == "inconclusive"


def test_seed_spread_makes_a_trained_gap_inconclusive(suite):
    cells = [cell("net_a", 27.10, budget="short", extra={"seed_values": [27.00, 27.20]}),
             cell("net_b", 27.00, budget="short", extra={"seed_values": [26.95, 27.05]})]
    r = by_id(evaluate_claims(suite, cells))["a_beats_b"]
    assert r["verdict"] == "inconclusive"
    assert r["noise"]["seeded"] is True
    assert r["noise"]["spreads"]["net_a Set14 ×4"] == pytest.approx(0.20)
    assert r["budget"] == "short"


def test_seed_spread_small_enough_holds_and_repeats_rows_count_as_seeds(tmp_path):
    body = SUITE + '\n[[claims]]\nid = "a_beats_b_rep"\nkind = "ordering"\nstatement = "A beats B."\n' \
                   'source = "003 L213"\nmetric = "psnr_y"\na = "net_a"\nb = "net_b"\n' \
                   'repeats = {{ net_b = ["net_b_seed1"] }}\n'
    s = load_suite(write(tmp_path, body), check_models=False)
    cells = [cell("net_a", 27.50, budget="short", extra={"seed_values": [27.49, 27.51]}),
             cell("net_b", 27.00, budget="short"), cell("net_b_seed1", 27.04, budget="short")]
    r = by_id(evaluate_claims(s, cells))["a_beats_b_rep"]
    assert r["verdict"] == "holds"
    assert r["noise"]["spreads"]["net_b Set14 ×4"] == pytest.approx(0.04)


def test_a_row_the_table_does_not_print_is_compared_on_the_columns_it_is_scored_on(tmp_path):
    """A trained-here row with no printed cell (a model the table lacks) takes the printed row's columns that
    it is scored on (its ``datasets``): net_b_seed1 scores Set5 and Set14, net_b prints only Set14."""
    body = SUITE + '\n[[claims]]\nid = "unprinted_below_b"\nkind = "ordering"\nstatement = "X is below B."\n' \
                   'source = "003 L213"\nmetric = "psnr_y"\na = "net_b_seed1"\nb = "net_b"\nop = "<"\n'
    s = load_suite(write(tmp_path, body), check_models=False)
    cells = [cell("net_b_seed1", 26.50, budget="short"), cell("net_b", 27.00, budget="short"),
             cell("net_b_seed1", 29.00, dataset="Set5", budget="short")]
    r = by_id(evaluate_claims(s, cells))["unprinted_below_b"]
    assert r["verdict"] == "holds"
    assert r["paper_verdict"] == "unchecked"
    assert {c["dataset"] for c in r["cells"]} == {"Set14"}  # Set5 is not a column: net_b does not print it
    bad = body.replace('a = "net_b_seed1"\nb = "net_b"', 'a = "net_b_seed1"\nb = "new"')  # scores no printed col
    with pytest.raises(SuiteError, match=r"unprinted_below_b.*share no column"):
        load_suite(write(tmp_path, bad.replace('datasets = ["Set5", "Set14"]', 'datasets = ["B100"]')),
                   check_models=False)


@pytest.mark.parametrize(("values", "verdict"), [
    ((27.00, 27.30, 27.33), "holds"),          # a clear rise, then no fall beyond the saturation
    ((27.00, 27.02, 26.80), "fails"),          # the rise inside the noise, then a fall beyond the saturation
    ((27.00, 27.02, 27.03), "inconclusive"),   # every step inside the noise
    ((27.00, 27.30, 27.00), "fails"),          # a clear rise, then a clear fall
])
def test_a_saturating_trend_holds_fails_or_is_inside_the_noise(tmp_path, values, verdict):
    """``trend`` with ``saturates``: it must rise once and then not fall by more than ``saturation``; a later
    fall beyond it fails the claim even when the first step is inside the noise (RepSR Table 7's reading)."""
    body = SUITE + '\n[[claims]]\nid = "more_is_better"\nkind = "trend"\nstatement = "More helps, then saturates."\n' \
                   'source = "003 L213"\nmetric = "psnr_y"\nsequence = ["net_b", "net_a", "old"]\n' \
                   'datasets = ["Set14"]\nsaturates = true\nsaturation = 0.02\n'
    s = load_suite(write(tmp_path, body), check_models=False)
    cells = [cell(e, v, budget="short", extra={"seed_values": [v - 0.01, v + 0.01]})
             for e, v in zip(("net_b", "net_a", "old"), values)]
    r = by_id(evaluate_claims(s, cells))["more_is_better"]
    assert r["verdict"] == verdict, r["detail"]


def test_a_trained_row_missing_only_data_is_told_to_get_the_data_not_to_train(suite):
    """A trained row whose unjudged cell lacks its test set (DIV2K here): training it again would not help,
    so the claim's needs name the missing data instead of a reproduce command (tests/test_advice.py)."""
    cells = [cell("net_a", 27.5, budget="short"),
             cell("net_b", None, budget="short", status="missing-data") | {"reason": "Set14: no images in DIR"}]
    r = by_id(evaluate_claims(suite, cells))["a_beats_b"]
    assert r["verdict"] == "not-run"
    assert r["needs"].startswith("net_b: missing-data — Set14: no images") and "reproduce" not in r["needs"]
    cells[1] = cell("net_b", None, budget="smoke", status="not-run") | {"reason": "smoke: Set5 only"}
    assert "python -m harness reproduce t_claims --entries net_b --budget short" in \
        by_id(evaluate_claims(suite, cells))["a_beats_b"]["needs"]


def test_trained_rows_without_seeds_ask_for_a_second_seed(suite):
    cells = [cell("net_a", 27.5, budget="short"), cell("net_b", 27.0, budget="short")]
    r = by_id(evaluate_claims(suite, cells))["a_beats_b"]
    assert r["verdict"] == "holds"
    assert "no repeated seeds" in r["noise"]["source"] and "second seed" in r["needs"]


def test_declared_repeats_not_yet_run_are_named_with_their_command(tmp_path):
    """A claim whose repeat rows are declared but have no qualifying cell (smoke only) asks for those rows to be
    run under the claim's budget, not for repeats to be declared."""
    body = SUITE + '\n[[claims]]\nid = "a_beats_b_rep"\nkind = "ordering"\nstatement = "A beats B."\n' \
                   'source = "003 L213"\nmetric = "psnr_y"\na = "net_a"\nb = "net_b"\n' \
                   'repeats = {{ net_b = ["net_b_seed1"] }}\n'
    s = load_suite(write(tmp_path, body), check_models=False)
    cells = [cell("net_a", 27.5, budget="short"), cell("net_b", 27.0, budget="short"),
             cell("net_b_seed1", 20.0, budget="smoke")]
    needs = by_id(evaluate_claims(s, cells))["a_beats_b_rep"]["needs"]
    assert "the declared seed repeats net_b_seed1 measured under short" in needs
    assert "reproduce t_claims --entries net_b_seed1 --budget short" in needs
    assert "a second seed of net_a (declare repeats)" in needs and "of net_b," not in needs


def test_smoke_runs_do_not_qualify_and_one_budget_is_used(suite):
    smoke = [cell("net_a", 27.5, budget="smoke"), cell("net_b", 27.0, budget="smoke")]
    r = by_id(evaluate_claims(suite, smoke))["a_beats_b"]
    assert r["verdict"] == "not-run"
    assert "do not qualify" in r["detail"] and "--budget short" in r["needs"]
    mixed = [cell("net_a", 27.5, budget="short"), cell("net_b", 27.0, budget="paper")]
    assert by_id(evaluate_claims(suite, mixed))["a_beats_b"]["verdict"] == "not-run"


def test_stale_and_error_cells_never_count(suite):
    cells = [cell("new", 30.5, status="stale"), cell("old", 30.0, status="error"),
             cell("new", 24.0, dataset="Set5"), cell("old", 23.9, dataset="Set5")]
    r = by_id(evaluate_claims(suite, cells))["new_beats_old"]
    assert r["verdict"] == "not-run"
    assert "status stale" in r["detail"]
    assert "python -m harness reproduce t_claims --entries new,old" in r["needs"]


def test_not_run_without_cells_and_observation_claims(tmp_path):
    body = SUITE + '\n[[claims]]\nid = "converges_early"\nkind = "observation"\nstatement = "It converges by epoch 200."\n' \
                   'source = "000 L144"\nneeds = "validation curves"\n'
    s = load_suite(write(tmp_path, body), check_models=False)
    r = by_id(evaluate_claims(s, []))
    assert all(x["verdict"] == "not-run" for x in r.values())
    assert r["converges_early"]["paper_verdict"] == "unchecked" and r["converges_early"]["needs"] == "validation curves"


# ------------------------------------------------------------------ malformed declarations

@pytest.mark.parametrize(("old", "new", "pattern"), [
    ('a = "net_a"\nb = "net_b"', 'a = "net_a"\nb = "net_c"',
     r"(?s)t_claims\.toml.*claims\[2\] \(id='a_beats_b'\)\.b: no entry 'net_c'"),
    ('value = 0.07\n', '', r"(?s)t_claims\.toml.*claims\[1\] \(id='gain_007'\).*needs 'value'"),
    ('source = "003 L213"', 'source = "page 4"', r"(?s)t_claims\.toml.*claims\[2\] \(id='a_beats_b'\)\.source"),
    ('kind = "ordering"\nstatement = "Net A', 'kind = "ranking"\nstatement = "Net A',
     r"(?s)t_claims\.toml.*claims\[2\] \(id='a_beats_b'\)\.kind"),
    ('metric = "psnr_y"\na = "net_a"', 'metric = "psnr_y"\ncolour = "red"\na = "net_a"',
     r"(?s)t_claims\.toml.*claims\[2\] \(id='a_beats_b'\)\.colour.*Extra inputs"),
    ('datasets = ["Set14"]', 'datasets = ["Urban100"]',
     r"(?s)t_claims\.toml.*claims\[1\] \(id='gain_007'\)\.metric: rows new, old share no column"),
    ('id = "a_beats_b"', 'id = "new_beats_old"', r"(?s)t_claims\.toml.*claim id 'new_beats_old' appears twice"),
])
def test_malformed_claims_name_file_claim_and_field(tmp_path, old, new, pattern):
    assert SUITE.count(old) == 1, old
    with pytest.raises(SuiteError, match=pattern):
        load_suite(write(tmp_path, SUITE.replace(old, new)), check_models=False)


@pytest.mark.parametrize("seed_row", ['datasets = ["Set5", "Set14"]\n', 'measure = ["psnr_rgb"]\n'])
def test_a_seed_repeat_must_measure_the_claims_metric(tmp_path, seed_row):
    """A repeat row that scores no dataset, or not the claim's metric, cannot give the seed band: the suite is
    refused, naming the claim, the row and the fix (RepSR's RGB tables: measure = ["psnr_rgb"])."""
    body = SUITE.replace('datasets = ["Set5", "Set14"]\n', seed_row).replace(
        'metric = "psnr_y"\na = "net_a"', 'metric = "psnr_rgb"\na = "net_a"') + \
        'repeats = {{ net_b = ["net_b_seed1"] }}\n'
    body = body.replace('metric = "psnr_y", value = 28.10', 'metric = "psnr_rgb", value = 28.10').replace(
        'metric = "psnr_y", value = 28.00', 'metric = "psnr_rgb", value = 28.00')
    if "measure" in seed_row:  # psnr_rgb named, but no dataset to score it on
        with pytest.raises(SuiteError, match=r"(?s)claims\[2\] \(id='a_beats_b'\)\.repeats: the repeat row "
                                             r"'net_b_seed1' of 'net_b' does not measure 'psnr_rgb'.*measure = "):
            load_suite(write(tmp_path, body), check_models=False)
        load_suite(write(tmp_path, body.replace('measure = ["psnr_rgb"]', 'measure = ["psnr_rgb"]\n'
                                                'datasets = ["Set14"]')), check_models=False)
    else:  # Set5/Set14 scored, but only PSNR/SSIM-Y
        with pytest.raises(SuiteError, match=r"(?s)t_claims\.toml.*'net_b_seed1'.*does not measure 'psnr_rgb'"):
            load_suite(write(tmp_path, body), check_models=False)


# ------------------------------------------------------------------ the declared claims

def test_half_unit_follows_the_value_unit():
    assert half_unit("412K", 412000) == 500
    assert half_unit("90.9G", 90.9) == pytest.approx(0.05)
    assert half_unit("31.92/0.8903", 0.8903) == pytest.approx(5e-5)


def test_declared_claims_cite_existing_paper_lines():
    if not PAPERS.is_dir():
        pytest.skip(f"papers not found at {PAPERS}")
    n_lines = {p.name[:3]: len(p.read_text(encoding="utf-8").splitlines()) for p in PAPERS.glob("*.txt")}
    total = 0
    for sid in list_suite_ids():
        for c in load_suite(sid, check_models=False).claims:
            paper, lines = c.source.split(" ", 1)
            for n in re.findall(r"\d+", lines):
                assert 1 <= int(n) <= n_lines[paper], f"{sid}/{c.id}: {c.source} is past the end of paper {paper}"
            total += 1
    assert total >= 50


def _timing_cell(entry: str, median: float, repeats: list[float]) -> dict:
    return {"entry": entry, "metric": "train_step", "dataset": None, "scale": 4, "measured": median,
            "status": "measured", "budget": "short", "run": "r1", "extra": {"repeat_values": repeats}}


@pytest.mark.parametrize(("rep", "ecb", "verdict"), [
    ((0.10, [0.099, 0.100, 0.101]), (0.20, [0.199, 0.200, 0.202]), "holds"),     # ratio 0.50
    ((0.19, [0.189, 0.190, 0.191]), (0.20, [0.199, 0.200, 0.201]), "fails"),     # ratio 0.95
    ((0.12, [0.08, 0.12, 0.14]), (0.20, [0.15, 0.20, 0.26]), "inconclusive"),    # ratio 0.6, repeats spread wide
])
def test_ratio_claim_on_a_measured_substitute_metric_with_timing_repeats(rep, ecb, verdict):
    """RepSR Table 3: the printed metric is total A100 time; the measured verdict uses per-iteration time
    (``measured_metric = "train_step"``) with each cell's timed repeats as its noise band."""
    suite = load_suite("repsr_table3")
    claim = next(c for c in suite.claims if c.id == "training_time_half")
    assert claim.metric == "train_time" and claim.measured_metric == "train_step"
    cells = []
    for r, e in zip(claim.a, claim.b, strict=True):
        cells += [_timing_cell(r, rep[0], rep[1]), _timing_cell(e, ecb[0], ecb[1])]
    out = next(c for c in evaluate_claims(suite, cells) if c["id"] == "training_time_half")
    assert out["paper_verdict"] == "holds"  # 4h54m / 9h50m ... on the paper's own numbers
    assert out["verdict"] == verdict, out["detail"]
    assert "timed repeats" in out["noise"]["source"] and out["measured_metric"] == "train_step"


def test_the_end_of_a_run_shows_a_judged_claims_measured_gaps():
    from harness.summary import claim_line

    judged = {"id": "c", "paper_verdict": "holds", "verdict": "fails", "budget": "short",
              "detail": "a vs b mean over 4 columns: [-0.098, -0.003] fails"}
    assert claim_line(judged) == ("  claim c: paper holds, measured fails — [short] a vs b mean over 4 columns: "
                                  "[-0.098, -0.003] fails")
    assert claim_line({**judged, "verdict": "not-run"}) == "  claim c: paper holds, measured not-run"
    long = claim_line({**judged, "detail": "x" * 500}, width=40)
    assert long.endswith("…") and len(long) < 120


# ------------------------------------------------------------------ rows on different recipes

def test_rows_on_different_recipes_are_flagged_in_the_claim_and_in_the_odd_rows_cells(tmp_path):
    """A budget fixes data, iterations, batch, patch and seed, not the recipe: a claim between rows trained on
    different recipes says so, and the odd row's cells say which recipe they were trained on."""
    from harness.collect import _judge_cell
    from harness.training.recipes import odd_recipe_rows

    same = load_suite(write(tmp_path), check_models=False)
    cells = [cell("net_a", 27.50, budget="short"), cell("net_b", 27.00, budget="short")]
    assert "different recipes" not in by_id(evaluate_claims(same, cells))["a_beats_b"]["detail"]

    body = SUITE.replace('id = "net_b"\nrow = "Net B"\nmodel = "bicubic"\nobtain = "train"\nscale = 4\n'
                         'train = {{ recipe = "default", dataset = "T91" }}',
                         'id = "net_b"\nrow = "Net B"\nmodel = "bicubic"\nobtain = "train"\nscale = 4\n'
                         'train = {{ recipe = "fsrcnn", dataset = "T91" }}')
    assert body != SUITE
    mixed = load_suite(write(tmp_path, body, name="t_mixed"), check_models=False)
    r = by_id(evaluate_claims(mixed, cells))["a_beats_b"]
    assert r["verdict"] == "holds"  # the verdict stands; the detail says what it mixes
    assert "different recipes" in r["detail"] and "net_b on recipe 'fsrcnn': L2" in r["detail"]

    def judged(entry_id: str) -> str:
        e = mixed.entry(entry_id)
        c = {"metric": "psnr_y", "measured": 27.0, "evidence": "trained:short", "budget": "short", "reason": "r"}
        odd = odd_recipe_rows(x for x in mixed.entries if x.obtain == "train")
        _judge_cell(mixed, e, e.paper[0], c, None, odd.get(entry_id))
        return c["reason"]

    assert "not an equal-schedule row" in judged("net_b") and "recipe 'fsrcnn'" in judged("net_b")
    assert "not an equal-schedule row" not in judged("net_a")
