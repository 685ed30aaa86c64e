"""The LLM coder: a complete attempt script written with the retrieved knowledge and the relevant history.
The model writes only the task-specific part; mlwright prepends its common block (data loading, the
output contract, the CLI), so the final script is still standalone."""
from __future__ import annotations

import ast
from typing import Optional, Sequence

from pydantic import BaseModel

from mlwright.llm.agent import Agent, extract_code
from mlwright.schemas import TaskSpec

COMMON_API = """Your script MUST start with the line `# <<common>>`; mlwright replaces it with a block that defines:
  CONFIG, SPEC (the TaskSpec dict), PARAMS (PARAMS["time_budget"] = hard wall-clock limit in seconds),
  TARGET, FEATURES (feature column names), PROBLEM ("binary"|"multiclass"|"regression"), CLASSES (sorted str labels),
  log(msg), load_table(path), target_series(train) (str labels or float values),
  as_class_frame(proba, classes) -> DataFrame with one column per CLASSES entry,
  cv_splits(X, y, n_folds=5, seed=0) -> list of (train positions, valid positions), stratified for classes,
  LOG_TARGET (True for rmsle: fit on np.log1p(y)), model_predictions(model, X) -> a fitted scikit-learn-style
     model's predictions in write_outputs' form (expm1 applied when LOG_TARGET),
  write_outputs(out_dir, test, test_pred, oof_rows, oof_pred): writes the prediction file and oof_predictions.csv;
     test_pred/oof_pred: 1-d float array (regression) or as_class_frame(...) (classification);
     oof_rows: positions (0..len(train)-1) of the training rows the oof predictions are for (k-fold: all rows),
  cli(fit, predict): the command line.
Define `fit(train, test, out_dir, model_dir)` (train on `train`, save the model under model_dir, then call
write_outputs with out-of-fold or holdout predictions on >= 20% of the training rows) and
`predict(model_dir, new)` (load the saved model, return predictions for the rows of `new` in the same form
as test_pred). End with:
if __name__ == "__main__":
    cli(fit, predict)
Use only: pandas, numpy, scikit-learn, lightgbm, joblib"""


class CodeAnswer(BaseModel):
    code: str


def check_contract(code: str) -> None:
    """Raises ValueError when the script cannot plug into the common block."""
    tree = ast.parse(code)
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    missing = {"fit", "predict"} - names
    if missing:
        raise ValueError(f"the script does not define {sorted(missing)}")
    if "cli(fit, predict)" not in code.replace(" ", "").replace("cli(fit,predict)", "cli(fit, predict)"):
        raise ValueError("the script does not call cli(fit, predict)")


class CoderAgent(Agent[CodeAnswer]):
    role = "coder"
    output = CodeAnswer
    max_tokens = 3500
    json_mode = False
    system = ("You are an expert ML engineer who writes complete, correct, efficient Python scripts for tabular "
              "machine learning. Answer with one ```python code block and nothing else.")

    def prompt(self, *, spec: TaskSpec, plan: str, knowledge: str, parent_code: Optional[str] = None,
               diagnosis: Optional[str] = None, focus_block: Optional[str] = None, guidance: Sequence[str] = (),
               extra_libs: str = "", focus_note: str = "") -> str:
        parts = [COMMON_API + extra_libs + ".",
                 f"Task: {spec.problem_type} on target {spec.target!r}, metric {spec.metric} "
                 f"({'higher' if spec.higher_is_better else 'lower'} is better), {spec.n_train_rows} training rows, "
                 f"{spec.n_test_rows} test rows, features: {spec.feature_columns[:60]}"
                 + (f" (+{len(spec.feature_columns) - 60} more)" if len(spec.feature_columns) > 60 else ""),
                 f"Plan for this attempt: {plan}",
                 f"Relevant library notes:\n{knowledge}"]
        if guidance:
            parts.append("User guidance: " + " | ".join(guidance))
        if parent_code:
            body = parent_code.split("# ---- end of common block ----")[-1]
            parts.append(f"Previous version of the script (without the common block):\n```python\n{body[-6000:]}\n```")
        if diagnosis:
            parts.append(f"It failed. Diagnosis: {diagnosis}\nFix it.")
        if focus_block:
            if focus_note:
                parts.append(focus_note)
            parts.append(f"Change ONLY the function `{focus_block}`; keep every other top-level statement exactly as "
                         "it is (mlwright rejects changes elsewhere).")
        return "\n\n".join(parts)

    def parse(self, text: str) -> CodeAnswer:
        code = extract_code(text)
        if "# <<common>>" not in code:
            code = "# <<common>>\n" + code
        check_contract(code)
        return CodeAnswer(code=code)

    def fallback(self, **ctx) -> CodeAnswer:
        return CodeAnswer(code="")  # empty: the engine uses its recipe for this attempt
