"""The WSGI entry point: `gunicorn wsgi:app`."""

from diversion import create_app

app = create_app()
