"""we-advisor: CI timeouts from evidence."""
