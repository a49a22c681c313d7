"""The Voila dashboards, shipped inside the wheel as the package ``dsa110_ws.dashboards``.

This folder stays where the project's layout puts it (``notebooks/dashboards/``); the
``package-dir`` table of ``pyproject.toml`` installs it under ``dsa110_ws``, and
``dsa110_ws.cli.voila.dashboards_dir`` finds it with :mod:`importlib.resources`.
"""
