"""Who the dashboard's listener lets in, decided on request heads alone (no server needed)."""

from __future__ import annotations

import pytest

from corral._control.server.http import HttpError, Request
from corral._control.server.http.auth import Tokens
from corral._control.server.http.messages import Peer
from corral._control.server.web import COOKIE, Sessions, WebGate
from corral._control.server.web.sessions import LIFETIME, MAX_SESSIONS, cookie_value

TOKEN = "ops-token-0123456789abcdef"
PEER = Peer("tcp", address="127.0.0.1:5000")
ORIGIN = "http://127.0.0.1:9180"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _request(method: str, path: str, **headers: str) -> Request:
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return Request(method, path, {}, {"host": "127.0.0.1:9180", **named}, b"", peer=PEER)


def _refusal(gate: WebGate, request: Request) -> HttpError:
    with pytest.raises(HttpError) as caught:
        gate.admit(request)
    return caught.value


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(clock: Clock) -> Sessions:
    return Sessions(clock)


@pytest.fixture
def gate(sessions: Sessions) -> WebGate:
    return WebGate(Tokens({"ops": TOKEN}), sessions, tls=False)


def test_a_session_cookie_comes_in_as_its_token_and_label(
    gate: WebGate, sessions: Sessions
) -> None:
    cookie, session = sessions.open("ops")
    peer = gate.admit(_request("GET", "/v1/status", cookie=f"a=b; {COOKIE}={cookie}"))
    assert (peer.token, peer.session, peer.address) == ("ops", session.label, PEER.address)


def test_a_state_changing_call_needs_the_own_origin_and_the_csrf_token(
    gate: WebGate, sessions: Sessions
) -> None:
    cookie, session = sessions.open("ops")
    jar = f"{COOKIE}={cookie}"
    good = gate.admit(
        _request("POST", "/v1/stop", cookie=jar, origin=ORIGIN, x_corral_csrf=session.csrf)
    )
    assert good.session == session.label
    by_referer = _request(
        "POST", "/v1/stop", cookie=jar, referer=ORIGIN + "/", x_corral_csrf=session.csrf
    )
    assert gate.admit(by_referer).session == session.label
    for headers in [
        {"x_corral_csrf": session.csrf},  # neither Origin nor Referer
        {"origin": "http://127.0.0.1:9181", "x_corral_csrf": session.csrf},  # another port
        {"origin": "https://127.0.0.1:9180", "x_corral_csrf": session.csrf},  # another scheme
        {"referer": "http://127.0.0.1:9180.evil.test/", "x_corral_csrf": session.csrf},
        {"origin": ORIGIN},
        {"origin": ORIGIN, "x_corral_csrf": session.csrf[:-1] + "x"},
    ]:
        refusal = _refusal(gate, _request("POST", "/v1/stop", cookie=jar, **headers))
        assert refusal.status == 403, headers
        assert refusal.message.startswith("cross-site request refused: ")


def test_without_a_session_only_the_login_is_open(gate: WebGate) -> None:
    assert gate.admit(_request("GET", "/login")) == PEER
    assert gate.admit(_request("POST", "/login")) == PEER
    home = _refusal(gate, _request("GET", "/"))
    assert (home.status, home.headers) == (303, (("location", "/login"),))
    for method, path in [("GET", "/v1/status"), ("POST", "/v1/stop"), ("GET", "/web/session")]:
        refusal = _refusal(gate, _request(method, path, cookie=f"{COOKIE}={'0' * 64}"))
        assert refusal.status == 401


def test_a_token_header_is_judged_alone(gate: WebGate, sessions: Sessions) -> None:
    cookie, _ = sessions.open("ops")
    jar = f"{COOKIE}={cookie}"
    assert gate.admit(_request("POST", "/v1/stop", authorization=f"Bearer {TOKEN}")).token == "ops"
    wrong = _request("GET", "/v1/status", authorization="Bearer nope", cookie=jar)
    assert _refusal(gate, wrong).status == 401


def test_a_session_ends_at_its_lifetime_and_at_logout(clock: Clock, sessions: Sessions) -> None:
    first, _ = sessions.open("ops")
    second, _ = sessions.open("ops")
    clock.now += LIFETIME - 1
    assert sessions.find(f"{COOKIE}={first}") is not None
    sessions.close(f"{COOKIE}={second}")
    assert sessions.find(f"{COOKIE}={second}") is None
    clock.now += 1
    assert sessions.find(f"{COOKIE}={first}") is None
    assert len(sessions) == 0


def test_a_flood_of_logins_keeps_the_newest(sessions: Sessions) -> None:
    cookies = [sessions.open("ops")[0] for _ in range(MAX_SESSIONS + 5)]
    assert len(sessions) == MAX_SESSIONS
    assert sessions.find(f"{COOKIE}={cookies[4]}") is None
    assert sessions.find(f"{COOKIE}={cookies[5]}") is not None
    labels = {sessions.find(f"{COOKIE}={c}").label for c in cookies[-2:]}  # type: ignore[union-attr]
    assert labels == {f"web-{MAX_SESSIONS + 4}", f"web-{MAX_SESSIONS + 5}"}


@pytest.mark.parametrize(
    ("header", "value"),
    [("a=1; corral_session=xyz", "xyz"), ('corral_session="q"', "q"), ("corral_sessionx=1", None),
     ("", None), ("corral_session", None)],
)  # fmt: skip
def test_the_cookie_is_found_in_its_header(header: str, value: str | None) -> None:
    assert cookie_value(header, COOKIE) == value
