"""Collecting history: the GitHub client (``github``, the only PyGithub importer, with ``transport``),
``fetch`` (and its ``crawl``, ``writer`` and ``summary``), ``rest`` (GitHub JSON → records) and
``ingest`` (local logs, zips, export folders, bootstrap events). Raw data goes into the store; the
new jobs are then parsed (``analyzer.parse.reparse``).
"""
