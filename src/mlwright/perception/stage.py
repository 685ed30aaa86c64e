"""The perception stage of a run: read the data folder, understand the task (deterministic inference, reviewed
by the perception agent when an LLM is configured), and write the model-layout tables the attempts read
(inputs/train.parquet, inputs/test.parquet). Its result, `Perceived`, is what the search works on."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from mlwright.errors import AmbiguousTaskError, DataError, MlwrightError
from mlwright.perception.agent import PerceptionAgent, ReaderAgent, apply_review, file_head, run_reader
from mlwright.perception.archives import is_archive
from mlwright.perception.documents import detect_document_task, inline_referenced_documents
from mlwright.perception.forecast_output import LABELS
from mlwright.perception.images import detect_image_task
from mlwright.perception.infer import WARNING, infer_task
from mlwright.perception.materialize import write_table
from mlwright.perception.multi_target import refuse_detection
from mlwright.perception.ranking import CORPUS, detect_ranking_task
from mlwright.perception.readers import sniff_kind
from mlwright.perception.segmentation import detect_segmentation_task
from mlwright.perception.scan import load_folder
from mlwright.perception.table_parts import part_names
from mlwright.perception.task_text import parse_task_text
from mlwright.run_context import RunContext
from mlwright.schemas import TaskSpec


@dataclass
class Perceived:
    """The understood task and its data in the model's layout (one row per training example / row to predict)."""
    spec: TaskSpec
    train: pd.DataFrame
    test: pd.DataFrame
    side_files: list[str] = field(default_factory=list)  # files read as evidence, not as data
    corpus: Optional[pd.DataFrame] = None  # ranking: the documents (doc_id, document), inputs/corpus.parquet


def perceive(ctx: RunContext) -> Perceived:
    opts = ctx.opts
    ctx.emit("perception", f"scanning {opts.data_dir}")
    folder = load_folder(opts.data_dir, ctx.out / "unpacked", opts.memory_limit_mb, require_data=ctx.llm is None)
    if ctx.llm is not None:
        read_with_llm(ctx, folder)
        folder.check_readable()
    profile = folder.profile()
    (ctx.out / "profile.json").write_text(profile.model_dump_json(indent=1))
    hints = parse_task_text(opts.task_text, folder.files)
    for f, why in folder.skipped.items():
        base = f.split("/")[-1]
        if hints.mentions(base):
            raise DataError(f"Cannot read {base}, which the task names: {why}", where=f,
                            hint="Fix or replace the file.")
        ctx.emit("perception", f"skipped {f}: {why}")
    if not opts.target:  # boxes around objects: recognised, and refused without pretrained detection weights
        refuse_detection(folder.tables, len(folder.images), hints)
    # masks given as run-length encodings are decoded into the run's own folder
    inferred = detect_segmentation_task(folder, hints, opts.target, ctx.out / "inputs" / "train_masks")
    doc_notes: list[str] = []
    if inferred is None:
        inferred = detect_image_task(folder, hints, opts.target, [])
    if inferred is None and not opts.target:  # before documents are inlined: they may be the corpus
        inferred = detect_ranking_task(folder, hints)
    if inferred is None:
        doc_notes = inline_referenced_documents(folder)
        inferred = detect_document_task(folder, hints, opts.target, ctx.interactive_ask())
    if inferred is None:
        inferred = infer(ctx, folder, profile, hints)
        inferred.spec.notes[:0] = doc_notes
    spec = inferred.spec
    spec.notes[:0] = folder.read_notes
    spec.test_sources = test_sources(spec, folder)
    write_table(inferred.train, ctx.out / "inputs" / "train.parquet")
    write_table(inferred.test, ctx.out / "inputs" / "test.parquet")
    if inferred.corpus is not None:  # ranking: the documents, beside the queries
        write_table(inferred.corpus, ctx.out / "inputs" / CORPUS)
    if getattr(inferred, "time_labels", None) is not None:  # forecasts: the user's own date strings
        write_table(inferred.time_labels, ctx.out / "inputs" / LABELS)
    for n in spec.notes:  # a decision the user should check is a warning (shown as such everywhere)
        ctx.emit("warning" if n.startswith(WARNING) else "perception", n)
    ctx.emit("perception", f"task: {spec.problem_type} on {spec.target!r}, metric {spec.metric}, "
             f"{spec.n_train_rows} train / {spec.n_test_rows} test rows, {len(spec.feature_columns)} features",
             spec=spec.model_dump(mode="json"))
    return Perceived(spec, inferred.train, inferred.test, side_files=list(folder.notes.texts), corpus=inferred.corpus)


def read_with_llm(ctx: RunContext, folder) -> None:
    """Reader code from the LLM for files the built-in readers could not read (run in the sandbox)."""
    agent = ctx.agent(ReaderAgent)
    known = set(folder.tables) | set(folder.images) | set(folder.documents)
    unknown = {f: "no built-in reader for this format" for f in folder.files
               if f not in known and f not in folder.skipped and sniff_kind_safe(Path(folder.root) / f) is None}
    for rel, why in list(folder.skipped.items()) + list(unknown.items())[:5]:
        path = Path(folder.root) / rel
        if not path.is_file() or why == "no rows" or path.stat().st_size > 200 * 1024**2:
            continue
        answer, _ = agent.ask(path=path, reason=why, head=file_head(path))
        if not answer.code:
            continue
        df = run_reader(answer.code, path, ctx.out / "readers" / path.name.replace(".", "_"))
        if df is None:
            ctx.failures.add("perception", f"reader code for {rel} failed")
            continue
        folder.tables[rel] = df
        folder.table_paths[rel] = str(path)
        folder.skipped.pop(rel, None)
        ctx.emit("perception", f"read {rel} with LLM-written reader code ({len(df)} rows)")


def infer(ctx: RunContext, folder, profile, hints):
    """Deterministic inference, reviewed by the perception agent when an LLM is configured."""
    opts = ctx.opts
    # what the user said beyond the task text (--id, --test) and what the side files say
    evidence = {"forced_id": opts.id_column, "forced_test": opts.test, "side": folder.notes}
    agent = ctx.agent(PerceptionAgent)
    try:
        inferred = infer_task(folder.tables, hints, forced_target=opts.target, ask=ctx.interactive_ask(),
                              skipped=folder.skipped, **evidence)
    except AmbiguousTaskError as e:
        if ctx.llm is None:
            raise
        review, from_llm = agent.ask(profile=profile, task_text=opts.task_text, spec=None, problem=e.what,
                                     side_files=folder.notes.texts)
        if not (from_llm and review.target in e.candidates):
            raise
        inferred = infer_task(folder.tables, hints, forced_target=review.target, skipped=folder.skipped, **evidence)
        inferred.spec.notes.append(f"target {review.target!r}: chosen by the perception agent among {e.candidates}")
        return inferred
    if ctx.llm is None:
        return inferred
    review, from_llm = agent.ask(profile=profile, task_text=opts.task_text, spec=inferred.spec,
                                 side_files=folder.notes.texts)
    if not from_llm:
        return inferred
    if review.question and ctx.interactive_ask() is not None:
        answer = ctx.ask(review.question, [])
        opts.task_text += f"\n{answer}"
        hints = parse_task_text(opts.task_text, folder.files)
        inferred = infer_task(folder.tables, hints, forced_target=opts.target, ask=ctx.interactive_ask(),
                              skipped=folder.skipped, **evidence)
        inferred.spec.notes.append(f"the user answered the perception agent's question: {answer[:200]}")
    train_cols = set(folder.tables[inferred.spec.train_table].columns) if inferred.spec.train_table in \
        folder.tables else set()
    if review.target and review.target != inferred.spec.target and review.target in train_cols and not opts.target:
        try:
            inferred = infer_task(folder.tables, hints, forced_target=review.target, skipped=folder.skipped,
                                  **evidence)
            inferred.spec.notes.append(f"target {review.target!r}: corrected by the perception agent")
        except MlwrightError as e:
            ctx.failures.add("perception", f"target {review.target!r} rejected: {e.what}")
    test_cols = set(inferred.test.columns)
    if review.id_column and review.id_column != inferred.spec.id_column and review.id_column in test_cols \
            and not opts.id_column and not inferred.spec.timeseries:
        try:
            redone = infer_task(folder.tables, hints, forced_target=inferred.spec.target, skipped=folder.skipped,
                                **(evidence | {"forced_id": review.id_column}))
            redone.spec.notes.append(f"id column {review.id_column!r}: corrected by the perception agent")
            inferred = redone
        except MlwrightError as e:
            ctx.failures.add("perception", f"id column {review.id_column!r} rejected: {e.what}")
    inferred.spec = apply_review(inferred.spec, review, inferred.spec.notes)
    return inferred


def test_sources(spec: TaskSpec, folder) -> list[str]:
    """The raw files (relative to the data folder) the rows to predict come from, for the final id check."""
    name = (spec.test_table or "").split(" (")[0]  # "train.csv (rows without y)" comes from train.csv
    paths = [folder.table_paths.get(n) for n in part_names(name)]  # a table stacked from parts: every file
    if not paths or any(p is None for p in paths):
        return []
    root = Path(folder.root).resolve()
    return [p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
            for p in (Path(x).resolve() for x in paths)]


def sniff_kind_safe(path: Path) -> Optional[str]:
    try:
        return sniff_kind(path) or ("archive" if is_archive(path) else None)
    except MlwrightError:
        return "unreadable"
