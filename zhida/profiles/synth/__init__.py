"""Seeded synthetic profiles with plausible Zhejiang distributions.

Everything is drawn with numpy in bulk (a million enterprises in about a second)
and returned as polars frames with exactly the columns and dtypes that
`read_profiles` produces, so synthetic data can go straight to the evaluator or
to a file. The reference date is fixed (`SYNTH_AS_OF`) so the same seed always
gives the same data.

The figures are plausible, not official: city weights follow each city's rough
share of Zhejiang's market entities (Jinhua high because of Yiwu), industries
are dominated by wholesale/retail trade and manufacturing, firm sizes are
lognormal, R&D concentrates in manufacturing, software and research services.
No real person or ID number is involved: `id_hash` hashes a made-up string.

Public API: `synthesize_enterprises`, `synthesize_citizens`, `synthesize` (one
audience), `synth_to_file`, `make_usccs`, `SYNTH_AS_OF`. Modules: `enterprises`,
`citizens`, `extensions` (pack schema fields), `columns` (shared column makers),
`places` and `industries` (the tables drawn from), `files`.
"""

from zhida.profiles.synth.citizens import synthesize_citizens
from zhida.profiles.synth.columns import SYNTH_AS_OF, make_usccs
from zhida.profiles.synth.enterprises import synthesize_enterprises
from zhida.profiles.synth.files import synth_to_file, synthesize

__all__ = [
    "SYNTH_AS_OF",
    "make_usccs",
    "synth_to_file",
    "synthesize",
    "synthesize_citizens",
    "synthesize_enterprises",
]
