"""The offline recipes: each module is a complete attempt script (fit on the training rows, out-of-fold
predictions, the test predictions, a saved model, predict on new rows) for one family of models. They import
the script runtime (mlwright.runtime), which the recipe coder inlines when it renders a run's solution.py;
the library cards (knowledge/cards) say when each one applies."""
