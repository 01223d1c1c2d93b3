"""The sequence models on five public corpora: figures, and what leave-one-corpus-out chose.

The whole evaluation (eval/sequence_eval.py, ~45 s of one core) runs once per session; the
figures below are the ones docs/sequence-model.md reports.  They are deterministic (fixed folds,
no randomness in the models), so they are pinned to +-0.002: a change that moves them must
update the docs too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.sequence_eval import (
    FREQ,
    GRID,
    GRID_OFFLINE,
    L3_SETTING,
    OFFLINE_SETTING,
    SETS,
    STIDE,
    Corpus,
    Results,
    SeqConfig,
    _Ranked,
    acceptance,
    auc,
    choose,
    criterion,
    far_at_detection,
    in_sample_view,
    leave_one_corpus_out,
    old_default,
    parse_pid_pairs,
    run,
    shipped_config,
)
from h7.detect.sequence import SequenceModel


def test_metrics() -> None:
    assert auc([0, 1], [2, 3]) == 1.0
    assert auc([0, 1], [1, 1]) == 0.75
    assert auc([5], [1]) == 0.0
    pos = list(range(10, 20))  # 90 % detection: threshold at the 2nd-lowest attack, 11
    assert far_at_detection([0, 10, 11, 12], pos) == 0.5
    assert far_at_detection([0, 1], pos) == 0.0


def test_pid_pairs_keep_each_process_in_order() -> None:
    got = parse_pid_pairs("7 1\n8 5\n7 2\n8 6\n7 3\n")
    assert [t.tolist() for t in got] == [[1, 2, 3], [5, 6]]
    with pytest.raises(ValueError):
        parse_pid_pairs("7 1\n8")


def test_ranked_top_means_match_the_model() -> None:
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 20, 300) for _ in range(5)]
    probe = [rng.integers(0, 25, n) for n in (0, 1, 7, 40, 300)]
    m = SequenceModel(order=4).fit(train)
    from eval.sequence_eval import _concat_codes

    codes, off = _concat_codes(probe)
    ranked = _Ranked(m.code_novelty(codes), off)
    for k, q in ((1, 0.0), (8, 0.0), (8, 0.25), (1, 1.0), (64, 0.5)):
        ref = SequenceModel(order=4, top_k=k, top_frac=q).fit(train).score_many(probe)
        np.testing.assert_allclose(ranked.top_mean(k, q), ref, rtol=1e-12)


@pytest.fixture(scope="module")
def evaluation() -> tuple[dict[str, Corpus], Results]:
    return run()


def _fig(results: Results, corpus: str, key: object) -> tuple[float, float]:
    f = results[corpus][key]
    return round(f.auc, 3), round(f.far90, 3)


def test_corpora_are_what_the_docs_say(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    corpora, results = evaluation
    assert list(corpora) == ["sendmail", "lpr", "adfa", "xlock", "ps"]
    assert corpora["sendmail"].stats == {"normal_distinct": 43, "attack_units": 10}
    assert corpora["lpr"].stats == {"normal_distinct": 336, "attack_units": 8}
    assert corpora["adfa"].stats == {"train": 833, "normal": 4372, "attack_units": 746}
    assert corpora["xlock"].stats == {"normal_distinct": 69, "attack_units": 2}
    assert corpora["ps"].stats == {"normal_distinct": 17, "attack_units": 26}
    assert [results[n][STIDE].folds for n in corpora] == [25, 15, 1, 15, 15]


def test_baselines_per_corpus(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    _, r = evaluation
    expect = {
        ("sendmail", STIDE): (0.920, 0.089),
        ("sendmail", FREQ): (0.552, 0.537),
        ("lpr", STIDE): (0.989, 0.012),
        ("lpr", FREQ): (0.971, 0.048),
        ("adfa", STIDE): (0.827, 0.267),
        ("adfa", FREQ): (0.668, 0.838),
        ("xlock", STIDE): (0.971, 0.029),
        ("xlock", FREQ): (1.000, 0.000),
        ("ps", STIDE): (0.856, 0.167),
        ("ps", FREQ): (0.508, 0.944),
    }
    for (c, key), (a, f) in expect.items():
        assert _fig(r, c, key) == pytest.approx((a, f), abs=0.002), (c, key)


def test_old_default_per_corpus(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    """SequenceModel()'s top-8: best on the corpus it was picked on, far below stide on ADFA-LD."""
    _, r = evaluation
    s = old_default()
    assert s == SeqConfig(6, "mix", 8, 0.0)
    expect = {
        "sendmail": (0.981, 0.037),
        "lpr": (0.991, 0.014),
        "adfa": (0.618, 0.873),
        "xlock": (0.928, 0.072),
        "ps": (0.950, 0.128),
    }
    for c, fig in expect.items():
        assert _fig(r, c, s) == pytest.approx(fig, abs=0.002), c


def test_l3_uses_the_setting_chosen_on_all_corpora(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    """Session 3 chose it on three corpora; on all five, Kneser-Ney in the grid, it is still the choice."""
    _, r = evaluation
    s = shipped_config()
    assert s == L3_SETTING == choose(r, list(r)) == SeqConfig(4, "last", 64, 0.5)
    expect = {
        "sendmail": (0.944, 0.047),
        "lpr": (0.985, 0.019),
        "adfa": (0.826, 0.268),
        "xlock": (0.995, 0.005),
        "ps": (0.908, 0.144),
    }
    for c, fig in expect.items():
        assert _fig(r, c, s) == pytest.approx(fig, abs=0.002), c
    # In-sample, its worst corpus is within 0.004 AUC of stide (lpr), never 0.02 better on all.
    margins = [r[c][s].auc - r[c][STIDE].auc for c in r]
    assert -0.004 < min(margins) < 0.0


def test_leave_one_corpus_out(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    """What each held-out corpus gets from the setting the other four chose, and issue 15's verdict."""
    _, r = evaluation
    loco = leave_one_corpus_out(r)
    assert loco == {
        "sendmail": L3_SETTING,
        "lpr": SeqConfig(4, "last", 64, 0.5, smoothing="kn"),
        "adfa": SeqConfig(3, "last", 32, 0.1),
        "xlock": L3_SETTING,
        "ps": L3_SETTING,
    }
    expect = {
        "sendmail": (0.944, 0.047),
        "lpr": (0.983, 0.023),
        "adfa": (0.690, 0.796),
        "xlock": (0.995, 0.005),
        "ps": (0.908, 0.144),
    }
    for c, cfg in loco.items():
        assert _fig(r, c, cfg) == pytest.approx(expect[c], abs=0.002), c
    verdict = {c: acceptance(r, c, cfg).split(" ")[0] for c, cfg in loco.items()}
    assert verdict == {"sendmail": "met", "lpr": "infeasible", "adfa": "not", "xlock": "met", "ps": "met"}
    # lpr: stide's 0.989 leaves no room for +0.02; the best any live setting reaches there is
    # stide + 0.005, so "infeasible" is a property of the corpus, not of the settings tried.
    assert r["lpr"][STIDE].auc + 0.02 > 1.0
    assert max(r["lpr"][c].auc for c in GRID) < r["lpr"][STIDE].auc + 0.006


def test_kneser_ney_does_not_generalise_better(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    """Kneser-Ney alone, chosen leave-one-corpus-out: no better than Witten-Bell on any held-out corpus."""
    _, r = evaluation
    kn = [c for c in GRID if c.smoothing == "kn"]
    assert len(kn) == len(GRID) // 2
    loco_kn = leave_one_corpus_out(r, kn)
    expect = {
        "sendmail": (0.933, 0.076),
        "lpr": (0.983, 0.023),
        "adfa": (0.694, 0.783),
        "xlock": (0.971, 0.029),
        "ps": (0.858, 0.239),
    }
    loco = leave_one_corpus_out(r)
    for c, cfg in loco_kn.items():
        assert _fig(r, c, cfg) == pytest.approx(expect[c], abs=0.002), c
        assert r[c][cfg].auc <= r[c][loco[c]].auc + 0.005, c
    # Its best in-sample figure on ADFA-LD (whole-trace mean of order 6) is +0.014 over stide.
    best = SeqConfig(6, "last", 1, 1.0, smoothing="kn")
    assert _fig(r, "adfa", best) == pytest.approx((0.841, 0.227), abs=0.002)


def test_offline_mode(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    """Sequence score + weighted syscall-set distance: not a setting that holds leave-one-corpus-out."""
    _, r = evaluation
    grid = GRID + GRID_OFFLINE
    every = choose(r, list(r), grid)
    assert every == SeqConfig(6, "mix", 32, 0.1, set_weight=8.0)
    loco = leave_one_corpus_out(r, grid)
    expect_held = {
        "sendmail": (0.931, 0.093),
        "lpr": (0.985, 0.019),
        "adfa": (0.726, 0.580),
        "xlock": (0.971, 0.029),
        "ps": (0.779, 0.617),
    }
    for c, cfg in loco.items():
        assert cfg.set_weight > 0, c
        assert _fig(r, c, cfg) == pytest.approx(expect_held[c], abs=0.002), c
    # The session-3 offline setting keeps its in-sample ADFA-LD figure (+0.020 over stide there).
    assert _fig(r, "adfa", OFFLINE_SETTING) == pytest.approx((0.847, 0.233), abs=0.002)


def test_why_adfa_fails_held_out(evaluation: tuple[dict[str, Corpus], Results]) -> None:
    """In-sample, settings reaching the bar on ADFA-LD exist; none is chosen, or choosable, by the others.

    Session 5's diagnostic (docs/sequence-model.md): the syscall-set distance alone meets the bar
    on ADFA-LD and fails lpr and ps; 90 of the 630 live + offline settings meet it on ADFA-LD, all
    with the set distance, and the best of them on the other four (L3's setting + 4 x distance)
    is below stide on lpr and only +0.007 on sendmail; no setting is at least stide on all five.
    """
    _, r = evaluation
    sets = {
        "sendmail": (0.898, 0.177),
        "lpr": (0.618, 1.000),
        "adfa": (0.858, 0.260),
        "xlock": (1.000, 0.000),
        "ps": (0.500, 1.000),
    }
    for c, fig in sets.items():
        assert _fig(r, c, SETS) == pytest.approx(fig, abs=0.002), c
    grid = GRID + GRID_OFFLINE
    count, best = in_sample_view(r, "adfa", grid)
    assert (count, len(grid)) == (90, 630)
    assert best == SeqConfig(4, "last", 64, 0.5, set_weight=4.0)
    margins = {c: round(r[c][best].auc - r[c][STIDE].auc, 3) for c in r if c != "adfa"}
    expect = {"sendmail": 0.007, "lpr": -0.003, "xlock": 0.029, "ps": 0.052}
    assert margins == pytest.approx(expect, abs=0.002)
    assert in_sample_view(r, "lpr", grid) == (0, None)
    assert max(criterion(r, list(r), c)[0] for c in grid) < 0.0


def test_l3_settings_accept_kneser_ney() -> None:
    from h7.detect.channels.l3_causal import L3Settings
    from h7.errors import UsageError

    assert L3Settings(seq_smoothing="kn").sequence_model().smoothing == "kn"
    with pytest.raises(UsageError):
        L3Settings(seq_smoothing="additive")


def test_cli_refuses_an_unknown_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    from eval.sequence_eval import main

    assert main(["nonesuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown corpus 'nonesuch'" in err
    assert main(["adfa"]) == 2
    assert "at least two corpora" in capsys.readouterr().err
