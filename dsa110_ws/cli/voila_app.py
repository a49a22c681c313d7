"""Voila as ``python -m dsa110_ws.cli.voila_app``: Voila itself, reporting the port it
bound, with its XSRF check kept on.

Voila can listen on port 0 (the system picks a free port) but then neither logs nor tells
anyone which port it got.  ``listen`` is replaced: it binds the sockets, then writes the
bound port to the file named by ``DSA110_WS_VOILA_PORT_FILE`` (written whole, then renamed
into place), so whoever started the server learns the port from the server that holds it,
never by guessing a free port first (which another process can take in between).

A dashboard page posts its ``_xsrf`` cookie back when its tab closes, so that the server
shuts the tab's kernel at once; but Voila 0.5 never sets that cookie on a dashboard page
(voila-dashboards/voila#1458), so the post was refused and the kernel idled until culled.
The dashboard pages' handler here sets the cookie, and the XSRF check stays on: a
cross-site request cannot shut down (or otherwise post to) a viewer's kernel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

__all__ = ["PORT_FILE_ENV", "ReportingVoila", "main"]

#: Environment variable naming the file the bound port is written to.
PORT_FILE_ENV = "DSA110_WS_VOILA_PORT_FILE"


class CookieVoilaHandler(TornadoVoilaHandler):
    """Voila's dashboard page handler, which also sets the ``_xsrf`` cookie (see the
    module doc)."""

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        await ensure_async(super().prepare(*args, **kwargs))
        if not self._finished:  # not redirected (to a login page)
            self.xsrf_token  # noqa: B018 - reading it sets the cookie


class ReportingVoila(Voila):
    """Voila, whose ``listen`` reports the bound port (``--port=0``: any free port) and
    whose dashboard pages carry the ``_xsrf`` cookie."""

    def init_handlers(self) -> list:
        return [
            (h[0], CookieVoilaHandler, *h[2:]) if h[1] is TornadoVoilaHandler else h
            for h in super().init_handlers()
        ]

    def listen(self) -> None:  # replaces Voila.listen (no retries, no browser: we pass neither)
        asked: int = self.port  # type: ignore[has-type]  # a traitlets Integer
        try:
            socks = bind_sockets(asked, self.ip or None)
        except OSError as exc:
            self.log.critical("Cannot listen on %s:%s: %s", self.ip, asked, exc.strerror)
            self.exit(1)
        HTTPServer(self.app).add_sockets(socks)  # what tornado's Application.listen does
        self.port = int(socks[0].getsockname()[1])
        self.log.info("Voilà is running at:\n%s", self.display_url)
        if target := os.environ.get(PORT_FILE_ENV):
            tmp = Path(f"{target}.tmp")
            tmp.write_text(f"{self.port}\n")
            tmp.replace(target)
        self.ioloop = IOLoop.current()
        try:
            self.ioloop.start()
        except KeyboardInterrupt:
            self.log.info("Stopping...")
        finally:
            self.stop()


main = ReportingVoila.launch_instance

if __name__ == "__main__":
    main()
