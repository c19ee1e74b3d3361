"""The security headers every answer carries: written once, for Flask and the lean paths.

The app's after-request hook (``idservice/web/setup.py``) adds them to what Flask
answers; the lean WSGI paths (:mod:`idservice.lean`) add the same list to what they
answer without Flask. Each is added only where the answer has not set it already.
"""

from __future__ import annotations

HSTS = "max-age=31536000; includeSubDomains"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=()"


def security_headers(*, hsts: bool, page_policy: str | None = None) -> list[tuple[str, str]]:
    """The headers for an answer, in the order they are sent.

    Every answer, JSON for machines included, gets ``nosniff`` and, when the service is
    served over TLS (``hsts``), Strict-Transport-Security. A page (``page_policy``, its
    Content-Security-Policy) also gets the headers that matter to a browser showing it,
    and is never cached.
    """
    headers = [("X-Content-Type-Options", "nosniff")]
    if hsts:
        headers.append(("Strict-Transport-Security", HSTS))
    if page_policy is not None:
        headers += [
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", page_policy),
            ("Permissions-Policy", PERMISSIONS_POLICY),
            ("Cache-Control", "no-store"),
        ]
    return headers
