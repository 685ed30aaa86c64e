"""Leakage checked by code, before LLM-written code can count: the attempt's own script is run again on a sample
of the training rows whose target has been shuffled. Honest code then has nothing to learn, and its out-of-fold
predictions score like predictions unrelated to the labels; code that lets the target into its features (the
target itself, a statistic of it fitted outside the folds, row order) still predicts the shuffled labels. The
null distribution comes from the same predictions scored against fresh shuffles, so the test needs no threshold
per metric. The recipes are mlwright's own and are not checked."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.catalog import MODEL_DIR, SOLUTION
from mlwright.execution.executor import AttemptExecutor, AttemptJob
from mlwright.perception.materialize import write_table
from mlwright.perception.stage import Perceived
from mlwright.run_context import RunContext
from mlwright.schemas import AttemptRecord
from mlwright.validation.checks import ValidationFailure, score_oof
from mlwright.validation.metrics import Scorer, prediction_columns

CHECKED_RECIPES = ("llm", "ablation")  # code mlwright did not write
SAMPLE_ROWS = 2000
NULL_DRAWS = 30
Z_LEAK = 4.0  # standard deviations above the null: far beyond chance
SHARE_LEAK = 0.3  # and at least this share of the real score's gain over chance


class LeakCheck:
    def __init__(self, ctx: RunContext, data: Perceived, executor: AttemptExecutor, seed: int = 0):
        self.ctx, self.data, self.executor, self.seed = ctx, data, executor, seed

    def __call__(self, rec: AttemptRecord) -> Optional[str]:
        """Why `rec` leaks (it must not win), or None (it does not, or it is not ours to check)."""
        spec = self.data.spec
        if rec.recipe not in CHECKED_RECIPES or rec.status != "succeeded" or spec.timeseries is not None or \
                spec.is_multi or spec.segmentation is not None:  # (several targets, masks: not checked yet)
            return None
        if self.ctx.clock.usable() < 15:
            self.ctx.emit("analysis", f"attempt {rec.attempt_id}: no time left to check it for leakage",
                          attempt_id=rec.attempt_id)
            return None
        folder = self.ctx.out / "checks" / f"{rec.attempt_id:03d}-shuffled-target"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        rng = np.random.default_rng(self.seed + rec.attempt_id)
        train = self.data.train
        if len(train) > SAMPLE_ROWS:
            train = train.iloc[np.sort(rng.choice(len(train), SAMPLE_ROWS, replace=False))]
        train = train.reset_index(drop=True)
        train[spec.target] = train[spec.target].to_numpy()[rng.permutation(len(train))]
        write_table(train, folder / "train.parquet")
        shutil.copy2(Path(rec.workdir) / SOLUTION, folder / SOLUTION)
        share = len(train) / max(len(self.data.train), 1)
        timeout = min(self.ctx.clock.usable(), max(30.0, 2.0 * share * (rec.seconds or 60) + 20))
        inputs = self.ctx.out / "inputs"
        with self.ctx.busy.running():
            res = self.executor.run(AttemptJob(
                [sys.executable, SOLUTION, "fit", "--train", str(folder / "train.parquet"), "--test",
                 str(inputs / "test.parquet"), "--out", ".", "--model", MODEL_DIR], folder, timeout_s=timeout,
                read_only=[inputs], memory_mb=self.ctx.opts.memory_limit_mb, share=1 / self.ctx.slots))
        if res.returncode != 0 or res.timed_out:
            self.ctx.emit("analysis", f"attempt {rec.attempt_id}: the leakage check could not run on shuffled "
                          f"labels ({'timeout' if res.timed_out else f'exit code {res.returncode}'}); not checked",
                          attempt_id=rec.attempt_id)
            return None
        try:
            score, _, oof = score_oof(spec, folder / "oof_predictions.csv", train)
        except ValidationFailure as e:
            self.ctx.emit("analysis", f"attempt {rec.attempt_id}: leakage check inconclusive: {e}",
                          attempt_id=rec.attempt_id)
            return None
        return self.verdict(rec, train, oof, score, rng)

    def verdict(self, rec: AttemptRecord, train: pd.DataFrame, oof: pd.DataFrame, score: float,
                rng: np.random.Generator) -> Optional[str]:
        spec = self.data.spec
        sign = 1.0 if spec.higher_is_better else -1.0
        need = prediction_columns(spec)
        rows = oof["__row__"].to_numpy()
        scorer = Scorer(spec)
        y = scorer.answers(train[spec.target].iloc[rows])
        P = oof[need].to_numpy(dtype=float)
        null = np.array([scorer(y[rng.permutation(len(y))], P) for _ in range(NULL_DRAWS)]) * sign
        gain, mean, sd = sign * score, float(null.mean()), float(null.std()) + 1e-12
        real_gain = sign * (rec.score or 0.0) - mean
        z = (gain - mean) / sd
        msg = (f"on shuffled labels its out-of-fold {spec.metric} is {score:.4f} against {sign * mean:.4f} ± "
               f"{sd:.4f} for predictions unrelated to the labels")
        if z > Z_LEAK and gain - mean > SHARE_LEAK * max(real_gain, 1e-12):
            return (f"leakage: {msg} (z = {z:.1f}): the code lets the target into its features or fits target "
                    "statistics outside the folds")
        self.ctx.emit("analysis", f"attempt {rec.attempt_id}: no leakage found ({msg})", attempt_id=rec.attempt_id)
        return None
