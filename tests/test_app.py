from __future__ import annotations

from flask.testing import FlaskClient


def test_home_page_renders(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"Your Kent account" in response.data
    assert response.headers["X-Frame-Options"] == "DENY"


def test_unknown_page_is_a_friendly_404(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Page not found" in response.data


def test_health_check_reaches_the_database(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
