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


def test_sign_in_page_has_the_labelled_fields_and_button(client: FlaskClient) -> None:
    html = client.get("/sign-in").get_data(as_text=True)
    assert '<label class="kc-label" for="email">Email address</label>' in html
    assert '<label class="kc-label" for="password">Password</label>' in html
    assert ">Sign in</button>" in html
    assert 'name="csrf_token" value="' in html
