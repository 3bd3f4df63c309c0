"""Pages served as issue 17 measures them: the app under gunicorn (`-w 2 --threads 4`, as
docs/deployment.md runs it) against a bare Flask route under the same gunicorn, both loaded by
wrk with 8 connections, in interleaved rounds (medians).

The in-process test client leaves out what a real request costs on both sides (the HTTP
parsing, the socket, gunicorn's threads), so its ratio is harsher than the issue's; this is the
issue's own measure. wrk is a Debian package: `make bench` installs it when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.client import HTTPResponse

from .common import PROJECT_ROOT, ROUNDS, Context, Row, interleaved

WORKERS, THREADS, CONNECTIONS = 2, 4, 8
SECONDS = 2  # of load per round and side
BARE_APP = "bench.common:bare_app()"
# One browser throughout: the sign-in, the check and wrk's load send the same User-Agent. The
# sign-in remembers the address and browser it began in (Flask-Login's session protection); a
# request from another marks the session no longer fresh and sets the cookie again, which wrk,
# sending one Cookie header throughout, would otherwise make every answer do.
USER_AGENT = "Mozilla/5.0 (diversion bench)"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def wrk_missing() -> str | None:
    """Why served pages cannot be measured here, or None."""
    return None if shutil.which("wrk") else "wrk is not installed (make bench installs it)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(app_spec: str, database_url: str | None = None) -> Iterator[str]:
    """Serve `app_spec` with gunicorn on a free local port; yields its base URL."""
    port = _free_port()
    environment = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    if database_url:
        environment["DATABASE_URL"] = database_url
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--threads", str(THREADS),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app_spec],
        cwd=PROJECT_ROOT, env=environment)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer at {base} within {timeout:.0f} s")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _cookie(response: HTTPResponse | urllib.error.HTTPError, name: str) -> str | None:
    for header in response.headers.get_all("Set-Cookie") or []:
        pair = header.split(";", 1)[0]
        if pair.startswith(name + "="):
            return pair
    return None


def sign_in(base: str, email: str, password: str) -> str:
    """Sign in over HTTP as a browser does (the form, its CSRF token); the Cookie header the
    signed-in requests send."""
    opener = urllib.request.build_opener(_NoRedirect)
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(f"{base}/sign-in", timeout=30) as page:
        token = _CSRF.search(page.read().decode())
        session = _cookie(page, "diversion_session")
    if token is None or session is None:
        raise RuntimeError("the sign-in page has no CSRF token or session cookie")
    form = urllib.parse.urlencode({"csrf_token": token.group(1), "email": email,
                                   "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 (our own http:// address)
        f"{base}/sign-in", data=form, headers={"Cookie": session, "User-Agent": USER_AGENT})
    try:
        opener.open(request, timeout=30)
    except urllib.error.HTTPError as answer:  # the 302 the handler declined to follow
        signed_in = _cookie(answer, "diversion_session")
        if answer.code == 302 and signed_in:
            return signed_in
        raise RuntimeError(f"could not sign in as {email}: {answer.code}") from None
    raise RuntimeError(f"could not sign in as {email}: no redirect")


def check_page(url: str, cookie: str) -> str:
    """The page answers 200 to this cookie: wrk counts a redirect (to the sign-in page, say)
    as a success, so a page that refused would otherwise measure as a fast one. Returns the
    cookie a browser would send next: the first page after signing in sets the session's
    CSRF token, and wrk, which sends one Cookie header throughout, would otherwise have every
    answer sign and set the session cookie again, which no browser makes the app do."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(  # noqa: S310 (ours)
        url, headers={"Cookie": cookie, "User-Agent": USER_AGENT})
    try:
        with opener.open(request, timeout=60) as page:
            status, renewed = page.status, _cookie(page, "diversion_session")
    except urllib.error.HTTPError as answer:
        status, renewed = answer.code, None
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}, not 200")
    return renewed or cookie


def wrk_rate(url: str, cookie: str | None = None, seconds: int = SECONDS) -> float:
    """Requests a second wrk gets from `url` with CONNECTIONS connections; an error if any
    answer was not 2xx or 3xx (a refused or failing page must not count as fast)."""
    command = ["wrk", "--threads", "2", "--connections", str(CONNECTIONS),
               "--duration", f"{seconds}s", "--header", f"User-Agent: {USER_AGENT}"]
    if cookie:
        command += ["--header", f"Cookie: {cookie}"]
    result = subprocess.run([*command, url], capture_output=True,  # noqa: S603 (ours)
                            text=True, check=True, timeout=seconds + 60)
    if "Non-2xx or 3xx responses" in result.stdout or "Socket errors" in result.stdout:
        raise RuntimeError(f"wrk {url}: {result.stdout.strip()}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if found is None:
        raise RuntimeError(f"wrk {url}: no rate in {result.stdout!r}")
    return float(found.group(1))


def served_rates(database_url: str, pages: dict[str, tuple[str, str]], password: str,
                 rounds: int = ROUNDS) -> dict[str, float]:
    """Requests a second for each page (name: (signed in as, path)) and for the bare route
    ("bare"), each under its own gunicorn, in interleaved rounds."""
    with gunicorn("wsgi:app", database_url) as app_base, gunicorn(BARE_APP) as bare_base:
        cookies = {email: sign_in(app_base, email, password) for email, _ in pages.values()}
        for email, path in pages.values():
            cookies[email] = check_page(app_base + path, cookies[email])
        calls: dict[str, Callable[[], float]] = {
            name: partial(wrk_rate, app_base + path, cookies[email])
            for name, (email, path) in pages.items()}
        calls["bare"] = partial(wrk_rate, bare_base + "/")
        return interleaved(calls, rounds=rounds)


def page_rows(ctx: Context, pages: list[tuple[str, str, str]], *, goal: float = 0.25,
              note: str = "") -> list[Row]:
    """A row for each page (measure, signed in as, path): its requests a second under gunicorn
    against the bare route's, measured in the same interleaved rounds."""
    from .generate import BENCH_PASSWORD

    goal_text = f">= {goal}x bare Flask under gunicorn"
    missing = wrk_missing()
    if missing:
        return [Row(measure, goal_text, None, "req/s", met=False, note=missing)
                for measure, _, _ in pages]
    figures = served_rates(ctx.url, {measure: (email, path) for measure, email, path in pages},
                           BENCH_PASSWORD)
    rows = []
    for measure, _, _ in pages:
        ratio = figures[measure] / figures["bare"]
        rows.append(Row(measure, goal_text, figures[measure], "req/s", baseline=figures["bare"],
                        ratio=ratio, met=ratio >= goal, note=note))
    return rows
