"""ASGI entry point (served by uvicorn through `lockstep serve`)."""

import os
import warnings

from django.core.asgi import get_asgi_application

# WhiteNoise streams static files through a sync iterator; under ASGI Django warns on every
# file. The files are small and cached by browsers, so the warning is noise here.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators"
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockstep.settings")
application = get_asgi_application()
