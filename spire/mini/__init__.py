"""The miniature world: a grammar, an espeak-ng speech corpus and tiny encoders, all built
locally and deterministically so that the whole workflow runs on a CPU in minutes
(see docs/miniature.md). ``grammar`` is shared with the text side (LM data, MT pairs)."""
