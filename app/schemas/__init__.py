"""Request/response schemas (allow-lists): validation lives here."""
