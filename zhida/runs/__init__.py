"""Re-evaluation in the store: `reevaluate` (runs, chunks), `daily` (the daily run),
`listing` (the list, summaries, stalled runs), `results` (fresh results as frames),
`decisions` (stored decisions compared, transitions written), `preview` (impact of a
policy without writing), `live` (real-time events evaluated at once).
"""
