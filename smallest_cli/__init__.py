"""smallest: a streaming text-to-speech player for the shell (Smallest AI Waves, Lightning v3.1)."""

__version__ = "0.1.0"
