from mlwright.cli import app

app()
