"""The LLM coder: a complete attempt script written with the retrieved knowledge, the data digest and the relevant
history. The model writes only the task-specific part; mlwright prepends its common block (data loading, the
output contract, the CLI), so the final script is still standalone. An improve step that may change one block
can answer with that block alone; the policy puts it into the parent script."""
from __future__ import annotations

import ast
import importlib.util
from typing import Optional, Sequence

from pydantic import BaseModel

from mlwright.llm import prompts
from mlwright.llm.agent import Agent, extract_code
from mlwright.planning.refinement import task_part
from mlwright.schemas import TaskSpec

# a draft for images or series starts from mlwright's own baseline of that kind: a working script of the contract
EXAMPLE_RECIPES = {"image": "image_features", "timeseries": "timeseries_naive", "ranking": "ranking_bm25",
                   "segmentation": "seg_pixels"}
MAX_PARENT_CHARS = 40_000  # the whole parent script: a cut one cannot be copied exactly (the block lock needs that)
# importable in the sandbox's interpreter (the same one), beyond what every script may use
OPTIONAL_LIBS = (("catboost", "catboost"), ("xgboost", "xgboost"), ("torch", "torch"),
                 ("autogluon.tabular", "autogluon.tabular (TabularPredictor)"))


class CodeAnswer(BaseModel):
    code: str
    fragment: bool = False  # top-level definitions only, without fit/predict/cli: one block to put into the parent


def check_contract(code: str) -> None:
    """Raises ValueError when the script cannot plug into the common block."""
    tree = ast.parse(code)
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    missing = {"fit", "predict"} - names
    if missing:
        raise ValueError(f"the script does not define {sorted(missing)}")
    if not any(_is_entry_call(n) for n in ast.walk(tree)):
        raise ValueError("the script does not call cli(fit, predict)")


# the runtimes' command lines: cli (tables, images, masks: also with check_new= / write=), ranking_cli, and main
# (the forecasting runtime's)
ENTRY_POINTS = ("cli", "ranking_cli", "main")


def _is_entry_call(node: ast.AST) -> bool:
    """A call of a runtime's command line with fit and predict first (keyword arguments after them allowed)."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ENTRY_POINTS and \
        [a.id for a in node.args[:2] if isinstance(a, ast.Name)] == ["fit", "predict"]


def installed_libs(use_autogluon: bool = True) -> list[str]:
    """Libraries a script may use beyond pandas, numpy, scikit-learn, lightgbm and joblib: those installed here."""
    out = []
    for module, label in OPTIONAL_LIBS:
        if module.startswith("autogluon") and not use_autogluon:
            continue
        try:
            if importlib.util.find_spec(module) is not None:
                out.append(label)
        except (ImportError, ValueError):
            continue
    return out


def example_script(modality: str) -> str:
    """The baseline recipe of this modality as the coder writes scripts (the `# <<common>>` marker for the
    runtime imports); empty for tables and texts, whose contract needs no example."""
    from mlwright.coding.recipe_coder import COMMON_MARKER, recipe_source

    name = EXAMPLE_RECIPES.get(modality)
    if name is None:
        return ""
    lines, marked = [], False
    for line in recipe_source(name).splitlines():
        if line.startswith("from mlwright.runtime."):
            if not marked:
                lines.append(COMMON_MARKER)
                marked = True
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def multi_note(spec: TaskSpec) -> str:
    """The prompt's account of several tags or targets: what cli() does around a single-target fit/predict."""
    if spec.multilabel is not None:
        ml = spec.multilabel
        layout = {"joined": f"the tags of a row joined by {ml.separator!r} in column {spec.value_columns[0]!r}",
                  "json": f"a JSON list of tags in column {spec.value_columns[0]!r}",
                  "indicators": "one column per tag, " + ("its probability" if ml.probabilities else "0/1")}[ml.layout]
        return "\n\n" + prompts.render(
            "coder", "multi", what=f"{len(ml.tags)} tags, each a 0/1 training column", unit="tag column (a binary "
            "task: CLASSES ['0', '1'], predict the probability of '1')", layout=layout,
            fields=f"SPEC['multilabel'] = {ml.model_dump_json()}; the score is {spec.metric} on P(tag) >= "
                   f"{ml.threshold}")
    if spec.multioutput is not None:
        mo = spec.multioutput
        return "\n\n" + prompts.render(
            "coder", "multi", what=f"{len(mo.targets)} target columns", unit="target (a later target is also fitted "
            "with the earlier targets' predictions as extra numeric FEATURES; the better one on validation is kept)",
            layout="one column per target after the key", fields=f"SPEC['multioutput'] = {mo.model_dump_json()}; "
                                                                 f"the score is {spec.metric}")
    return ""


def contract_values(spec: TaskSpec) -> dict[str, object]:
    """The task's own values in its contract section (segmentation: the spec fields, the columns, the layout)."""
    seg = spec.segmentation
    if seg is None:
        return {}
    layout = (f"a mask file per image, same name and size, in the folder {seg.mask_folder}/" if seg.layout == "files"
              else f"a table of run-length encodings, columns {seg.rle_columns}")
    return dict(seg=seg.model_dump_json(), image_column=repr(seg.image_column), mask_column=repr(seg.mask_column),
                id_column=repr(spec.id_column), last_class=len(seg.classes) - 1, n_classes=len(seg.classes),
                background=seg.background, metric=spec.metric, layout=layout)


class CoderAgent(Agent[CodeAnswer]):
    role = "coder"
    output = CodeAnswer
    max_tokens = 10000
    json_mode = False
    system = prompts.render("coder", "system")

    def prompt(self, *, spec: TaskSpec, plan: str, knowledge: str, parent_code: Optional[str] = None,
               diagnosis: Optional[str] = None, focus_block: Optional[str] = None, guidance: Sequence[str] = (),
               extra_libs: Sequence[str] = (), focus_note: str = "", data: str = "", tried: str = "") -> str:
        """The user prompt (template `coder.md`): the script contract, the task and its data, the plan and the
        knowledge, then what applies: what was tried, the user's guidance, the previous version (whole), its
        diagnosis, the block it may change."""
        def section(name: str, **values: object) -> str:
            return "\n\n" + prompts.render("coder", name, **values)

        previous = task_part(parent_code).lstrip("\n")[-MAX_PARENT_CHARS:] if parent_code else ""
        kind = "ranking" if spec.ranking is not None else "segmentation" if spec.segmentation is not None else \
            spec.modality if spec.modality in ("image", "timeseries") else "tabular"
        libs = "".join(f", {lib}" for lib in extra_libs)
        example = example_script(kind if kind in ("ranking", "segmentation") else spec.modality) \
            if not parent_code else ""
        contract = prompts.render("coder", f"contract_{kind}", extra_libs=libs, **contract_values(spec)) + \
            multi_note(spec)
        return prompts.render(
            "coder", "user", contract=contract,
            example=section("example", code=example) if example else "",
            problem_type=spec.problem_type, target=repr(spec.target),
            metric=spec.metric, direction="higher" if spec.higher_is_better else "lower",
            data=data or f"{spec.n_train_rows} training rows; features: {spec.feature_columns[:60]}",
            plan=plan, knowledge=knowledge,
            tried=section("tried", tried=tried) if tried and not parent_code else "",
            guidance=section("guidance", guidance=" | ".join(guidance)) if guidance else "",
            previous=section("previous", code=previous) if parent_code else "",
            diagnosis=section("diagnosis", diagnosis=diagnosis) if diagnosis else "",
            focus_note="\n\n" + focus_note if focus_block and focus_note else "",
            focus=section("focus", block=focus_block) if focus_block else "")

    def parse(self, text: str) -> CodeAnswer:
        code = extract_code(text)
        try:
            check_contract(code)
        except ValueError:
            tree = ast.parse(code)
            if any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body):
                return CodeAnswer(code=code, fragment=True)  # usable only where one block may change
            raise
        if "# <<common>>" not in code:
            code = "# <<common>>\n" + code
        return CodeAnswer(code=code)

    def fallback(self, **ctx) -> CodeAnswer:
        return CodeAnswer(code="")  # empty: the engine uses its recipe for this attempt
