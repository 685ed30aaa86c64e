"""mlwright: a data folder and a sentence in; validated predictions, a reusable model and a report out."""
__version__ = "0.1.0"

__all__ = ["__version__", "solve", "Result", "Task", "Predictor"]


def __getattr__(name: str):
    # Lazy: `import mlwright` stays light (no pandas, no pipeline) until the API is used.
    if name in ("solve", "Result"):
        from mlwright import api

        return getattr(api, name)
    if name in ("Task", "Predictor"):
        from mlwright import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'mlwright' has no attribute {name!r}")
