"""Synthetic organisations for scale work: a deterministic bulk generator (see generator.py)."""

from lockstep.synth.generator import SynthStats, synth_generate

__all__ = ["SynthStats", "synth_generate"]
