"""Defaults of the run options that the CLI shows in its help: a module that imports nothing, so `mlwright --help`
stays fast (options.py brings pydantic and the LLM clients)."""

# further seeds of each best seeded recipe when time is left (RunOptions.seeds, Planner.variant): a seed costs its
# first attempt's seconds, and the blend averages a recipe's seeds (planning.ensemble), so each keeps helping a little
DEFAULT_SEEDS = 6
