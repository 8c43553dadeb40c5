"""WSGI entry point: ``gunicorn gridcare.wsgi``.

The channel API's create and step calls go through the fast intake path in front of Django
(``gridcare.workorders.fastpath``, PostgreSQL only); every other request, and every case that
path does not take, is Django's.
"""

import atexit
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcare.settings")
django_application = get_wsgi_application()

from gridcare.workorders.fastpath import FastIntake  # noqa: E402 - after Django is set up

application = FastIntake(django_application)
atexit.register(application.report)  # one line in the server's log when a worker stops
