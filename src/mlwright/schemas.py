"""Typed hand-overs between the pipeline stages (see ARCHITECTURE.md: each arrow is a pydantic model)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, Field, model_validator


ProblemType = Literal["binary", "multiclass", "regression", "forecasting", "multilabel", "multioutput", "ranking",
                      "segmentation"]
# tags / tag_probabilities: multi-label output (MultiLabelSpec says the layout); values: one column per target
# masks: one class mask per image (SegmentationSpec says how it is encoded and written)
OutputKind = Literal["label", "probability", "class_probabilities", "value", "tags", "tag_probabilities", "values",
                     "ranking", "masks"]
# cancelled: stopped by the user (Ctrl-C, cancel); interrupted: mlwright died while it ran (found so on resume).
# Neither says anything about the attempt's code: a resume runs it again as it was.
AttemptStatus = Literal["running", "succeeded", "failed", "invalid", "timeout", "skipped", "cancelled", "interrupted"]
Modality = Literal["tabular", "text", "image", "timeseries", "multitable"]
# a run: running, then one of the others; cancelled = stopped by the user (SIGTERM, Ctrl-C), journal kept
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]


class DateFormat(BaseModel):
    """How a column writes its dates: `kind` iso (pandas' ISO 8601 reader), pattern (strftime-like: %Y %y %m %d
    %b %B %H %M %S, %-m / %-d / %-H without zero padding, %q quarter, %G-W%V ISO week) or excel (serial days).
    `pattern` is also how dates are written back (for iso and excel too). Here, not in perception.dates, so that
    reading a run.json needs no pandas."""

    kind: Literal["iso", "pattern", "excel"]
    pattern: str = "%Y-%m-%d"
    month_case: Literal["title", "upper", "lower"] = "title"
    numeric: bool = False  # the values were numbers (years, yyyymmdd, serial days)
    note: str = ""  # why this reading, when another one was possible

    @property
    def unit(self) -> str:
        """The finest calendar field the format writes: second, minute, hour, day, week, month, quarter, year."""
        p = self.pattern.replace("-", "")
        for tok, unit in (("%S", "second"), ("%M", "minute"), ("%H", "hour"), ("%I", "hour"), ("%d", "day"),
                          ("%V", "week"), ("%m", "month"), ("%b", "month"), ("%B", "month"), ("%q", "quarter")):
            if tok in p:
                return unit
        return "day" if self.kind != "pattern" else "year"


class ColumnProfile(BaseModel):
    name: str
    dtype: str  # pandas dtype as read
    kind: Literal["numeric", "categorical", "boolean", "datetime", "text", "id", "constant", "empty"]
    missing_fraction: float
    n_unique: int
    example_values: list[str] = Field(default_factory=list)


class TableProfile(BaseModel):
    name: str  # path relative to the data folder, plus "#sheet" / "#table" when one file holds several
    path: str
    n_rows: int
    n_columns: int
    columns: list[ColumnProfile]
    role: Literal["train", "test", "sample_submission", "auxiliary", "unknown"] = "unknown"


class DataProfile(BaseModel):
    data_dir: str
    files: list[str]  # every file seen (relative)
    skipped: dict[str, str] = Field(default_factory=dict)  # file -> why it was not read
    tables: list[TableProfile]


class WideLayout(BaseModel):
    """A wide series table (one timestamp column and one column per series, or one row per series and one column
    per date): forecast in long form, written back wide."""

    time: str
    series: list[str]
    covariates: list[str] = Field(default_factory=list)
    item: str = "series"
    value: str = "value"
    output_columns: list[str] = Field(default_factory=list)  # the user-facing prediction file's columns
    # the other orientation: one row per series (`item`), one column per date (`date_columns` in train)
    dates_as_columns: bool = False
    date_columns: list[str] = Field(default_factory=list)


class TimeSeriesSpec(BaseModel):
    """Forecasting: one row per (item, timestamp); the target is forecast `horizon` steps past each series' end."""

    item_column: str
    timestamp_column: str
    horizon: int
    freq: Optional[str] = None  # pandas offset alias, e.g. "MS"
    season_period: int = 1
    known_covariates: list[str] = Field(default_factory=list)
    wide: Optional[WideLayout] = None  # set when the data came as a wide table
    date_format: Optional[DateFormat] = None  # how the user writes the dates; forecasts are written back so
    output_columns: list[str] = Field(default_factory=list)  # the user's file when it is keyed by a row id the
    # test rows carry (e.g. id,sales): attempts write (item, time, value), the run's file maps them to those rows



class QuantityFormat(BaseModel):
    """How a column writes decorated numbers ("$1,200", "12 kg", "3+ years"): read by perception.quantities."""

    decimal: Literal[".", ","] = "."
    units: dict[str, float] = Field(default_factory=dict)  # unit as written (lower case) -> factor to `unit`
    unit: str = ""  # what the numbers are expressed in: a unit, "%" or a currency ("" for none)


class ImageSpec(BaseModel):
    """Images: the train/test tables hold one row per image with its absolute path in `path_column`."""

    path_column: str
    label_source: Literal["folders", "table"] = "folders"
    width: Optional[int] = None
    height: Optional[int] = None
    channels: Optional[int] = None


class MultiLabelSpec(BaseModel):
    """Several tags per row. Attempts read one 0/1 column per tag (`columns`, the model's layout, in `tags` order)
    and write the user's layout: `joined` (the tags of a row in one column, joined by `separator`), `json` (a JSON
    list in one column) or `indicators` (one column per tag: 0/1, or the probability when `probabilities`)."""

    tags: list[str]  # as the user writes them (sorted; tag columns: in the order the task lists them)
    columns: list[str]  # 0/1 training columns, one per tag (the user's own columns for `indicators`)
    layout: Literal["joined", "json", "indicators"]
    separator: str = "|"
    probabilities: bool = False  # indicators: write P(tag) instead of 0/1
    at_least_one: bool = False  # every training row has a tag: a row's most likely tag is kept when none passes
    threshold: float = 0.5  # P(tag) at or above which a tag is predicted


class TargetSpec(BaseModel):
    """One of several targets (problem type multioutput): its own problem type and classes."""

    name: str  # the training column
    problem_type: Literal["binary", "multiclass", "regression"]
    class_labels: list[str] = Field(default_factory=list)  # as strings, sorted
    output_column: str = ""  # its column in the prediction file (the name itself when empty)


class MultiOutputSpec(BaseModel):
    """Several target columns predicted at once: one model per target, or chained (each later target also sees
    the earlier ones' out-of-fold predictions), chosen per target on validation."""

    targets: list[TargetSpec]
class RankingSpec(BaseModel):
    """Retrieval / ranking: queries, a corpus and relevance judgements. The model layout (inputs/) is fixed:
    train.parquet (query_id, query, doc_id, relevance: one row per judgement), test.parquet (query_id, query: the
    queries to rank; with doc_id when pairs are to be scored) and corpus.parquet (doc_id, document). The user's own
    names are kept here for reading new queries and writing the output."""

    queries_table: str  # where the query texts come from (several tables joined by ", ")
    query_id_column: str  # the user's names in the queries table
    query_text_column: str
    corpus_source: str  # a table, or a folder of documents ("folder/")
    doc_id_column: str
    doc_text_column: str
    judgements_table: str
    relevance_column: Optional[str] = None  # None: every listed pair is relevant (1)
    k: int = 10  # documents per query in the output, and the cut-off of the metric
    layout: Literal["long", "per_query", "pairs"] = "long"  # long: one row per (query, document) with rank and
    # score; per_query: one row per query, the document ids space-separated, best first; pairs: a score per given pair
    rank_column: Optional[str] = "rank"  # long layout: the output's rank and score columns (None: absent)
    score_column: Optional[str] = "score"
    n_documents: int = 0
    n_queries_train: int = 0
    graded: bool = False  # relevance has more than two levels


class SegmentationSpec(BaseModel):
    """Semantic segmentation: one class per pixel. The train table holds each image's absolute path
    (`image_column`) and its mask's (`mask_column`); class i is written in the user's masks as `values[i]` (a grey
    level or palette index) or, for colour masks, as the RGB colour `colors[i]`. Attempts write one row per image
    to predict: the id and the mask as class-index runs (runtime.segmentation.encode_mask), at the image's own
    size; the run writes them back in the user's `layout`: `files` (a PNG per image, same name and size, in
    `mask_folder` of the output folder) or `rle` (a table of run-length encodings, one row per image and class
    other than the background, pixels numbered top to bottom then left to right, 1-based)."""

    image_column: str
    mask_column: str
    classes: list[str]  # class names: the mask values as written ("0", "255") or colours ("#ff0000")
    values: list[int] = Field(default_factory=list)  # grey-level / index masks: the pixel value of each class
    colors: list[list[int]] = Field(default_factory=list)  # colour masks: the RGB colour of each class
    background: int = 0  # the index of the background class (the most common one)
    layout: Literal["files", "rle"] = "files"
    mask_folder: str = "masks"  # layout files: the folder of predicted masks, relative to the output folder
    rle_columns: list[str] = Field(default_factory=list)  # layout rle: id, [class,] encoded pixels
    mask_format: str = "png"  # the extension the predicted mask files get
    ids_with_extension: bool = True  # output ids are image file names; False: without the extension (as the
    # training table writes them)


class TaskSpec(BaseModel):
    """What the run must produce, as understood from the folder and the user's words."""

    problem_type: ProblemType
    target: str  # training label column
    metric: str
    higher_is_better: bool
    train_table: str
    test_table: Optional[str]
    id_column: Optional[str]  # id column in the test table (None: row order is the id)
    prediction_file: str  # relative to the output folder
    output_id_column: Optional[str]
    output_columns: list[str]  # exact columns of the prediction file, in order
    output_kind: OutputKind
    class_labels: list[str] = Field(default_factory=list)  # as strings, sorted
    positive_class: Optional[str] = None  # binary: the class whose probability is asked for
    feature_columns: list[str]
    # feature columns read differently from their raw text, the same for train, test and new rows
    date_columns: dict[str, DateFormat] = Field(default_factory=dict)  # the user's date forms, read as timestamps
    numeric_columns: list[str] = Field(default_factory=list)  # numbers with a few odd entries (read as missing)
    quantity_columns: dict[str, QuantityFormat] = Field(default_factory=dict)  # decorated numbers, read as numbers
    dropped_columns: dict[str, str] = Field(default_factory=dict)  # column -> reason
    # how perception reads each feature (numeric, categorical, boolean, datetime, text): the one answer to "is this
    # free text?" that every recipe and LLM script uses (runtime.common.feature_kinds)
    column_kinds: dict[str, str] = Field(default_factory=dict)
    n_train_rows: int
    n_test_rows: int
    sample_submission: Optional[str] = None
    modality: Modality = "tabular"
    timeseries: Optional[TimeSeriesSpec] = None
    image: Optional[ImageSpec] = None
    ranking: Optional[RankingSpec] = None
    joins: list[str] = Field(default_factory=list)  # multi-table: how auxiliary tables were joined
    notes: list[str] = Field(default_factory=list)  # how each decision was taken
    # the test rows carry no id, so the prediction file's ids are row numbers mlwright made (0..n-1, test order)
    ids_numbered: bool = False
    test_sources: list[str] = Field(default_factory=list)  # raw files (relative) the rows to predict come from
    multilabel: Optional[MultiLabelSpec] = None  # problem type multilabel
    multioutput: Optional[MultiOutputSpec] = None  # problem type multioutput
    segmentation: Optional[SegmentationSpec] = None  # problem type segmentation

    @property
    def is_classification(self) -> bool:
        return self.problem_type in ("binary", "multiclass")

    @property
    def target_columns(self) -> list[str]:
        """The training frame's target columns: one per tag (multilabel), one per target (multioutput), or one."""
        if self.multilabel is not None:
            return list(self.multilabel.columns)
        if self.multioutput is not None:
            return [t.name for t in self.multioutput.targets]
        return [self.target]

    @property
    def is_multi(self) -> bool:
        return self.problem_type in ("multilabel", "multioutput")

    @property
    def text_columns(self) -> list[str]:
        return [c for c in self.feature_columns if self.column_kinds.get(c) == "text"]

    @property
    def key_columns(self) -> list[str]:
        """Output columns that identify a row (the id; for forecasts also the timestamp)."""
        keys = [self.output_id_column] if self.output_id_column in self.output_columns else []
        if self.ranking is not None and self.ranking.layout != "per_query" and len(self.output_columns) > 1:
            keys.append(self.output_columns[1])  # (query, document)
        if self.timeseries and self.timeseries.timestamp_column not in keys:
            keys.append(self.timeseries.timestamp_column)
        return keys

    @property
    def value_columns(self) -> list[str]:
        return [c for c in self.output_columns if c not in self.key_columns]

    def test_keys(self) -> list[str]:
        """Test-table columns matching `key_columns` (forecasts: item and timestamp)."""
        if self.timeseries:  # forecast keys carry the test table's own column names
            return self.key_columns
        return [self.id_column] if self.id_column else []


class AttemptPlan(BaseModel):
    """One node of the attempt tree: what to try, with how much time."""

    attempt_id: int = 0  # 0 until the journal hands it an id, when it starts (search.loop)
    parent_id: Optional[int] = None
    kind: Literal["draft", "debug", "improve", "ablation"] = "draft"
    recipe: str
    title: str
    time_budget_s: float  # hard wall-clock limit for the process
    params: dict = Field(default_factory=dict)


class AttemptRecord(BaseModel):
    attempt_id: int
    parent_id: Optional[int] = None
    kind: str
    recipe: str
    title: str
    status: AttemptStatus
    started_at: float
    ended_at: Optional[float] = None
    seconds: Optional[float] = None
    time_budget_s: float
    metric: Optional[str] = None
    score: Optional[float] = None  # validation score computed by mlwright
    score_sd: Optional[float] = None  # its bootstrap spread over the validation rows: differences below it are noise
    validation_rows: Optional[int] = None
    error: Optional[str] = None
    workdir: str
    returncode: Optional[int] = None
    peak_memory_mb: Optional[float] = None
    # sha256 of the outputs as validated (model: of the folder, search.attempts.tree_sha256); finish copies only these
    prediction_sha256: Optional[str] = None
    solution_sha256: Optional[str] = None
    model_sha256: Optional[str] = None
    data_note: Optional[str] = None  # inputs of the task an LLM-written script never opened (execution/file_trace)
    # where its seconds went, from the script's timings.json (planning/budget.attempt_timings): the run learns its
    # overheads from these instead of guessing them
    start_overhead_s: Optional[float] = None  # sandbox, interpreter, imports, reading the inputs
    end_overhead_s: Optional[float] = None  # after the library's fitting: predicting, saving (recipes that mark it)
    fit_overrun: Optional[float] = None  # the library's fitting past its own time limit, as a share of the limit
    validation_s: Optional[float] = None  # mlwright's checks after the process ended (checksums, contract, scoring)

    @property
    def stopped(self) -> bool:
        """Cut short by the user or by mlwright's death, not ended by its own code (older journals wrote a failure
        with the error 'interrupted')."""
        return self.status in ("cancelled", "interrupted") or (self.error or "").startswith("interrupted")

    def located(self, run_dir: Path) -> "AttemptRecord":
        """With `workdir` (stored relative to the run folder) as an absolute path for where the folder is now."""
        return self.model_copy(update={"workdir": located_in_run(self.workdir, run_dir) or self.workdir})


class LLMUsage(BaseModel):
    provider: str = "none"
    model: Optional[str] = None
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_is_estimate: bool = True
    by_role: dict = Field(default_factory=dict)
    failed_calls: int = 0
    stopped_reason: Optional[str] = None  # e.g. the token or cost budget was reached
    fallbacks: dict[str, int] = Field(default_factory=dict)  # role -> answers not used (deterministic instead)
    fallback_reasons: list[str] = Field(default_factory=list)
    attempts: int = 0  # attempts whose code the LLM wrote
    attempts_failed: int = 0
    attempt_failures: list[str] = Field(default_factory=list)


class BestAttempt(BaseModel):
    attempt_id: int
    recipe: str
    metric: str
    validation_score: float
    higher_is_better: bool


class AblationResult(BaseModel):
    block: str
    what: str
    attempt_id: int
    status: str
    score: Optional[float] = None
    delta: Optional[float] = None  # variant score - baseline score (metric units)


class Refinement(BaseModel):
    """The ablation study and its decision (run.json `refinement`, the report)."""

    parent_attempt: int
    metric: str
    baseline_score: float
    results: list[AblationResult] = Field(default_factory=list)
    focus: str
    decided_by: Literal["ablation", "llm guess", "heuristic"]
    reason: str = ""
    ideas: list[str] = Field(default_factory=list)

    def note(self) -> str:
        """What the coder of the next improve attempts is told."""
        lines = [f"Ablation study on attempt {self.parent_attempt}'s script ({self.metric} = "
                 f"{self.baseline_score:.5f}), the branch this attempt continues:"]
        for r in self.results:
            lines.append(f"- {r.block}: {r.what} -> " + (f"{r.score:.5f} (change {r.delta:+.5f})"
                                                        if r.score is not None else f"{r.status}"))
        lines.append(f"Focus: `{self.focus}` ({self.decided_by}). " + (self.reason or ""))
        if self.ideas:
            lines.append("Ideas: " + "; ".join(self.ideas[:5]))
        return "\n".join(lines)


def relative_to_run(path: Optional[str], run_dir: Path) -> Optional[str]:
    """A path inside the run folder as stored there: relative to it (a run folder can move); others unchanged."""
    if not path:
        return path
    try:
        return Path(path).relative_to(run_dir).as_posix() or "."
    except ValueError:
        return path


def located_in_run(path: Optional[str], run_dir: Path) -> Optional[str]:
    """A stored path as an absolute path for the run folder where it is now (absolute ones are unchanged)."""
    if not path:
        return path
    return str(run_dir) if path == "." else str(run_dir / path)


# run.json fields that name something inside the run folder
_RUN_PATHS = ("output_dir", "prediction_path", "solution_script", "model_dir", "report")


class RunSummary(BaseModel):
    """run.json: the contract the benchmark, the UI and the MCP server read. Paths inside the run folder are
    stored relative to it (`portable`) and read back absolute for where it is now (`located`)."""

    status: RunStatus
    data_dir: str
    output_dir: str
    task_text: str
    time_limit_s: float
    task: Optional[TaskSpec] = None
    best: Optional[BestAttempt] = None
    attempts: int = 0
    attempts_failed: int = 0
    llm: LLMUsage = Field(default_factory=LLMUsage)
    refinement: Optional[Refinement] = None  # the ablation study that chose the block to refine
    wall_seconds: float = 0.0
    overhead_seconds: Optional[float] = None  # everything but the attempts' own processes
    ended_early: Optional[str] = None  # why the search stopped with a useful share of the time limit unused
    peak_memory_mb: Optional[float] = None  # the largest resident memory: mlwright's process or its largest attempt
    prediction_path: Optional[str] = None
    solution_script: Optional[str] = None
    model_dir: Optional[str] = None
    # sha256 of the final files, path in the run folder -> hex ("model/": tree_sha256 of the folder); each
    # copied from the best attempt and checked against the checksums taken when it was validated
    checksums: dict[str, str] = Field(default_factory=dict)
    report: Optional[str] = None
    sandbox: dict = Field(default_factory=dict)
    error: Optional[str] = None
    mlwright_version: str = ""

    def portable(self, run_dir: Path) -> "RunSummary":
        return self.model_copy(update={f: relative_to_run(getattr(self, f), run_dir) for f in _RUN_PATHS})

    def located(self, run_dir: Path) -> "RunSummary":
        return self.model_copy(update={f: located_in_run(getattr(self, f), run_dir) for f in _RUN_PATHS})

    @model_validator(mode="before")
    @classmethod
    def _cancelled_was_an_error(cls, d):
        # a run.json from before "cancelled" was a status: status "failed", error "cancelled (...)"
        if isinstance(d, dict) and d.get("status") == "failed" and \
                str(d.get("error") or "").lower().startswith("cancelled"):
            d = {**d, "status": "cancelled"}
        return d
