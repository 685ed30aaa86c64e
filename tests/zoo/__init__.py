"""The layout zoo (issue #9): small base datasets rendered into many raw-folder variants (formats, headers and
side files, encodings, split styles, id placements, date formats, task phrasings, image and document folders),
each with the generator's own answer, to check that perception generalizes.

    from zoo import all_variants, run_variant
    for v in all_variants(): result = run_variant(v, workdir)

The package lives in tests/ (tests/ is on sys.path under pytest; scripts/zoo_report.py adds it)."""
from __future__ import annotations

from collections import Counter

from zoo.media import document_variants, image_variants
from zoo.run import check_output, failure_message, run_variant
from zoo.series import series_variants
from zoo.tabular import tabular_variants
from zoo.variant import Variant

__all__ = ["Variant", "all_variants", "run_variant", "check_output", "failure_message", "summary"]


def all_variants() -> list[Variant]:
    vs = tabular_variants() + series_variants() + image_variants() + document_variants()
    names = [v.name for v in vs]
    dup = [n for n, c in Counter(names).items() if c > 1]
    assert not dup, f"duplicate variant names: {dup}"
    return vs


def summary(variants: list[Variant]) -> dict[str, Counter]:
    """Count of variants per dimension value (a variant varies one or two dimensions of the default layout)."""
    out: dict[str, Counter] = {}
    for v in variants:
        for dim, val in v.dims.items():
            out.setdefault(dim, Counter())[val] += 1
    return out
