"""Synthetic organisations for scale work: a deterministic bulk generator (see generator.py)."""

from lockstep.synth.generator import PROFILES, Profile, SynthStats, synth_generate

__all__ = ["PROFILES", "Profile", "SynthStats", "synth_generate"]
