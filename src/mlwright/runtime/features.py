# ---- mlwright tree features: column preparation for boosted trees, and feature groups (counts, target
# ---- encodings, text components, date spans, days) each kept only when a quick screen inside the folds says it helps
from mlwright.runtime.common import *  # noqa: F403

MAX_LEVELS = 200  # categories with more levels (seen twice or more) become counts
TE_SMOOTHING = 20.0  # a level's target mean is pulled toward the overall mean as if it had this many more rows
TE_INNER_FOLDS = 5
TE_MAX_CLASSES = 10  # one encoding column per class: beyond this many classes, too many columns
TEXT_COMPONENTS = 8
TEXT_MAX_TERMS = 20000
MAX_DATE_PAIRS = 6
SCREEN_ROWS = 20000  # the screen's rows: a fixed sample of larger tables
SCREEN_FOLDS = 3
SCREEN_SHARE = 0.2  # most of the attempt's budget the screen may take
MIN_GAIN = 2e-3  # relative to the score: a group that gains less is not worth its columns and its time
# a date's day is encoded only when at least this share of the rows to predict fall on days the training rows have:
# where they come later, the screen's random folds (which share days) would keep an encoding they never get
MIN_SEEN_DAYS = 0.5


def prepared_tables(train, test):
    """The tree recipes' start: the target (log1p of it for RMSLE), the columns prepared on the training rows."""
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    prep = TreePrep().fit(train, test)
    X, Xt = prep.transform(train), prep.transform(test)
    log(f"{len(X)} rows, {X.shape[1]} features after preparation")
    return y, y_fit, prep, X, Xt


class TreePrep:
    """Column handling learned on the training rows: categories, dates, text lengths."""

    def fit(self, X, new=None):
        """`new`: the rows to predict, when known; only their dates are read (which days they fall on)."""
        kinds = feature_kinds(X)
        self.nums, self.dates, self.texts = (columns_of(kinds, k) for k in ("numeric", "datetime", "text"))
        self.seen_days = [c for c in self.dates if new is not None and c in new.columns
                          and share_on_seen_days(X[c], new[c]) >= MIN_SEEN_DAYS]
        self.cats, self.counts = {}, {}
        for c in columns_of(kinds, "categorical"):
            top = X[c].dropna().astype(str).value_counts()
            if (top >= 2).sum() > MAX_LEVELS:
                # many levels (a plane's tail number, a street): native category splits overfit them within a few
                # rounds; how often a value occurs carries what a tree can use of them
                self.counts[c] = top
            else:
                self.cats[c] = list(top[top >= 2].index)
        return self

    def transform(self, X):
        out = {}  # built in one go: a frame grown column by column is slow on wide tables
        for c in self.nums:
            out[c] = pd.to_numeric(X[c], errors="coerce")
        for c in self.dates:
            d = pd.to_datetime(X[c], errors="coerce")  # timestamps already (perception read the dates)
            out[c + "__year"], out[c + "__month"] = d.dt.year, d.dt.month
            out[c + "__dow"], out[c + "__doy"] = d.dt.dayofweek, d.dt.dayofyear
        for c in self.texts:
            t = X[c].fillna("").astype(str)
            out[c + "__len"], out[c + "__words"] = t.str.len(), t.str.count(" ") + 1
        for c, top in self.counts.items():
            out[c + "__count"] = X[c].astype(str).map(top).where(X[c].notna()).astype(float)
        for c, levels in self.cats.items():
            out[c] = pd.Series(pd.Categorical(X[c].astype(str).where(X[c].notna(), None), categories=levels),
                               index=X.index)
        frame = pd.DataFrame(out, index=X.index)
        frame.columns = safe_names(frame.columns)
        return frame


def safe_names(cols):
    """Feature names LightGBM and XGBoost accept (no JSON punctuation such as quotes, commas and brackets, no
    '<'), unique."""
    out, seen = [], set()
    for c in cols:
        n = "".join("_" if ch in '"\',:[]{}<\\' or not ch.isprintable() else ch for ch in str(c)) or "_"
        while n in seen:
            n += "_"
        seen.add(n)
        out.append(n)
    return out


# ---- feature groups: fit(X raw rows, y) learns from training rows only; fit_transform gives the training rows
# ---- their own values (out of fold where the group reads the target); transform gives any other rows theirs
class Group:
    name = ""

    def __init__(self, columns):
        self.columns = list(columns)

    def fresh(self):
        return type(self)(self.columns)

    def fit(self, X, y):
        return self

    def fit_transform(self, X, y):
        return self.fit(X, y).transform(X)

    def transform(self, X):
        raise NotImplementedError


class Frequency(Group):
    """How common each category is among the training rows (as a share, so that a fold's values and the refit's
    are on one scale): a tree reads "rare" or "common" across levels that native category splits see apart."""
    name = "frequency"

    def fit(self, X, y):
        self.shares = {c: X[c].dropna().astype(str).value_counts() / len(X) for c in self.columns}
        return self

    def transform(self, X):
        return pd.DataFrame({c + "__freq": X[c].astype(str).map(s).fillna(0.0).where(X[c].notna()).astype(float)
                             for c, s in self.shares.items()}, index=X.index)

    def fit_transform(self, X, y):
        # a training row counts the other rows of its level, as a new row does (it is not among the counted rows):
        # counting itself too would put every training row one row above the new rows of its level
        return self.fit(X, y).transform(X) - X[self.columns].notna().to_numpy() / len(X)


def target_columns(y):
    """The target as numbers to average: the value (regression), the positive class's indicator (binary), each
    class's indicator (multiclass)."""
    if PROBLEM == "regression":
        return pd.DataFrame({"mean": np.asarray(y, dtype=float)}, index=y.index)
    classes = CLASSES[1:] if len(CLASSES) == 2 else CLASSES
    return pd.DataFrame({c: (np.asarray(y) == c).astype(float) for c in classes}, index=y.index)


class TargetEncoding(Group):
    """Each category's smoothed target mean. The rows it is learned from get out-of-fold values (inner folds):
    a row's own target never enters its value, or the model would read the target back from it."""
    name = "target"

    def fit(self, X, y):
        Y = target_columns(y)
        self.prior = Y.mean()
        self.tables = {}
        for c in self.columns:
            key = X[c].astype(str).where(X[c].notna(), "__missing__")
            sums, n = Y.groupby(key.to_numpy()).sum(), key.value_counts()
            self.tables[c] = (sums + TE_SMOOTHING * self.prior).div(n.reindex(sums.index) + TE_SMOOTHING, axis=0)
        return self

    def transform(self, X):
        out = {}
        for c, table in self.tables.items():
            key = X[c].astype(str).where(X[c].notna(), "__missing__")
            for k in table.columns:
                out[f"{c}__te_{k}"] = key.map(table[k]).fillna(self.prior[k]).astype(float)
        return pd.DataFrame(out, index=X.index)

    def fit_transform(self, X, y):
        from sklearn.model_selection import KFold

        parts = []
        for fit_rows, other in KFold(TE_INNER_FOLDS, shuffle=True, random_state=0).split(X):
            parts.append(self.fresh().fit(X.iloc[fit_rows], y.iloc[fit_rows]).transform(X.iloc[other]))
        self.fit(X, y)  # for the rows it was not learned from
        return pd.concat(parts).loc[X.index]


class TextComponents(Group):
    """A few directions of each text column's TF-IDF (words and word pairs) through truncated SVD: what the
    words say, in a handful of numbers a tree can split on."""
    name = "text"

    def fit(self, X, y):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.models = {}
        for c in self.columns:
            tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=TEXT_MAX_TERMS, sublinear_tf=True,
                                    dtype=np.float32)
            try:
                M = tfidf.fit_transform(X[c].fillna("").astype(str))
            except ValueError:  # no word seen twice
                continue
            k = min(TEXT_COMPONENTS, M.shape[1] - 1)
            if k >= 1:
                self.models[c] = (tfidf, TruncatedSVD(k, random_state=0).fit(M))
        return self

    def transform(self, X):
        out = {}
        for c, (tfidf, svd) in self.models.items():
            Z = svd.transform(tfidf.transform(X[c].fillna("").astype(str)))
            out.update({f"{c}__svd{i}": Z[:, i] for i in range(Z.shape[1])})
        return pd.DataFrame(out, index=X.index)


class DateSpans(Group):
    """Each date as days since 1970 (the parts miss the trend) and the days between pairs of dates (a stay's
    length, an account's age at an order)."""
    name = "dates"

    def transform(self, X):
        days = as_numbers(X, self.columns)
        out = {c + "__days": days[c] for c in self.columns}
        pairs = [(a, b) for i, a in enumerate(self.columns) for b in self.columns[i + 1:]][:MAX_DATE_PAIRS]
        out.update({f"{b}__minus__{a}": days[b] - days[a] for a, b in pairs})
        return pd.DataFrame(out, index=X.index)


def share_on_seen_days(train_dates, new_dates):
    """The share of the dated new rows whose calendar day some training row has."""
    days = pd.to_datetime(new_dates, errors="coerce").dropna().dt.normalize()
    seen = set(pd.to_datetime(train_dates, errors="coerce").dropna().dt.normalize())
    return float(days.isin(seen).mean()) if len(days) else 0.0


class DatePeriods(Group):
    """Each date's calendar day, target-encoded (out of fold, as TargetEncoding): rows of one day share what no
    column records (the weather, an outage, a holiday, a campaign). It helps where the rows to predict fall on the
    training rows' days (rows drawn at random from one period); where most come after them (a later period) it is
    not offered (TreePrep.seen_days, MIN_SEEN_DAYS): the screen's random folds share days and would keep it."""
    name = "periods"

    def days(self, X):
        return pd.DataFrame({c + "__day": pd.to_datetime(X[c], errors="coerce").dt.strftime("%Y-%m-%d")
                             for c in self.columns}, index=X.index)

    def encoder(self):
        self.te = TargetEncoding([c + "__day" for c in self.columns])
        return self.te

    def fit(self, X, y):
        self.encoder().fit(self.days(X), y)
        return self

    def transform(self, X):
        return self.te.transform(self.days(X))

    def fit_transform(self, X, y):  # out of fold for these rows (TargetEncoding's inner folds)
        return self.encoder().fit_transform(self.days(X), y)


def candidate_groups(prep):
    """The groups that apply to these columns, in the order they are screened."""
    cats = list(prep.cats) + list(prep.counts)
    groups = [Frequency(list(prep.cats)), TextComponents(prep.texts), DateSpans(prep.dates)]
    if PROBLEM == "regression" or len(CLASSES) <= TE_MAX_CLASSES:
        groups.insert(1, TargetEncoding(cats))
        groups.append(DatePeriods(prep.seen_days))
    return [g for g in groups if g.columns]


def learned_features(groups, raw, y, fit_rows):
    """(every row's features from the groups, the fitted groups), each group learned on fit_rows only: those rows
    get their fit_transform values (out of fold where a group reads the target), the others transform's."""
    fitted, parts = [], []
    fit_rows = np.asarray(fit_rows)
    for g in groups:
        g = g.fresh()
        own = g.fit_transform(raw.iloc[fit_rows], y.iloc[fit_rows])
        part = g.transform(raw)
        part.iloc[fit_rows] = own.to_numpy()
        parts.append(part)
        fitted.append(g)
    return (pd.concat(parts, axis=1) if parts else pd.DataFrame(index=raw.index)), fitted


def applied_features(fitted, raw):
    """The fitted groups' features of new rows (the test table, rows to predict)."""
    return pd.concat([g.transform(raw) for g in fitted], axis=1) if fitted else pd.DataFrame(index=raw.index)


def with_features(X, extra):
    out = pd.concat([X, extra.set_axis(X.index)], axis=1)
    out.columns = safe_names(out.columns)
    return out


def screen_groups(groups, X, raw, y, y_fit, quick, budget_s, seed=0):
    """(the groups kept, a record per group). Forward selection on a fixed sample: each group in turn is added to
    those kept so far and kept when the task's metric over SCREEN_FOLDS folds says it helps (helps()). The groups
    are learned on each screen fold's training rows only.
    quick(X, y_fit, fit_rows, score_rows, deadline) -> predictions of score_rows: a cheap model of the recipe's
    kind. Groups that the budget_s seconds cannot take are skipped, with a note."""
    start = time.time()
    if budget_s < 1:
        return [], [{"group": g.name, "columns": g.columns, "score_without": None, "score_with": None, "kept": False,
                     "note": "skipped: no time left for the screen"} for g in groups]
    rows = np.arange(len(X))
    if len(rows) > SCREEN_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SCREEN_ROWS, replace=False))
    splits = [(rows[a], rows[b]) for a, b in cv_splits(X.iloc[rows], y.iloc[rows], SCREEN_FOLDS, seed)]

    sign = 1.0 if SPEC["higher_is_better"] else -1.0  # task_score is higher-is-better; the records: the metric's

    def scores(chosen):
        out = []
        for tr, va in splits:
            extra, _ = learned_features(chosen, raw, y_fit, tr)
            pred = quick(with_features(X, extra), y_fit, tr, va, start + budget_s)
            out.append(task_score(y.iloc[va], pred))
        return np.asarray(out)

    t = time.time()
    base = scores([])
    cost = time.time() - t  # a screen with a group costs about this and the group's own work more
    kept, records = [], []
    for g in groups:
        rec = {"group": g.name, "columns": g.columns, "score_without": sign * float(base.mean()),
               "score_with": None, "kept": False}
        if time.time() + 2 * cost > start + budget_s:
            records.append(dict(rec, note=f"skipped: the screen's {budget_s:.0f}s were spent"))
            continue
        s = scores(kept + [g])
        keep = helps(s - base, base)
        records.append(dict(rec, score_with=sign * float(s.mean()), kept=bool(keep)))
        log(f"feature work: {g.name} on {len(g.columns)} column(s): {SPEC['metric']} {sign * base.mean():.5f} -> "
            f"{sign * s.mean():.5f}, "
            f"{'kept' if keep else 'dropped'}")
        if keep:
            kept.append(g)
            base = s
    return kept, records


def helps(gain, base):
    """A group is kept when its gain over the screen's folds is above MIN_GAIN, above one standard error of the
    mean (the folds' differences say how noisy the screen is) and positive in most folds."""
    noise = gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else 0.0
    return bool(gain.mean() > max(MIN_GAIN * abs(base.mean()), noise) and 2 * (gain > 0).sum() > len(gain))


def chosen_feature_work(prep, X, raw, y, y_fit, quick, out_dir, seed=0):
    """The feature groups this attempt uses, screened; feature_work.json records what was tried (the report's
    "Feature work" table). PARAMS feature_work=False turns the screen off (no groups); feature_groups=[names]
    takes those groups unscreened."""
    groups = candidate_groups(prep) if PARAMS.get("feature_work", True) else []
    if PARAMS.get("feature_groups") is not None:  # chosen already (another seed of a screened attempt)
        return [g for g in groups if g.name in PARAMS["feature_groups"]]
    if not groups:
        return []
    t = time.time()
    budget = SCREEN_SHARE * float(PARAMS.get("time_budget", 600)) - (t - T0)
    kept, records = screen_groups(groups, X, raw, y, y_fit, quick, budget, seed)
    # the screen's seconds: the planner prices a further seed (which screens nothing) without them
    with open(os.path.join(out_dir, "feature_work.json"), "w") as f:
        json.dump({"metric": SPEC["metric"], "higher_is_better": SPEC["higher_is_better"], "screen_folds": SCREEN_FOLDS,
                   "screen_rows": min(len(X), SCREEN_ROWS), "seconds": round(time.time() - t, 2), "groups": records},
                  f, indent=1)
    return kept


def cross_fit(X, raw, y_fit, groups, folds, fit_one, predict_one):
    """Out-of-fold predictions with the groups learned inside each fold (on its training rows only).
    fit_one(X with the fold's features, training rows, fold index) -> (model, best rounds, rows it was fitted on);
    predict_one(model, X) -> predictions. Returns (scored rows, predictions, best rounds, fit sizes)."""
    parts, rows, best, sizes = [], [], [], []
    for i, (tr, va) in enumerate(folds):
        extra, _ = learned_features(groups, raw, y_fit, tr)
        Xf = with_features(X, extra)
        m, n_best, n_fit = fit_one(Xf, tr, i)
        parts.append(predict_one(m, Xf.iloc[va]))
        rows.append(va)
        best.append(n_best)
        sizes.append(n_fit)
    oof = np.concatenate(parts) if PROBLEM == "regression" else pd.concat(parts, ignore_index=True)
    return np.concatenate(rows), oof, best, sizes
