"""The layout zoo (issue #9): every variant (a base dataset rendered into one raw-folder layout, with the words a
user would type) must give, through the real CLI with the light recipes, a valid prediction file with the
expected columns and exactly the generator's ids (in the template's order when one fixes it), and predictions
that beat a constant. Failures name the variant, the reason, run.json's error and task notes and mlwright's
stderr tail. The variants run in parallel (ZOO_JOBS, default 2) as soon as the first one is needed. The default
suite runs a quarter of them, spread over every dimension; `-m slow` runs the rest. The whole table with reasons:
scripts/zoo_report.py."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from zoo import all_variants, failure_message, run_variant, summary
from zoo.base import TABLE_BASES, learnable_check, series, series_naive_mae

VARIANTS = all_variants()
BY_NAME = {v.name: v for v in VARIANTS}
QUICK_EVERY = 4  # the default suite runs every 4th variant (all dimensions are interleaved); -m slow the rest


def _params():
    return [pytest.param(v.name, marks=() if i % QUICK_EVERY == 0 else pytest.mark.slow)
            for i, v in enumerate(VARIANTS)]


@pytest.fixture(scope="session")
def zoo_runs(request, tmp_path_factory):
    """Futures of the selected variants' runs, started together (ZOO_JOBS at a time)."""
    selected = [it.callspec.params["name"] for it in request.session.items
                if getattr(it, "originalname", None) == "test_layout_variant" and hasattr(it, "callspec")]
    root = tmp_path_factory.mktemp("zoo")
    ex = ThreadPoolExecutor(max(1, int(os.environ.get("ZOO_JOBS", "2"))))
    futures = {n: ex.submit(run_variant, BY_NAME[n], root / n) for n in selected}
    yield futures
    ex.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("name", _params())
def test_layout_variant(name, zoo_runs):
    r = zoo_runs[name].result()
    assert r["ok"], failure_message(r)


def test_zoo_covers_every_dimension():
    assert len(VARIANTS) >= 80
    dims = summary(VARIANTS)
    for dim, least in [("format", 15), ("header", 4), ("encoding", 4), ("split", 8), ("id", 8),
                       ("date format", 10), ("phrasing", 10), ("image layout", 4), ("document layout", 4)]:
        assert sum(dims[dim].values()) >= least, (dim, dims.get(dim))
    for v in VARIANTS:
        assert len(v.keys) == len(v.truth) and len(set(v.keys)) == len(v.keys), v.name
        assert all(c in v.columns for c in v.id_columns), v.name
        assert v.value_column in v.columns or v.wide_columns, v.name


@pytest.mark.parametrize("base", sorted(TABLE_BASES))
def test_base_tables_are_easy(base):
    """A plain model beats a constant on every base, so a failing quality bar means a wrong target or rows."""
    b = TABLE_BASES[base]()
    model, constant = learnable_check(b)
    if b.problem_type == "regression":
        assert model < 0.5 * constant  # RMSE vs the std
    else:
        assert model > constant + 0.2  # accuracy vs the majority rate


@pytest.mark.parametrize("freq", ["MS", "QS", "D"])
def test_base_series_are_easy(freq):
    snaive, mean = series_naive_mae(series(freq))
    assert snaive < 0.6 * mean
