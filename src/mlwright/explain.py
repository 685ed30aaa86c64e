"""`mlwright explain` / `run --dry-run`: the understood task, with the evidence for each decision, without fitting
anything. It runs the same perception as a run, in a scratch folder, and reads the result back."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field

from mlwright.schemas import DataProfile, TaskSpec


class Explanation(BaseModel):
    spec: TaskSpec
    files: dict[str, str] = Field(default_factory=dict)  # file -> its role
    columns: list[dict] = Field(default_factory=list)  # training columns: name, kind, use
    test_keys: list[str] = Field(default_factory=list)  # the first keys of the rows to predict
    seconds: float = 0.0


def _roles(spec: TaskSpec, profile: DataProfile, side_files: list[str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    train, test = spec.train_table, (spec.test_table or "")
    for t in profile.tables:
        if t.name == train:
            roles[t.name] = "training rows"
        elif t.name == test.split(" (")[0] and t.name != train:
            roles[t.name] = "rows to predict" + (" (and the template of the output)" if t.name == spec.sample_submission
                                                 else "")
        elif t.name == spec.sample_submission:
            roles[t.name] = "sample / template of the output file"
        elif any(t.name in j for j in spec.joins):
            roles[t.name] = "auxiliary table (joined)"
        else:
            roles[t.name] = "not used"
    if test.startswith(train + " ("):
        roles[train] = f"training rows and the rows to predict {test[len(train) + 1:]}"
    if spec.ranking is not None:
        r = spec.ranking
        roles[r.judgements_table] = "relevance judgements (the training queries' relevant documents)"
        for q in r.queries_table.split(", "):
            roles[q] = "queries (those without judgements are to be ranked)" if q != r.judgements_table else roles[q]
        roles[r.corpus_source] = f"corpus ({r.n_documents} documents to rank)"
    for f in side_files:
        roles[f] = "side file (read as evidence)"
    for f, why in profile.skipped.items():
        roles[f] = f"skipped: {why}"
    return roles


def explain(data_dir: Path, task_text: str, target: Optional[str] = None, id_column: Optional[str] = None,
            test: Optional[str] = None) -> Explanation:
    import time

    from mlwright.options import RunOptions
    from mlwright.perception.stage import perceive
    from mlwright.planning.budget import RunClock
    from mlwright.run_context import RunContext

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="mlwright-explain-") as tmp:
        opts = RunOptions(data_dir=data_dir, task_text=task_text, output_dir=Path(tmp) / "run", target=target,
                          id_column=id_column, test=test)
        out = opts.output_dir.resolve()
        out.mkdir(parents=True)
        seen = perceive(RunContext(opts=opts, out=out, clock=RunClock(opts.time_limit)))  # nothing is fitted
        spec, train, test_df = seen.spec, seen.train, seen.test
        profile = DataProfile.model_validate(json.loads((out / "profile.json").read_text()))
        side = sorted(seen.side_files)
    cols = []
    for c in list(train.columns):
        use = "target" if c == spec.target or c in spec.target_columns else \
            "feature" if c in spec.feature_columns else f"dropped: {spec.dropped_columns.get(c, 'not used')}"
        cols.append({"name": str(c), "dtype": str(train[c].dtype), "use": use,
                     "kind": spec.column_kinds.get(c, "label" if use == "target" else "")})
    for c, why in spec.dropped_columns.items():
        if c not in train.columns:
            cols.append({"name": c, "dtype": "", "use": f"dropped: {why}", "kind": ""})
    keys = spec.test_keys()
    if keys and all(k in test_df.columns for k in keys):
        shown = test_df[keys].head(5).astype(str).agg(" | ".join, axis=1).tolist()
    else:
        shown = [str(i) for i in range(min(5, len(test_df)))]
    return Explanation(spec=spec, files=_roles(spec, profile, side), columns=cols, test_keys=shown,
                       seconds=round(time.time() - t0, 2))


def render(ex: Explanation) -> list[str]:
    """Plain lines for the terminal (rich markup free)."""
    s = ex.spec
    lines = [f"problem: {s.problem_type} ({s.modality}), metric {s.metric} "
             f"({'higher' if s.higher_is_better else 'lower'} is better)",
             f"target: {s.target!r}" + (f"  classes: {', '.join(s.class_labels[:12])}" if s.class_labels else ""),
             f"training rows: {s.n_train_rows} from {s.train_table}",
             f"rows to predict: {s.n_test_rows} from {s.test_table}",
             f"id: {s.id_column!r}" + (" — none in the data: mlwright numbers the rows 0..n-1" if s.ids_numbered
                                       else ""),
             f"first keys: {', '.join(ex.test_keys)}",
             f"output: {s.prediction_file} with columns {s.output_columns} ({s.output_kind})"]
    if s.multilabel:
        ml = s.multilabel
        how = {"joined": f"joined by {ml.separator!r} in one column", "json": "a JSON list in one column",
               "indicators": "one column per tag, " + ("its probability" if ml.probabilities else "0/1")}[ml.layout]
        lines.append(f"tags: {len(ml.tags)} ({', '.join(ml.tags[:20])}); one model per tag; written {how}; a tag is "
                     f"predicted at P >= {ml.threshold}" + ("; every row gets at least one" if ml.at_least_one else ""))
    if s.multioutput:
        lines.append("targets: " + ", ".join(f"{t.name} ({t.problem_type}" + (f", {len(t.class_labels)} classes"
                                                                               if t.class_labels else "") + ")"
                                             for t in s.multioutput.targets)
                     + "; one model per target, or chained on the earlier ones, chosen per target on validation")
    if s.ranking:
        r = s.ranking
        lines.append(f"ranking: queries {r.queries_table} (id {r.query_id_column!r}, text {r.query_text_column!r}, "
                     f"{r.n_queries_train} judged); corpus {r.corpus_source} ({r.n_documents} documents, id "
                     f"{r.doc_id_column!r}, text {r.doc_text_column!r}); judgements {r.judgements_table} "
                     + (f"(relevance {r.relevance_column!r}" + (", graded)" if r.graded else ")") if r.relevance_column
                        else "(every listed pair relevant)")
                     + f"; metric {s.metric}@{r.k}; output {r.layout}"
                     + (f", top {r.k} per query" if r.layout != "pairs" else ", a score per pair"))
    if s.segmentation:
        sg = s.segmentation
        enc = "colours " + ", ".join(sg.classes[:12]) if sg.colors else "values " + ", ".join(sg.classes[:12])
        out = (f"mask files of the same names in {sg.mask_folder}/ of the output folder" if sg.layout == "files"
               else f"run-length encodings in {s.prediction_file} with columns {sg.rle_columns}")
        lines.append(f"segmentation: {len(sg.classes)} classes (mask {enc}; background {sg.classes[sg.background]}); "
                     f"images and masks from {s.train_table}; images to predict from {s.test_table}; "
                     f"one mask per image at its own size; written as {out}")
    if s.timeseries:
        ts = s.timeseries
        lines.append(f"forecasting: series {ts.item_column!r}, time {ts.timestamp_column!r}, horizon {ts.horizon}, "
                     f"frequency {ts.freq}, season {ts.season_period}")
    lines.append("files:")
    lines += [f"  {f}: {role}" for f, role in ex.files.items()]
    lines.append("columns:")
    lines += [f"  {c['name']} [{c['dtype']}]: {c['use']}" for c in ex.columns[:60]]
    if len(ex.columns) > 60:
        lines.append(f"  ... {len(ex.columns) - 60} more")
    lines.append("evidence:")
    lines += [f"  - {n}" for n in s.notes]
    lines.append(f"(understood in {ex.seconds:.1f}s; nothing was fitted)")
    return lines
