"""The demo: the bundled sample history through the whole pipeline (``demo``), and the generator of that sample (``sample``)."""
