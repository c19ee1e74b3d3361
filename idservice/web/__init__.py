"""Server-rendered pages: shared form handling, CSRF and templates helpers."""
