"""A search puts a family name in the URL: the app never writes the query string to a log."""

import logging
import threading
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
