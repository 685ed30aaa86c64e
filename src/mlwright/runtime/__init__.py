"""The runtime of generated scripts: what every attempt's script shares (the task's configuration, reading the
inputs, cross-validation splits, the output contract, the command line) and the forecasting helpers. Recipes
and LLM-written scripts import it (`from mlwright.runtime.common import *`); the recipe coder inlines these
modules' text in place of that import, so a run's solution.py stays one standalone file. In-process (tests,
type checks) the configuration comes from the file named by MLWRIGHT_CONFIG.

Rules for these modules, because their text is pasted into scripts: no `from __future__` imports, no relative
imports, and each module's own runtime imports as `from mlwright.runtime.NAME import *` lines."""
