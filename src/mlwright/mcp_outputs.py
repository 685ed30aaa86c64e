"""What each MCP tool returns, as pydantic models: the SDK publishes their JSON schemas as the tools' output schemas
and sends each result as structured content (beside the same JSON as text, for clients that read only text)."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

from mlwright.schemas import AttemptStatus, BestAttempt

RunState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class Uploaded(BaseModel):
    upload_id: str
    data_path: str = Field(description="Pass this to start_run.")
    files: list[str] = Field(description="The stored files, relative to data_path (archives unpacked).")
    bytes: int


class RunStarted(BaseModel):
    run_id: str
    status: RunState
    run_dir: str
    next: str = Field(description="What to call next.")


class TaskBrief(BaseModel):
    """The task as mlwright understood it from the folder and the words."""

    problem_type: Optional[str] = None
    target: Optional[str] = None
    metric: Optional[str] = None
    higher_is_better: Optional[bool] = None
    id_column: Optional[str] = None
    prediction_file: Optional[str] = None
    output_columns: list[str] = Field(default_factory=list)
    n_train_rows: Optional[int] = None
    n_test_rows: Optional[int] = None


class AttemptBrief(BaseModel):
    id: int
    kind: str = Field(description="draft, improve, debug, ensemble... (the attempt tree's step)")
    parent_id: Optional[int] = None
    recipe: str
    status: AttemptStatus
    score: Optional[float] = Field(default=None, description="mlwright's own out-of-fold validation score.")
    seconds: Optional[float] = None
    error: Optional[str] = None


class RunStatusOut(BaseModel):
    run_id: str
    status: RunState
    stage: Optional[str] = None
    queue_position: Optional[int] = None
    error: Optional[str] = None
    time_limit_s: Optional[float] = None
    wall_seconds: Optional[float] = None
    task: Optional[TaskBrief] = None
    best: Optional[BestAttempt] = None
    attempts: list[AttemptBrief] = Field(default_factory=list)
    recent_events: list[str] = Field(default_factory=list)


class GuidanceSent(BaseModel):
    run_id: str
    guidance_id: int
    status: str


class Cancelled(BaseModel):
    run_id: str
    status: RunState
    cancel_requested: bool


class RunBrief(BaseModel):
    id: str
    status: RunState
    task_text: str
    created_at: float
    problem_type: Optional[str] = None
    target: Optional[str] = None
    metric: Optional[str] = None
    score: Optional[float] = None
    attempts: int = 0
    wall_seconds: Optional[float] = None


class RunList(BaseModel):
    runs_root: str
    allowed_roots: list[str]
    runs: list[RunBrief]


class Preview(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="The first rows, one object per row.")
    total_rows: int


class ResultPaths(BaseModel):
    predictions: str
    report: Optional[str] = None
    solution_script: Optional[str] = None
    model_dir: Optional[str] = None
    journal: str


class RunResult(BaseModel):
    run_id: str
    status: RunState
    run_dir: str
    error: Optional[str] = None
    task: Optional[TaskBrief] = None
    best: Optional[BestAttempt] = None
    attempts: Optional[int] = None
    wall_seconds: Optional[float] = None
    note: Optional[str] = Field(default=None, description="Why there is no result yet, when there is none.")
    predictions_preview: Optional[Preview] = None
    paths: Optional[ResultPaths] = None
    reuse: Optional[str] = Field(default=None, description="The command that applies this run's model to new data.")


class Predicted(BaseModel):
    run_id: str
    predictions: str = Field(description="The new prediction file (under the runs folder).")
    preview: Preview
