"""Seeded synthetic profiles with plausible Zhejiang distributions."""

from zhida.profiles.synth.enterprises import (
    SYNTH_AS_OF,
    make_usccs,
    synth_to_file,
    synthesize,
    synthesize_citizens,
    synthesize_enterprises,
)

__all__ = [
    "SYNTH_AS_OF",
    "make_usccs",
    "synth_to_file",
    "synthesize",
    "synthesize_citizens",
    "synthesize_enterprises",
]
