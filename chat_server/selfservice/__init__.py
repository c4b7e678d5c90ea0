"""Self-service: assessments, the library, booking, open days and their reports."""
