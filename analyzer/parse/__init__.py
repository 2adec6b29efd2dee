"""Parsing: log text → steps, phases and signals (``logs``); a job → observations and its incident
(``observe``); bootstrap events (``events``); and re-deriving the store's parsed data (``reparse``).

Everything but ``reparse`` is pure: bytes and records in, records out.
"""
