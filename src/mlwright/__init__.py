"""mlwright: a data folder and a sentence in; validated predictions, a reusable model and a report out."""
__version__ = "0.1.0"
