"""A search puts a family name in the URL: the app never writes the query string to a log."""

import logging
import sys
import threading
import urllib.error
import urllib.request

from werkzeug.serving import make_server

from diversion.core.extensions import db
from tests.builders import create_force


def test_the_development_servers_request_log_leaves_the_search_out(app, login_as, caplog):
    create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.port}/referrals?q=Sampleton&status="
            with urllib.request.urlopen(url) as response:  # not signed in: sent to sign in
                assert response.status == 200
    finally:
        server.shutdown()
        thread.join()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("GET /referrals " in line and " 302 " in line for line in lines), lines
    assert not any("Sampleton" in line or "q=" in line for line in lines), lines


def test_the_development_servers_request_log_hides_credentials_in_paths(app, caplog):
    # A calendar feed's, a password-reset link's and a payment return's token each opens
    # something on its own: none of them is written to the request log; the route still is.
    secrets = {"/calendar/{}.ics": "CalSecret123abc", "/sign-in/reset-password/{}": "ResetSecret456",
               "/book/payments/{}/return": "PaySecret789xyz"}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for path, secret in secrets.items():
                try:
                    with urllib.request.urlopen(
                            f"http://127.0.0.1:{server.port}{path.format(secret)}?x=1"):
                        pass
                except urllib.error.HTTPError:
                    pass  # refused or not found: the line is logged all the same
    finally:
        server.shutdown()
        thread.join()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len([line for line in lines if "[hidden]" in line]) >= 3, lines
    assert any("GET /calendar/[hidden] " in line for line in lines), lines
    assert any("GET /book/payments/[hidden]/return " in line for line in lines), lines
    assert not any(secret in line for secret in secrets.values() for line in lines), lines


def test_an_error_on_a_page_logs_its_route_not_a_token_in_its_path(app, caplog):
    # A failure inside the calendar feed (a database error, say) is logged with the traceback;
    # the line names the route, so the feed's token is not written to the log.
    with app.test_request_context("/calendar/CalSecret123abc.ics"), caplog.at_level(logging.ERROR):
        try:
            raise RuntimeError("the feed failed")
        except RuntimeError:
            app.log_exception(sys.exc_info())
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "Exception on /calendar/<token>.ics [GET]"
    assert "CalSecret123abc" not in caplog.text
