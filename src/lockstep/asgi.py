"""ASGI entry point (served by uvicorn through `lockstep serve`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockstep.settings")
application = get_asgi_application()
