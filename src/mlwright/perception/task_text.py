"""What the user's words say about the task: output file, output columns, metric, probabilities, target."""
from __future__ import annotations

import re
from typing import Optional

from pydantic import BaseModel, Field

# (metric, patterns) - the first matching entry wins, so specific names come before general ones
_METRIC_PATTERNS: list[tuple[str, list[str]]] = [
    ("mase", [r"\bmase\b", r"mean absolute scaled error"]),
    ("rmsle", [r"\brmsle\b", r"root[- ]mean[- ]squared?[- ]log", r"mean squared log(arithmic)? error",
               r"rmse (on|of) (the )?log", r"log of the (price|target|value)"]),
    ("log_loss", [r"\blog[- ]?loss\b", r"\bcross[- ]entropy\b", r"\blogarithmic loss\b"]),
    ("roc_auc", [r"\broc[- _]?auc\b", r"\bauc\b", r"area under (the )?(roc )?curve"]),
    ("balanced_accuracy", [r"balanced[- ]accuracy"]),
    ("macro_f1", [r"macro[- _]?f1", r"\bf1\b", r"f[- ]score"]),
    ("accuracy", [r"\baccuracy\b"]),
    ("mape", [r"\bmape\b", r"mean absolute percentage error"]),
    ("mae", [r"\bmae\b", r"mean absolute error"]),
    ("rmse", [r"\brmse\b", r"root[- ]mean[- ]squared?[- ]error"]),
    ("mse", [r"\bmse\b", r"(?<!root )mean squared error"]),
    ("r2", [r"\br2\b", r"r²", r"r-squared", r"coefficient of determination"]),
]


_FILE = re.compile(r"`?([\w\-./]*[\w\-]\.(?:csv|tsv|parquet|json|jsonl|txt))\b`?", re.I)
_WRITE_VERB = re.compile(r"\b(write|save|output|produce|create|return|submit|give me|store|export|"
                         r"écri\w*|ecri\w*|enregistr\w*|sauvegard\w*|schreib\w*|speicher\w*|erstell\w*|"
                         r"escrib\w*|guard\w*|salv\w*|gener\w*)\b", re.I)
# "columns" in the languages users write tasks in (English, French, German, Spanish/Portuguese, Italian, Dutch)
_COLUMNS_WORD = r"(?:columns?|colonnes?|spalten?|columnas?|colunas?|colonne|kolom(?:men)?)"
_IDENT = re.compile(r"^[A-Za-z_][\w .\-()/%]*$")
_CLASSIFY_WORDS = re.compile(r"\b(classif\w*|categor\w*|which (class|type|kind|species|category)|label|"
                             r"probabilit\w*|likely|whether|yes or no|churn|fraud|detect)\b", re.I)
_REGRESS_WORDS = re.compile(r"\b(how (much|many)|price|amount|regress\w*|estimate the (value|number)|"
                            r"sales|revenue|cost|duration|quantity|forecast)\b", re.I)


_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
                 "fifteen": 15, "sixteen": 16, "eighteen": 18, "twenty": 20, "twenty-four": 24, "thirty": 30,
                 "sixty": 60, "ninety": 90}
_UNITS = r"(hours?|days?|weeks?|months?|quarters?|years?|periods?|steps?|time[- ]steps?|points?)"
_COUNT = r"(\d{1,4}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
# "the next 12 months", "next month", "6 months ahead", "a 14-day horizon", "horizon of 8 weeks", "horizon: 3"
_HORIZON_PATTERNS = [
    rf"\b(?:next|following|coming|upcoming|subsequent)\s+(?:{_COUNT}\s+)?{_UNITS}\b",
    rf"\b{_COUNT}[\s-]+{_UNITS}\s+(?:ahead|out|into the future|forward|horizon)\b",
    rf"\b{_COUNT}[\s-]+{_UNITS}[\s-]+(?:ahead\s+)?(?:horizon|forecasts?)\b",
    rf"\bhorizon\s*(?:of|=|:|is)?\s*{_COUNT}(?:\s+{_UNITS})?\b",
]
_FORECAST_WORDS = re.compile(r"\b(forecast\w*|future|ahead|projections?|predict\w* (?:the )?(?:next|coming))\b", re.I)


def _horizon(text: str) -> tuple[Optional[int], Optional[str]]:
    """(number of units, unit) of the forecast horizon the words give: 'next 12 months' -> (12, 'month')."""
    for pat in _HORIZON_PATTERNS:
        m = re.search(pat, text, re.I)
        if not m:
            continue
        count = next((g for g in m.groups() if g and re.fullmatch(_COUNT, g, re.I)), None)
        unit = next((g for g in m.groups() if g and re.fullmatch(_UNITS, g, re.I)), None)
        n = 1 if count is None else int(count) if count.isdigit() else _NUMBER_WORDS[count.lower()]
        if unit is None:
            return n, None
        unit = re.sub(r"s$", "", unit.lower().replace("time-", "").replace("time ", ""))
        return n, "period" if unit in ("period", "step", "point") else unit
    return None, None


class TextHints(BaseModel):
    text: str
    prediction_file: Optional[str] = None
    output_columns: list[str] = Field(default_factory=list)
    metric: Optional[str] = None
    wants_probabilities: bool = False
    classification_words: bool = False
    regression_words: bool = False
    backticked: list[str] = Field(default_factory=list)
    # forecasting: "forecast the next 12 months" -> horizon 12, unit "month" (period/step/point -> "period")
    horizon: Optional[int] = None
    horizon_unit: Optional[str] = None
    forecast_words: bool = False
    named_target: Optional[str] = None  # "predict `churn`": a quoted name right after a verb of predicting
    asked: Optional[str] = None  # the words right after a verb of predicting ("which customers leave")


    def asks_to_predict(self, name: str) -> bool:
        """Whether the text names this as the thing to predict: a verb of predicting, then the name (quoted or not)."""
        return bool(re.search(_PREDICT_VERBS + r"\s+(?:the\s+|an?\s+|le\s+|la\s+|les\s+|die\s+|den\s+|das\s+|"
                              r"el\s+|o\s+|il\s+)?[`\"']?" + re.escape(name) + r"(?![\w])", self.text, re.I))

    def mentions(self, name: str) -> bool:
        """Whether the text names this column (as a word, case-insensitive)."""
        if name in self.backticked:
            return True
        return bool(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", self.text, re.I))


def _split_columns(chunk: str) -> list[str]:
    chunk = chunk.strip().strip("`'\"")
    parts = re.split(r"\s*(?:,|\b(?:and|et|und|y)\b|\s&\s|;)\s*", chunk)
    out = [p.strip().strip("`'\"").strip() for p in parts]
    return [p for p in out if p and _IDENT.match(p) and len(p) <= 60]


_SINGLE_COLUMN = re.compile(r"\b(?:a single|single|one|only one|only the|just the|just one|only a)\s+column\s+"
                            r"(?:named\s+|called\s+)?[`'\"]?([A-Za-z_][\w\-]*)[`'\"]?", re.I)
_NOT_A_NAME = {"per", "for", "with", "of", "each", "that", "which", "the", "a", "an", "to", "in", "and", "only"}


def _output_columns(text: str) -> list[str]:
    starts = re.finditer(rf"\b{_COLUMNS_WORD}\b\s*(?:named|called|:)?\s*|\.(?:csv|tsv)`?\s+(?:with|avec|mit|con|com)\s+"
                         r"(?=[`\w]+\s*,)", text, re.I)
    for m in starts:
        rest = text[m.end(): m.end() + 160]
        tick = re.match(r"`([^`]+)`((?:\s*(?:,|and)\s*`[^`]+`)*)", rest)
        if tick:
            cols = _split_columns(tick.group(1)) + re.findall(r"`([^`]+)`", tick.group(2) or "")
            cols = [c for c in (x.strip() for x in cols) if c]
            if cols and not (len(cols) == 1 and "," not in tick.group(1) and not tick.group(2)):
                return cols
        # plain words: stop at punctuation that ends the list (a closing bracket too: "(columns a, b)")
        plain = re.split(r"[()\n.:]|\b(?:where|with|in|for|one row|pour|où|avec|für|mit|para|con|dans)\b", rest,
                         maxsplit=1)[0]
        cols = []
        for c in _split_columns(plain):
            if " " in c:
                break
            cols.append(c)
        if len(cols) >= 2:
            return cols
    one = _SINGLE_COLUMN.search(text)  # "a single column price": no key column, rows in the test file's order
    if one and one.group(1).lower() not in _NOT_A_NAME:
        return [one.group(1)]
    return []


def _prediction_file(text: str, data_files: set[str]) -> Optional[str]:
    best = None
    for m in _FILE.finditer(text):
        name = m.group(1).strip().split("/")[-1].strip()
        if name.lower() in data_files or "sample" in name.lower():
            continue
        before = text[max(0, m.start() - 80): m.start()]
        if _WRITE_VERB.search(before) or re.search(r"\b(as|to|into|named|called)\s*`?$", before.strip() + " ", re.I):
            return name
        best = best or name
    return best


_PREDICT_VERBS = (r"\b(?:predict|forecast|estimate|classify|model|pr[ée]di(?:re|s|sez)|pr[ée]voir|vorhersagen|"
                  r"prognostizieren|predecir|predizer|prever|prevedere)")
_ASKED = re.compile(_PREDICT_VERBS + r"\s+([^.;:,\n]{1,60})", re.I)
_NAMED_TARGET = re.compile(_PREDICT_VERBS + r"\s+(?:the\s+|le\s+|la\s+|"
                           r"les\s+|die\s+|den\s+|das\s+|el\s+|o\s+|a\s+|il\s+)?[`\"']([^`\"'\n]{1,60})[`\"']", re.I)


def parse_task_text(text: str, data_files: list[str] | None = None) -> TextHints:
    files = {f.split("/")[-1].split("#")[0].lower() for f in (data_files or [])}
    lowered = text.lower()
    horizon, unit = _horizon(text)
    metric = None
    for name, pats in _METRIC_PATTERNS:
        if any(re.search(p, lowered) for p in pats):
            metric = name
            break
    return TextHints(
        text=text,
        prediction_file=_prediction_file(text, files),
        output_columns=_output_columns(text),
        metric=metric,
        wants_probabilities=bool(re.search(r"probabilit|likelihood|\bchance\b|\bscore between 0 and 1|\bin \[0, ?1\]",
                                           lowered)),
        classification_words=bool(_CLASSIFY_WORDS.search(text)),
        regression_words=bool(_REGRESS_WORDS.search(text)),
        backticked=[b.strip() for b in re.findall(r"`([^`\n]{1,60})`", text)],
        horizon=horizon,
        horizon_unit=unit,
        forecast_words=bool(_FORECAST_WORDS.search(text)) or horizon is not None,
        named_target=(m.group(1).strip() if (m := _NAMED_TARGET.search(text)) else None),
        asked=(m.group(1).strip() if (m := _ASKED.search(text)) else None),
    )
