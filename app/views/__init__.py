"""Non-API pages and operational endpoints."""
