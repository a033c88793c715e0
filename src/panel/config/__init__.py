"""The project: its root, panel.yaml, the model registry and review settings."""
