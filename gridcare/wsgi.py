"""WSGI entry point: ``granian --interface wsgi gridcare.wsgi:application`` (or gunicorn).

The channel API's create and step calls go through the fast intake path in front of Django
(``gridcare.workorders.fastpath``, PostgreSQL only); every other request, and every case that
path does not take, is Django's. Neither sees the server process's environment in the
request's environ (``gridcare.core.wsgienv``).
"""

import os
from multiprocessing import util as multiprocessing_util

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcare.settings")
django_application = get_wsgi_application()

from gridcare.core.wsgienv import WithoutProcessEnvironment  # noqa: E402 - after Django is set up
from gridcare.workorders.fastpath import FastIntake  # noqa: E402

intake = FastIntake(django_application)
application = WithoutProcessEnvironment(intake)
# One line in the server's log when a worker stops. multiprocessing's exit hook runs this
# finalizer both ways a worker leaves: granian's (multiprocessing children, ``os._exit``
# after the hook) and gunicorn's (``sys.exit``: the hook is registered with atexit).
multiprocessing_util.Finalize(intake, intake.report, exitpriority=0)
