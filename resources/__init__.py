"""Fanout Studio's data files, installed as the package ``gui._resources``.

Only data lives here; this file exists so that editable installs can map the package onto this
folder (see ``[tool.setuptools]`` in pyproject.toml). Read the files through ``gui.resources``.
"""
