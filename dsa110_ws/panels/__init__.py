"""ipywidget panels: views over the services, no logic of their own."""
