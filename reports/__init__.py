"""The papermill report templates, shipped inside the wheel as ``dsa110_ws.report_templates``.

This folder stays where the project's layout puts it (``reports/``); the ``package-dir``
table of ``pyproject.toml`` installs it under ``dsa110_ws``, and
``dsa110_ws.reporting.templates.template_path`` finds it with :mod:`importlib.resources`.
"""
