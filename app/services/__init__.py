"""Domain use cases. Each function owns its transaction and raises AppError subclasses."""
