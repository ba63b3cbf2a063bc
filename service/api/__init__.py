"""The HTTP layer: FastAPI routes that translate requests to core calls and back."""
