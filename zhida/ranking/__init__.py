"""Ranking what a profile qualifies for: `heuristic` (score and rank from benefit and
urgency), `evaluate` (evaluate, rank and write the lines of `zhida evaluate`).
"""
