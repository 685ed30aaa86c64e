"""Command line: `mlwright run`, `mlwright predict`, `mlwright show`, `mlwright demo-data`."""
from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.prompt import Prompt

from mlwright.errors import MlwrightError
from mlwright.planning.defaults import DEFAULT_SEEDS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="mlwright: point it at a folder of data, say what you want, get validated predictions.")
# progress and messages go to stderr, results to stdout; piped, a line is never wrapped
err = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from mlwright import __version__

        print(f"mlwright {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print mlwright's version and exit.")) -> None:
    """mlwright: point it at a folder of data, say what you want, get validated predictions."""


def _result(summary, as_json: bool) -> None:
    """A finished run's result, on stdout: one block of plain lines, or run.json's content with --json."""
    if as_json:
        print(summary.model_dump_json(indent=1))
        return
    b = summary.best
    print(f"done in {summary.wall_seconds:.0f}s: {summary.prediction_path}")
    print(f"validation {b.metric}={b.validation_score:.5f} (attempt {b.attempt_id}, {b.recipe})")
    print(f"report: {summary.report}\nmodel: {summary.model_dir}\nscript: {summary.solution_script}")


def _fail(e: MlwrightError) -> None:
    err.print(f"[bold red]error:[/] {e.render()}", highlight=False)
    raise typer.Exit(e.exit_code)


def _fail_if_disk_full(e: Exception, where: Optional[Path]) -> None:
    """A full disk (or quota) is the user's to fix, not a crash: a clear error; anything else is re-raised."""
    full = (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        isinstance(e, sqlite3.OperationalError) and "disk is full" in str(e))
    if not full:
        raise e
    _fail(MlwrightError(f"No space left on the disk: {e}", where=str(where) if where else None,
                        hint="Free some space (or use a folder on another disk), then `mlwright resume` the run."))


def _ask(question: str, candidates: list[str]) -> str:
    err.print(f"[bold yellow]?[/] {question}")
    if not candidates:
        return Prompt.ask("your answer", console=err).strip()
    for i, c in enumerate(candidates, 1):
        err.print(f"  {i}. {c}")
    while True:
        ans = Prompt.ask("number or name", console=err).strip()
        if ans.isdigit() and 1 <= int(ans) <= len(candidates):
            return candidates[int(ans) - 1]
        if ans in candidates:
            return ans


def _seeds_option():
    return typer.Option(DEFAULT_SEEDS, "--seeds", min=0, envvar="MLWRIGHT_SEEDS",
                        help="Time left after every planned recipe: up to this many further seeds of each of the two "
                             "best seeded recipes, each averaged with its first attempt in the blend; time still left "
                             "after those grows the bags up to three times as many (0: none; the run ends early).")


def _exclude_option():
    return typer.Option("", "--exclude-recipes", envvar="MLWRIGHT_EXCLUDE_RECIPES",
                        help="Recipes never to run, comma-separated (e.g. catboost_light,xgboost_light); "
                             "an unknown name is an error that lists them.")


def _recipe_list(text: str) -> list[str]:
    """--exclude-recipes' names, checked: an unknown name is an error that lists the recipes."""
    from mlwright.knowledge.library import recipe_list, unknown_recipes_message

    names = recipe_list(text)
    problem = unknown_recipes_message(names)
    if problem:
        _fail(MlwrightError(problem, where="--exclude-recipes", hint="Check the names' spelling."))
    return names


@app.command()
def run(
    data_dir: Path = typer.Argument(..., help="Folder (or file/archive) with the raw data. Never modified."),
    task: Optional[str] = typer.Option(None, "--task", help="What you want, in plain words."),
    task_file: Optional[Path] = typer.Option(None, "--task-file", help="A file holding the task description."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="New (or empty) folder for this run."),
    time_limit: float = typer.Option(300, "--time-limit", min=10, help="Wall-clock budget in seconds."),
    target: Optional[str] = typer.Option(None, "--target", help="The column to predict, when the task is ambiguous."),
    id_column: Optional[str] = typer.Option(None, "--id", help="The column that identifies the rows to predict."),
    test: Optional[str] = typer.Option(None, "--test", help="The file (or file#sheet) holding the rows to predict."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say how the task is understood (as `explain`)."),
    interactive: bool = typer.Option(False, "--interactive", help="Ask when something is ambiguous."),
    memory_limit: Optional[float] = typer.Option(None, "--memory-limit", help="Memory cap (MB) for each attempt."),
    llm: Optional[str] = typer.Option(None, "--llm", help="LLM provider: none (the offline expert engine; default "
                                      "unless configured), openai, anthropic, bedrock, openai-compatible."),
    model: Optional[str] = typer.Option(None, "--model", help="LLM model name (any the provider serves)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (Ollama, vLLM...)."),
    region: Optional[str] = typer.Option(None, "--region", help="AWS region for Bedrock."),
    max_llm_cost: Optional[float] = typer.Option(None, "--max-llm-cost", help="Stop LLM use past this cost (USD)."),
    max_llm_tokens: Optional[int] = typer.Option(None, "--max-llm-tokens", help="Stop LLM use past this many tokens."),
    max_llm_attempts: Optional[int] = typer.Option(None, "--max-llm-attempts", min=0,
                                                   help="At most this many LLM-written attempts (default: as many "
                                                        "as the time limit and the LLM budgets allow)."),
    llm_timeout: Optional[float] = typer.Option(None, "--llm-timeout", min=1,
                                                help="Seconds to wait for one LLM answer (default 120)."),
    llm_retries: Optional[int] = typer.Option(None, "--llm-retries", min=0,
                                              help="Retries of a failed LLM call: rate limits, resets, server "
                                                   "errors (default 4; a timed-out call is resent once at most)."),
    config: Optional[Path] = typer.Option(None, "--config",
                                          help="Settings file (default: ./mlwright.yaml if present)."),
    no_autogluon: bool = typer.Option(False, "--no-autogluon", help="Use only the light recipes."),
    seeds: int = _seeds_option(),
    exclude_recipes: str = _exclude_option(),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run each attempt on this Ray cluster "
                                              "(auto, HOST:PORT or ray://HOST:10001; needs mlwright[ray]); the run "
                                              "folder, the journal and validation stay here."),
    parallel_attempts: int = typer.Option(1, "--parallel-attempts", min=1,
                                          help="Attempts at a time, each with its share of the cores and memory "
                                               "(default 1: one after another)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's summary (run.json) as the result."),
    ray_cpus_per_attempt: float = typer.Option(1.0, "--ray-cpus-per-attempt", min=0.1,
                                               help="CPUs each attempt asks of the Ray cluster."),
    ray_placement_group: Optional[str] = typer.Option(None, "--ray-placement-group", hidden=True,
                                                      help="The run's reserved envelope (set by mlwright batch)."),
) -> None:
    """Understand the data and the task, write, run and validate solutions, keep the best."""
    from mlwright.engine import Run, RunOptions
    from mlwright.progress import LiveProgress

    if (task is None) == (task_file is None):
        _fail(MlwrightError("Give the task with exactly one of --task TEXT or --task-file FILE."))
    if task_file is not None:
        if not task_file.is_file():
            _fail(MlwrightError(f"Task file not found: {task_file}"))
        task = task_file.read_text(errors="replace")
    if not task or not task.strip():
        _fail(MlwrightError("The task text is empty.", hint="Say what to predict, e.g. --task \"predict price\"."))
    if dry_run:
        _explain(data_dir, task, target, id_column, test, as_json=False)
        return
    if output is None:
        _fail(MlwrightError("Missing --output FOLDER (a new or empty folder for this run)."))
    if not data_dir.exists():  # before any run folder exists: a failed pre-check leaves nothing behind
        _fail(MlwrightError(f"Data folder does not exist: {data_dir}", hint="Check the path."))
    from mlwright.llm import load_settings
    from mlwright.llm.settings import cluster_address

    try:
        settings = load_settings({"provider": llm, "model": model, "base_url": base_url, "region": region,
                                  "max_cost_usd": max_llm_cost, "max_tokens_total": max_llm_tokens,
                                  "llm_timeout": llm_timeout, "llm_retries": llm_retries}, config)
    except (ValueError, OSError) as e:
        _fail(MlwrightError(f"Invalid LLM settings: {e}", hint="Check --llm/--model/--config and mlwright.yaml."))
    if ray_address is None:
        try:
            ray_address = cluster_address(config)
        except (ValueError, OSError) as e:
            _fail(MlwrightError(f"Invalid cluster settings: {e}", hint="Check `cluster:` in mlwright.yaml."))
    if settings.available and not settings.model:
        _fail(MlwrightError(f"--llm {settings.provider} needs a model name.", hint="Add --model NAME."))
    opts = RunOptions(data_dir=data_dir, task_text=task, output_dir=output, time_limit=time_limit, target=target,
                      id_column=id_column, test=test, interactive=interactive, memory_limit_mb=memory_limit,
                      llm_settings=settings, max_llm_attempts=max_llm_attempts, ray_address=ray_address,
                      use_autogluon=False if no_autogluon else None, parallel_attempts=parallel_attempts,
                      seeds=seeds, exclude_recipes=_recipe_list(exclude_recipes),
                      ray_cpus_per_attempt=ray_cpus_per_attempt, ray_placement_group=ray_placement_group)
    import signal

    def _terminate(signum, frame):  # a cancel (SIGTERM) ends like Ctrl-C: journal kept, attempt killed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        with LiveProgress(time_limit, console=err) as progress:
            summary = Run(opts, emit=progress, ask=_ask).execute()
    except MlwrightError as e:
        _fail(e)
    except (OSError, sqlite3.OperationalError) as e:
        _fail_if_disk_full(e, output)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]; the journal and run.json in the output folder keep what was done")
        raise typer.Exit(130) from None
    if summary.task and summary.task.ids_numbered:
        err.print(f"[yellow]note:[/] the rows to predict carry no id column; the ids in {summary.task.prediction_file} "
                  "are row numbers (0..n-1, in the test file's order) that mlwright made", highlight=False)
    _result(summary, as_json)


def _explain(data_dir: Path, task: str, target: Optional[str], id_column: Optional[str], test: Optional[str],
             as_json: bool) -> None:
    from mlwright.explain import explain as understand, render

    try:
        ex = understand(data_dir, task, target=target, id_column=id_column, test=test)
    except MlwrightError as e:
        _fail(e)
    if as_json:
        print(ex.model_dump_json(indent=1))
        return
    for line in render(ex):
        Console(highlight=False, soft_wrap=True).print(line, markup=False)


@app.command()
def explain(
    data_dir: Path = typer.Argument(..., help="Folder (or file/archive) with the raw data. Never modified."),
    task: Optional[str] = typer.Option(None, "--task", help="What you want, in plain words."),
    task_file: Optional[Path] = typer.Option(None, "--task-file", help="A file holding the task description."),
    target: Optional[str] = typer.Option(None, "--target", help="The column to predict."),
    id_column: Optional[str] = typer.Option(None, "--id", help="The column that identifies the rows to predict."),
    test: Optional[str] = typer.Option(None, "--test", help="The file (or file#sheet) holding the rows to predict."),
    as_json: bool = typer.Option(False, "--json", help="Print the understood task as JSON."),
) -> None:
    """Say how the folder and the task are understood (files, columns, target, id, keys, metric, output), with
    the evidence for each decision, without fitting anything."""
    if (task is None) == (task_file is None):
        _fail(MlwrightError("Give the task with exactly one of --task TEXT or --task-file FILE."))
    if task_file is not None:
        if not task_file.is_file():
            _fail(MlwrightError(f"Task file not found: {task_file}"))
        task = task_file.read_text(errors="replace")
    _explain(data_dir, task, target, id_column, test, as_json)


@app.command()
def resume(
    run_dir: Path = typer.Argument(..., help="An interrupted (killed or cancelled) run folder."),
    no_autogluon: bool = typer.Option(False, "--no-autogluon", help="Use only the light recipes."),
    seeds: int = _seeds_option(),
    exclude_recipes: str = _exclude_option(),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run the remaining attempts on this Ray "
                                              "cluster (default: `cluster:` in mlwright.yaml, else this machine)."),
    parallel_attempts: int = typer.Option(1, "--parallel-attempts", min=1, help="Attempts at a time."),
) -> None:
    """Continue an interrupted run in its own folder, with the time it had left (offline engine)."""
    from mlwright.engine import Run, RunOptions, load_summary
    from mlwright.llm.settings import cluster_address
    from mlwright.progress import LiveProgress

    try:
        prev = load_summary(run_dir)
        try:
            ray_address = ray_address or cluster_address(None)
        except (ValueError, OSError) as e:
            raise MlwrightError(f"Invalid cluster settings: {e}", hint="Check `cluster:` in mlwright.yaml.") from e
        opts = RunOptions(data_dir=Path(prev.data_dir), task_text=prev.task_text, output_dir=run_dir,
                          time_limit=prev.time_limit_s, resume=True, use_autogluon=False if no_autogluon else None,
                          seeds=seeds, exclude_recipes=_recipe_list(exclude_recipes), ray_address=ray_address,
                          parallel_attempts=parallel_attempts)
        with LiveProgress(prev.time_limit_s, console=err) as progress:
            summary = Run(opts, emit=progress).execute()
    except MlwrightError as e:
        _fail(e)
    except (OSError, sqlite3.OperationalError) as e:
        _fail_if_disk_full(e, run_dir)
    _result(summary, as_json=False)


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A succeeded run folder."),
    new_data: Path = typer.Argument(..., help="A file (or folder with one table) of new rows."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the predictions (CSV)."),
) -> None:
    """Apply a run's saved model to new rows."""
    from mlwright.predict import predict_new

    try:
        path = predict_new(run_dir, new_data, output)
    except MlwrightError as e:
        _fail(e)
    err.print(f"[green]wrote[/] {path}")


@app.command()
def show(run_dir: Path = typer.Argument(..., help="A run folder."),
         as_json: bool = typer.Option(False, "--json", help="Print run.json and the attempts as JSON.")) -> None:
    """Print a run's summary."""
    import json

    from rich.table import Table

    from mlwright.catalog import RunFolder

    folder = RunFolder(run_dir)
    try:
        s = folder.summary()
        attempts = folder.attempts()
    except MlwrightError as e:
        _fail(e)
    if as_json:
        print(json.dumps({"run": s.model_dump(mode="json"), "attempts": [a.model_dump(mode="json")
                                                                         for a in attempts]}, indent=1))
        return
    out = Console(soft_wrap=True)
    out.print(f"[bold]{run_dir}[/]: {s.status}  wall {s.wall_seconds:.0f}s / limit {s.time_limit_s:.0f}s")
    if s.task:
        out.print(f"task: {s.task.problem_type} on {s.task.target!r}, metric {s.task.metric}, "
                  f"file {s.task.prediction_file} {s.task.output_columns}")
    if s.best:
        out.print(f"best: attempt {s.best.attempt_id} ({s.best.recipe}) {s.best.metric}={s.best.validation_score:.5f}")
    if s.error:
        out.print(f"[red]error:[/] {s.error}")
    if folder.journal_path.is_file():
        t = Table("#", "recipe", "status", "score", "seconds", "error")
        for a in attempts:
            t.add_row(str(a.attempt_id), a.recipe, a.status, "-" if a.score is None else f"{a.score:.5f}",
                      f"{a.seconds or 0:.0f}", (a.error or "")[:80])
        out.print(t)


@app.command("runs")
def list_runs(root: Path = typer.Argument(Path("runs"), help="Folder holding run folders (searched 2 levels deep)."),
              as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON (one object each).")):
    """List the runs under a folder, newest first."""
    import json

    from rich.table import Table

    from mlwright.catalog import find_runs

    if as_json:
        print(json.dumps([{"run": str(path), "status": s.status,
                           "problem_type": s.task.problem_type if s.task else None,
                           "target": s.task.target if s.task else None, "metric": s.task.metric if s.task else None,
                           "validation_score": s.best.validation_score if s.best else None,
                           "wall_seconds": s.wall_seconds} for path, s in find_runs(root)], indent=1))
        return
    t = Table("run", "status", "task", "metric", "score", "wall s")
    for path, s in find_runs(root):
        task = f"{s.task.problem_type} {s.task.target!r}" if s.task else "-"
        score = f"{s.best.validation_score:.5f}" if s.best else "-"
        t.add_row(str(path), s.status, task, s.task.metric if s.task else "-", score, f"{s.wall_seconds:.0f}")
    Console(soft_wrap=True).print(t)  # full run paths, never cut


@app.command()
def batch(
    tasks_dir: Path = typer.Argument(..., help="A folder of task folders, each holding a description (description.md, "
                                     "task.md, description.txt or task.txt) and its data (data/ or the folder)."),
    output: Path = typer.Option(..., "--output", "-o", help="A new or empty folder: one run folder per task."),
    time_limit: float = typer.Option(300, "--time-limit", min=10, help="Wall-clock budget of each run, in seconds."),
    parallel: str = typer.Option("1", "--parallel", help="Runs at a time (each gets the whole time limit), or "
                                 "auto: as many as the Ray cluster has envelopes for (one on this machine)."),
    parallel_attempts: int = typer.Option(1, "--parallel-attempts", min=1, help="Attempts at a time in each run."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run on this Ray cluster: each run in a "
                                              "placement group of --parallel-attempts CPUs, started once placed."),
    ray_cpus_per_attempt: float = typer.Option(1.0, "--ray-cpus-per-attempt", min=0.1,
                                               help="CPUs each attempt asks of the Ray cluster."),
    no_autogluon: bool = typer.Option(False, "--no-autogluon", help="Use only the light recipes."),
    run_arg: list[str] = typer.Option([], "--run-arg", help="An extra argument for every `mlwright run` "
                                      "(repeatable; e.g. --run-arg=--llm --run-arg=openai)."),
) -> None:
    """Run every task of a folder (one `mlwright run` each) and write one summary table (batch.json, batch.csv)."""
    from rich.table import Table

    from mlwright.batch import run_batch

    args = ["--time-limit", str(time_limit), *(["--no-autogluon"] if no_autogluon else []),
            *(["--parallel-attempts", str(parallel_attempts)] if parallel_attempts > 1 else []), *run_arg]
    if parallel != "auto" and not (parallel.isdigit() and int(parallel) >= 1):
        _fail(MlwrightError(f"--parallel takes a number of runs or auto, not {parallel!r}."))

    def done(row) -> None:
        score = f"{row.metric}={row.validation_score:.5f}" if row.validation_score is not None else row.error or ""
        err.print(f"{row.task}: {row.status} {score} ({row.wall_seconds:.0f}s)", highlight=False)

    try:
        rows = run_batch(tasks_dir, output, args, parallel=None if parallel == "auto" else int(parallel),
                         on_done=done, ray_address=ray_address, parallel_attempts=parallel_attempts,
                         cpus_per_attempt=ray_cpus_per_attempt)
    except MlwrightError as e:
        _fail(e)
    t = Table("task", "status", "metric", "score", "best recipe", "attempts", "wall s")
    for r in rows:
        t.add_row(r.task, r.status, r.metric or "-", f"{r.validation_score:.5f}" if r.validation_score is not None
                  else "-", r.best_recipe or "-", str(r.attempts if r.attempts is not None else "-"),
                  f"{r.wall_seconds:.0f}" if r.wall_seconds is not None else "-")
    Console().print(t)
    err.print(f"summary: {output / 'batch.csv'}")
    if any(r.status not in ("succeeded", "skipped") for r in rows):
        raise typer.Exit(1)


# -- the web UI and the MCP server (issue 5): both start runs through mlwright.runs_manager ----------------
_ALLOW_ROOT_HELP = "A folder data may come from (repeatable; default: the current folder). Others are refused."
_RUN_ARG_HELP = "An extra argument for every `mlwright run` this server starts (repeatable; e.g. --no-autogluon)."


_EXPOSED = ("any other address is reachable from other machines: a warning is printed and a --token needs 16+ "
            "characters")
_HOST_HELP = f"Address to bind; keep 127.0.0.1 unless you know why ({_EXPOSED})."
_TTL_HELP = "Uploaded data is deleted this many hours after its upload or its last run (never while a run uses it)."


def _listen(host: str, port: int, token: Optional[str]):
    """Check the token against the host and bind the socket (before anything is printed: the real port)."""
    from mlwright.server.binding import bind, check_token

    try:
        check_token(host, token)
        return bind(host, port)
    except MlwrightError as e:
        _fail(e)


_RAY_HELP = ("Run on this Ray cluster: each run gets a placement group (its envelope of --parallel-attempts CPUs) "
             "and starts once placed.")


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", "--host", help=_HOST_HELP),
    port: int = typer.Option(8765, "--port", help="Port to listen on (0: any free port)."),
    runs_root: Path = typer.Option(Path("runs"), "--runs-root", help="Folder for run folders (and uploads)."),
    allow_root: Optional[list[Path]] = typer.Option(None, "--allow-root", help=_ALLOW_ROOT_HELP),
    token: Optional[str] = typer.Option(None, "--token", help="Access token (default: a random one, printed)."),
    max_upload_mb: float = typer.Option(500, "--max-upload-mb", min=1, help="Largest upload accepted, in MB."),
    upload_ttl_hours: float = typer.Option(24, "--upload-ttl-hours", min=0.0001, help=_TTL_HELP),
    max_concurrent: Optional[int] = typer.Option(None, "--max-concurrent", min=1,
                                                 help="Runs at once; the others queue (default 1; with "
                                                      "--ray-address, as many as the cluster holds)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
    parallel_attempts: int = typer.Option(1, "--parallel-attempts", min=1, help="Attempts at a time in each run."),
    run_arg: Optional[list[str]] = typer.Option(None, "--run-arg", help=_RUN_ARG_HELP, hidden=True),
) -> None:
    """Start the web UI: upload data or name a folder, describe the task, watch the run, get the results."""
    from rich.markup import escape

    from mlwright.server.app import create_app
    from mlwright.server.auth import new_token
    from mlwright.server.binding import exposure_warning, listen_addresses, serve

    sock = _listen(host, port, token)
    addresses = listen_addresses(sock)
    warning = exposure_warning("web UI", host, addresses)
    if warning:
        err.print(f"[bold yellow]{escape(warning)}[/]", highlight=False, soft_wrap=True)
    token = token or new_token()
    roots = allow_root or [Path.cwd()]
    admission, limit, extra = _launcher_setup(ray_address, parallel_attempts, max_concurrent)
    web = create_app(runs_root, roots, token, max_upload_mb, max_concurrent=limit,
                     extra_run_args=[*extra, *(run_arg or ())], upload_ttl_s=upload_ttl_hours * 3600,
                     admission=admission)
    for i, addr in enumerate(addresses):
        label = "mlwright UI:" if i == 0 else "        also:"
        err.print(f"{label} [bold]http://{addr}/?token={escape(token)}[/]", highlight=False, soft_wrap=True)
    err.print(f"runs in {Path(runs_root).resolve()}; data allowed under: {', '.join(str(r) for r in roots)}",
              highlight=False, soft_wrap=True)
    serve(web, sock)


def _launcher_setup(ray_address: Optional[str], parallel_attempts: int, max_concurrent: Optional[int]):
    """The servers' launcher: (admission, runs at a time, extra `mlwright run` arguments)."""
    extra = ["--parallel-attempts", str(parallel_attempts)] if parallel_attempts > 1 else []
    if not ray_address:
        return None, max_concurrent or 1, extra
    from mlwright.execution.admission import RayEnvelopes

    try:
        admission = RayEnvelopes(ray_address, parallel_attempts, 1.0, None)
    except MlwrightError as e:
        _fail(e)
    return admission, max_concurrent or 10_000, extra


@app.command()
def mcp(
    transport: str = typer.Option("stdio", "--transport", help="stdio, or http (streamable HTTP, bearer token)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help=f"Address to bind for --transport http; keep 127.0.0.1 ({_EXPOSED})."),
    port: int = typer.Option(8766, "--port", help="Port for --transport http (0: any free port)."),
    runs_root: Path = typer.Option(Path("runs"), "--runs-root", help="Folder for run folders."),
    allow_root: Optional[list[Path]] = typer.Option(None, "--allow-root", help=_ALLOW_ROOT_HELP),
    token: Optional[str] = typer.Option(None, "--token", help="Bearer token for http (default: random, printed)."),
    max_upload_mb: float = typer.Option(100, "--max-upload-mb", min=1, help="Largest upload_data call, in MB of "
                                        "files (sent as base64, so HTTP requests up to ~4/3 of it are accepted)."),
    upload_ttl_hours: float = typer.Option(24, "--upload-ttl-hours", min=0.0001, help=_TTL_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
    parallel_attempts: int = typer.Option(1, "--parallel-attempts", min=1, help="Attempts at a time in each run."),
    run_arg: Optional[list[str]] = typer.Option(None, "--run-arg", help=_RUN_ARG_HELP, hidden=True),
) -> None:
    """Start the MCP server (tools: upload_data, start_run, run_status, send_guidance, cancel_run, list_runs,
    get_result, predict)."""
    if transport not in ("stdio", "http"):
        _fail(MlwrightError(f"Unknown transport {transport!r}.", hint="Use --transport stdio or --transport http."))
    from mlwright.mcp_server import serve

    sock = _listen(host, port, token) if transport == "http" else None
    admission, limit, extra = _launcher_setup(ray_address, parallel_attempts, None if ray_address else 1)
    serve(transport, runs_root=runs_root, allowed_roots=allow_root or [Path.cwd()], port=port, host=host, token=token,
          extra_run_args=[*extra, *(run_arg or ())], max_upload_mb=max_upload_mb,
          upload_ttl_s=upload_ttl_hours * 3600, sock=sock, admission=admission, max_concurrent=limit)


@app.command("demo-data")
def demo_data(folder: Path = typer.Argument(..., help="Where to write the bundled example dataset.")) -> None:
    """Write the bundled example (a small house-price table) to a folder."""
    from mlwright.examples import write_demo

    write_demo(folder)
    err.print(f"wrote the example dataset to {folder}")


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Which isolation and limits generated code gets here, and why (bubblewrap or the basic fallback)."""
    import json

    from mlwright.execution import limits
    from mlwright.execution.sandbox import isolation

    iso = isolation()
    report = iso.as_dict() | {
        "memory_cap_mb": f"{limits.default_memory_mb()} (75% of the RAM available now; --memory-limit sets it)",
        "process_cap": limits.default_max_processes(),
        "log_cap": f"stdout/stderr keep their first {limits.LOG_HEAD_BYTES // 1024**2} MB and last "
                   f"{limits.LOG_TAIL_BYTES // 1024**2} MB"}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"isolation: {iso.kind}" + ("" if iso.kind == "bubblewrap" else "  (WEAK: install bubblewrap)"))
    for k, v in report.items():
        if k != "kind":
            typer.echo(f"  {k}: {v}")


if __name__ == "__main__":
    app()
