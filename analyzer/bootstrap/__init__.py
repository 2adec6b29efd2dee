"""The bootstrap runner: a setup plan (a DAG of tasks) run in threads under measured time limits, and
the forecast of its wall time.

``plan`` (the plan file and each task's limit), ``runner`` (running it, with ``processes`` and the
``events`` it writes), ``forecast`` (the predicted wall time, from observations ``api`` reads).
"""
