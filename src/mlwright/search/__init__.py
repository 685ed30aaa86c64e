"""The search: one loop (loop.py) that runs the steps its policies propose (recipe plans, LLM drafts / debugs /
improvements with their ablation study, the ensemble) as attempts through an executor (attempts.py)."""
