"""Development-only helpers (test doubles, bench drivers). Not part of the installed package:
pyproject's package list ships ``nyx_core`` and ``nyx_ui`` only."""
