"""Ranking what a profile qualifies for and learning who takes it up.

- `heuristic`: score and rank from benefit and urgency, the takeup without a model
- `score`: the one seam from a chunk's results to takeup and score (heuristic or model)
- `evaluate`: evaluate, rank and write the lines of `zhida evaluate`
- `exclusion`: of two policies that exclude each other, the better ranks first
- `feedback`: feedback events (store, import) and the notices the model learns from
- `features`: features of (profile, policy, channel), vectorised over evaluator columns
- `model`, `additive`: the scikit-learn take-up model, its skops file, its compiled tables
- `metrics`, `train`: held-out figures beside the heuristic, and `zhida rank train`
- `holdout`: keyed-hash holdouts and the lift of notifying
- `simulate`: simulated feedback from a documented hidden take-up function
"""
