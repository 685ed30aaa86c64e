"""The LLM coder: a complete attempt script written with the retrieved knowledge and the relevant history.
The model writes only the task-specific part; mlwright prepends its common block (data loading, the
output contract, the CLI), so the final script is still standalone."""
from __future__ import annotations

import ast
from typing import Optional, Sequence

from pydantic import BaseModel

from mlwright.llm import prompts
from mlwright.llm.agent import Agent, extract_code
from mlwright.schemas import TaskSpec


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
    system = prompts.render("coder", "system")

    def prompt(self, *, spec: TaskSpec, plan: str, knowledge: str, parent_code: Optional[str] = None,
               diagnosis: Optional[str] = None, focus_block: Optional[str] = None, guidance: Sequence[str] = (),
               extra_libs: str = "", focus_note: str = "") -> str:
        """The user prompt (template `coder.md`): the script contract, the task, the plan and the knowledge, then
        what applies: the user's guidance, the previous version, its diagnosis, the block it may change."""
        def section(name: str, **values: object) -> str:
            return "\n\n" + prompts.render("coder", name, **values)

        n_more = len(spec.feature_columns) - 60
        previous = parent_code.split("# ---- end of common block ----")[-1][-6000:] if parent_code else ""
        return prompts.render(
            "coder", "user", extra_libs=extra_libs, problem_type=spec.problem_type, target=repr(spec.target),
            metric=spec.metric, direction="higher" if spec.higher_is_better else "lower",
            n_train_rows=spec.n_train_rows, n_test_rows=spec.n_test_rows, features=spec.feature_columns[:60],
            more_features=prompts.render("coder", "more_features", n=n_more) if n_more > 0 else "",
            plan=plan, knowledge=knowledge,
            guidance=section("guidance", guidance=" | ".join(guidance)) if guidance else "",
            previous=section("previous", code=previous) if parent_code else "",
            diagnosis=section("diagnosis", diagnosis=diagnosis) if diagnosis else "",
            focus_note="\n\n" + focus_note if focus_block and focus_note else "",
            focus=section("focus", block=focus_block) if focus_block else "")

    def parse(self, text: str) -> CodeAnswer:
        code = extract_code(text)
        if "# <<common>>" not in code:
            code = "# <<common>>\n" + code
        check_contract(code)
        return CodeAnswer(code=code)

    def fallback(self, **ctx) -> CodeAnswer:
        return CodeAnswer(code="")  # empty: the engine uses its recipe for this attempt
