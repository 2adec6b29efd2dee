"""Presentation: command results as text (``tables``), the report context (plain data), its HTML and
Markdown, charts, the files written, and the PR comment. The only package that imports jinja2.
"""
