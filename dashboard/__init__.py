"""What users see: the Dash app over the results store (read-only)."""
