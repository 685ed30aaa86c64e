"""Ablation-guided refinement (the MLE-STAR idea, decided by code): once an LLM-written script is valid,
mlwright runs variants of it with one top-level block simplified at a time, scores each variant with its own
validation, and the block whose simplification moves the score most becomes the one block the next improve
attempts may change. The refinement agent proposes the simplified blocks; its deterministic fallback derives
them from the code (hyperparameter constants back to library defaults, derived columns removed)."""
from __future__ import annotations

import ast
from typing import Literal, Optional

from pydantic import BaseModel, Field

from mlwright.llm import prompts
from mlwright.llm.agent import Agent
from mlwright.schemas import AblationResult, TaskSpec

END_OF_COMMON = "# ---- end of common block ----"
MAX_VARIANTS = 4
# keyword constants that are tuning choices: the deterministic ablation resets them to the library defaults
_TUNING = {"n_estimators", "learning_rate", "eta", "num_leaves", "max_depth", "min_child_samples",
           "min_child_weight", "min_samples_leaf", "min_samples_split", "max_features", "subsample",
           "colsample_bytree", "feature_fraction", "bagging_fraction", "reg_alpha", "reg_lambda", "lambda_l1",
           "lambda_l2", "alpha", "C", "gamma", "max_iter", "iterations", "depth", "l2_leaf_reg", "max_bin",
           "num_boost_round", "max_leaf_nodes", "min_split_gain", "n_neighbors", "l1_ratio"}
_FEATURE_BLOCK = ("feature", "prep", "transform", "engineer", "clean", "encode")


def task_part(code: str) -> str:
    """The task-specific part of a rendered script (after the common block); the whole text otherwise."""
    return code.split(END_OF_COMMON)[-1]


def as_body(code: str) -> str:
    """A rendered script back to the form the coder writes (`# <<common>>` marker + task-specific part)."""
    return "# <<common>>\n" + task_part(code).lstrip("\n") if END_OF_COMMON in code else code


def top_level_blocks(code: str) -> dict[str, str]:
    """Top-level functions and classes of the task-specific part of a script, by name."""
    body = task_part(code)
    tree = ast.parse(body)
    return {n.name: ast.get_source_segment(body, n) or "" for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def changed_outside(old: str, new: str, block: str) -> list[str]:
    """Top-level statements other than `block` that differ between two scripts (ast-equal is unchanged)."""
    def parts(code: str) -> dict[str, str]:
        out = {}
        for i, n in enumerate(ast.parse(task_part(code)).body):
            key = getattr(n, "name", None) or f"stmt{i}:{type(n).__name__}"
            out[key] = ast.dump(n)
        return out
    a, b = parts(old), parts(new)
    return sorted(k for k in set(a) | set(b) if k != block and a.get(k) != b.get(k))


def replace_block(code: str, name: str, new_src: str) -> str:
    """The script (as a coder body) with top-level function/class `name` replaced by `new_src`, which must
    define exactly that one name. Raises ValueError otherwise."""
    new_tree = ast.parse(new_src.strip("\n") + "\n")
    defs = [n for n in new_tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    if len(new_tree.body) != 1 or not defs or defs[0].name != name:
        raise ValueError(f"the replacement must define exactly the one block `{name}`")
    body = as_body(code)
    lines = body.splitlines(keepends=True)
    for node in ast.parse(body).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            return "".join(lines[:start]) + new_src.strip("\n") + "\n" + "".join(lines[node.end_lineno:])
    raise ValueError(f"the script has no top-level block `{name}`")


def merge_fragment(code: str, block: str, fragment: str) -> str:
    """The script with `block` taken from `fragment` (an answer holding only the changed block, perhaps beside
    unchanged copies of others). Raises ValueError when the fragment lacks the block or changes another one."""
    tree = ast.parse(fragment)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    if block not in defs:
        raise ValueError(f"the answer holds neither a whole script nor the block `{block}`")
    old = {n.name: ast.dump(n) for n in ast.parse(task_part(code)).body if isinstance(n, (ast.FunctionDef,
                                                                                             ast.ClassDef))}
    changed = sorted(name for name, n in defs.items() if name != block and old.get(name) != ast.dump(n))
    if changed:
        raise ValueError(f"changed code outside the chosen block `{block}`: {changed[:5]}")
    return replace_block(code, block, ast.get_source_segment(fragment, defs[block]) or "")


class _Simplify(ast.NodeTransformer):
    """Tuned keyword constants -> library defaults; in feature blocks, `frame["new column"] = ...` removed."""

    def __init__(self, drop_columns: bool):
        self.drop_columns = drop_columns
        self.defaults = 0
        self.dropped = 0

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        keep = []
        for kw in node.keywords:
            v = kw.value.operand if isinstance(kw.value, ast.UnaryOp) else kw.value
            if kw.arg in _TUNING and isinstance(v, ast.Constant) and \
                    isinstance(v.value, (int, float)) and not isinstance(v.value, bool):
                self.defaults += 1
                continue
            keep.append(kw)
        node.keywords = keep
        return node

    def visit_Assign(self, node: ast.Assign):
        self.generic_visit(node)
        t = node.targets[0]
        if self.drop_columns and len(node.targets) == 1 and isinstance(t, ast.Subscript) \
                and isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str):
            self.dropped += 1
            return ast.Pass()
        return node


def simplified_block(name: str, src: str) -> Optional[tuple[str, str]]:
    """(new source, what changed) for the deterministic ablation of one block, or None if nothing to simplify."""
    tree = ast.parse(src)
    s = _Simplify(drop_columns=any(k in name.lower() for k in _FEATURE_BLOCK))
    tree = ast.fix_missing_locations(s.visit(tree))
    if not (s.defaults or s.dropped):
        return None
    what = " and ".join(p for p in (f"{s.defaults} tuned constant(s) back to library defaults" if s.defaults else "",
                                   f"{s.dropped} derived column(s) removed" if s.dropped else "") if p)
    return ast.unparse(tree), what


class Ablation(BaseModel):
    block: str
    what: str = ""
    code: str = Field(default="", description="the whole simplified block: same name and signature")


class RefinementPlan(BaseModel):
    block: str = Field(default="", description="the block you expect to matter most (used if nothing is measured)")
    reason: str = ""
    ideas: list[str] = Field(default_factory=list)
    ablations: list[Ablation] = Field(default_factory=list)


def deterministic_ablations(code: str) -> list[Ablation]:
    out = []
    for name, src in top_level_blocks(code).items():
        simple = simplified_block(name, src)
        if simple:
            out.append(Ablation(block=name, what=simple[1], code=simple[0]))
    return out[:MAX_VARIANTS]


def _guess_block(code: str) -> str:
    """Without a measurement: a feature-preparation block, else fit."""
    names = list(top_level_blocks(code))
    prefer = [n for n in names if any(k in n.lower() for k in _FEATURE_BLOCK)]
    return (prefer or [n for n in names if n == "fit"] or names or ["fit"])[0]


class RefinementAgent(Agent[RefinementPlan]):
    role = "refinement"
    output = RefinementPlan
    max_tokens = 6000
    system = prompts.render("refinement", "system")

    def prompt(self, *, code: str, spec: TaskSpec, score: float) -> str:
        """The user prompt (template `refinement.md`): the task, the score and the script's top-level blocks."""
        blocks = top_level_blocks(code)
        listing = "\n\n".join(prompts.render("refinement", "block", name=name, source=src[:1500])
                              for name, src in blocks.items())
        return prompts.render("refinement", "user", problem_type=spec.problem_type, target=repr(spec.target),
                              metric=spec.metric, score=f"{score:.5f}",
                              direction="higher" if spec.higher_is_better else "lower", blocks=listing)

    def fallback(self, *, code: str, spec: TaskSpec, score: float) -> RefinementPlan:
        return RefinementPlan(block=_guess_block(code),
                              reason="feature preparation usually matters most on tabular data",
                              ideas=["add interaction and ratio features", "encode categoricals by target statistics"],
                              ablations=deterministic_ablations(code))

    def plan(self, *, code: str, spec: TaskSpec, score: float) -> tuple[RefinementPlan, bool]:
        """The agent's plan with only usable variants (the deterministic ones when none is)."""
        p, from_llm = self.ask(code=code, spec=spec, score=score)
        blocks = top_level_blocks(code)
        usable = []
        for a in p.ablations:
            try:
                if a.block not in blocks:
                    raise ValueError(f"unknown block {a.block!r}")
                replace_block(code, a.block, a.code)
                compile(a.code, "<ablation>", "exec")
                usable.append(a)
            except (ValueError, SyntaxError) as e:
                self.failures.add(self.role, f"ablation of {a.block!r} unusable: {str(e)[:150]}")
        if from_llm and not usable:
            usable = deterministic_ablations(code)
        if p.block not in blocks:
            p.block = _guess_block(code)
        p.ablations = usable[:MAX_VARIANTS]
        return p, from_llm


def decide_focus(results: list[AblationResult], guess: str,
                 noise: float = 0.0) -> tuple[str, Literal["ablation", "llm guess", "heuristic"]]:
    """The block whose simplification moved the score most (either way: a block that hurts also matters);
    the agent's guess when no variant was measured or none moved the score by more than `noise` (the
    score's spread over the validation rows)."""
    measured = [r for r in results if r.delta is not None]
    if measured:
        top = max(measured, key=lambda r: abs(r.delta))
        if abs(top.delta) > max(noise, 1e-12):
            return top.block, "ablation"
    return guess, "llm guess"
