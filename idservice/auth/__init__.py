"""Who is signed in: resident browser sessions and authentication levels."""
