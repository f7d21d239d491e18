"""Development tools around sidecar_enforcer: the ``sidecar-enforcer`` command line, the demo, the
demo's fleet and the corpus report.

They run from the project venv (an editable install), never in Lambda: the layer (layers/common)
ships only the ``sidecar_enforcer`` package, which imports nothing from here.
"""
