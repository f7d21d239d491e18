"""A fleet run: its safe waves, and its report (the document and its renderings)."""
