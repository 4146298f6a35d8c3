"""Connection settings: where credentials come from, what is refused, OAuth2 tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from scim_server import TOKEN, ScimServer
from support.hostile import Request, Response, hostile_server

from reconciler.backends.scim import ScimSettings, open_scim_backend
from reconciler.backends.scim.mapping import provider_config
from reconciler.errors import ConfigError
from reconciler.redact import redact


def test_token_from_the_environment_or_a_file(tmp_path: Path) -> None:
    env = {"SCIM_URL": "https://scim.example.com/v2", "SCIM_TOKEN": "env-token-0123456789"}
    settings = ScimSettings.from_env(env)
    assert (settings.url, settings.token) == ("https://scim.example.com/v2", env["SCIM_TOKEN"])
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789\n", encoding="utf-8")
    from_file = ScimSettings.from_env(env, token_file=str(token_file), timeout=5.0)
    assert (from_file.token, from_file.timeout) == ("file-token-0123456789", 5.0)
    assert "file-token" not in repr(from_file) and "env-token" not in repr(settings)
    assert redact("Bearer file-token-0123456789") == "Bearer ***"


def test_client_credentials_come_from_the_environment() -> None:
    env = {
        "SCIM_TOKEN": "ignored-when-a-token-url-is-given",
        "SCIM_CLIENT_ID": "client",
        "SCIM_CLIENT_SECRET": "client-secret-0123456789",
    }
    settings = ScimSettings.from_env(
        env, url="https://scim.example.com", token_url="https://login.example.com/token"
    )
    assert settings.token is None and settings.client_id == "client"
    settings.validate()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (ScimSettings(url=""), "the SCIM base URL is missing (--url or SCIM_URL)"),
        (ScimSettings(url="https://scim.example.com"), "no credentials: set SCIM_TOKEN"),
        (
            ScimSettings(url="https://s.example.com", token_url="https://t.example.com"),
            "the client id is missing (SCIM_CLIENT_ID); the client secret is missing",
        ),
        (
            ScimSettings(url="http://scim.example.com", token="t0123456789"),
            "uses plain http; only https is allowed",
        ),
        (ScimSettings(url="ftp://scim.example.com", token="t0123456789"), "must be an https://"),
        (
            ScimSettings(url="https://scim.example.com", token="t0123456789", max_pages=0),
            "--max-pages must be at least 1",
        ),
    ],
)
def test_unusable_settings_are_refused(settings: ScimSettings, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.validate()
    assert expected in str(caught.value)


def test_credentials_in_the_url_are_refused_and_never_echoed() -> None:
    settings = ScimSettings(url="https://admin:hunter2-secret@scim.example.com", token="t" * 12)
    with pytest.raises(ConfigError) as caught:
        settings.validate()
    assert "hunter2-secret" not in str(caught.value)
    assert "'https://scim.example.com'" in str(caught.value)


def test_token_file_problems_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        ScimSettings.from_env({}, token_file=str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty"):
        ScimSettings.from_env({}, token_file=str(empty))


def test_a_wrong_token_is_a_config_error(scim: ScimServer) -> None:
    # discovery endpoints may be open to anyone (RFC 7644 §4); /Users is not
    settings = ScimSettings(url=scim.url, token="wrong-token-0123456789")
    with (
        pytest.raises(ConfigError, match=r"refused the credentials \(HTTP 401"),
        open_scim_backend(settings) as backend,
    ):
        backend.find_user_by_email("anyone@example.com")


def test_oauth2_client_credentials_against_the_real_server(scim: ScimServer) -> None:
    """The token endpoint is scripted; the SCIM server is real and only accepts TOKEN."""
    seen: list[Request] = []

    def token_endpoint(request: Request) -> Response:
        seen.append(request)
        return Response(200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})

    with hostile_server() as issuer:
        issuer.routes = {("POST", "/oauth2/token"): token_endpoint}
        settings = ScimSettings(
            url=scim.url,
            token_url=f"{issuer.url}/oauth2/token",
            client_id="reconciler",
            client_secret="client-secret-0123456789",
        )
        with open_scim_backend(settings) as backend:
            scim.add_user("oauth@example.com")
            assert backend.find_user_by_email("oauth@example.com") is not None
    assert len(seen) == 1  # one token serves every request while it is valid
    assert seen[0].body == b"grant_type=client_credentials"
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_refused_client_credentials_are_a_config_error(scim: ScimServer) -> None:
    with hostile_server() as issuer:
        issuer.routes = {
            ("POST", "/token"): lambda r: Response(401, {"error": "invalid_client"}),
        }
        settings = ScimSettings(
            url=scim.url,
            token_url=f"{issuer.url}/token",
            client_id="reconciler",
            client_secret="client-secret-0123456789",
        )
        with pytest.raises(ConfigError, match=r"refused the client credentials \(HTTP 401"):
            open_scim_backend(settings)
        assert issuer.count("POST", "/token") == 1  # refused credentials are not retried


def test_an_oauth2_token_refused_by_the_api_is_fetched_again_once(scim: ScimServer) -> None:
    tokens = iter(["revoked-token-0123456789", TOKEN])

    def token_endpoint(request: Request) -> Response:
        return Response(200, {"access_token": next(tokens), "expires_in": 3600})

    with hostile_server() as issuer:
        issuer.routes = {("POST", "/token"): token_endpoint}
        settings = ScimSettings(
            url=scim.url,
            token_url=f"{issuer.url}/token",
            client_id="reconciler",
            client_secret="client-secret-0123456789",
        )
        with open_scim_backend(settings) as backend:
            assert backend.find_user_by_email("nobody@example.com") is None
        assert issuer.count("POST", "/token") == 2


def test_page_size_is_the_smallest_announced_and_at_most_1000() -> None:
    assert provider_config({"filter": {"maxResults": 50000}}).page_size == 1000
    both = {"filter": {"maxResults": 200}, "pagination": {"maxPageSize": 75}}
    assert provider_config(both).page_size == 75
    assert provider_config({"patch": {"supported": "yes"}}).patch is False
