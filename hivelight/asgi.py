"""ASGI entry point: HTTP through Django, websockets through channels.

Websockets pass a same-origin check (a page of another site cannot open a
socket with the user's cookies: scheme, host and port must be this site's),
then session authentication, then the routing of `events_app.live.routing`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")
# Django is set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from events_app.live.origin import SameOriginValidator  # noqa: E402
from events_app.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
