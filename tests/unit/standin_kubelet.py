"""A stand-in kubelet: an aiohttp server on 127.0.0.1 in its own thread and event loop.

The API server reaches a node's kubelet at the address and port the Node object names
(``status.addresses`` and ``status.daemonEndpoints.kubeletEndpoint.Port``) for logs, exec
and metrics. Tests that check that relay run this small server instead of a real kubelet;
a subclass adds the routes it needs in :meth:`StandInKubelet.routes`.

    kubelet = ProxyKubelet(); kubelet.start()    # kubelet.port is now listening
    ...
    kubelet.stop()
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class StandInKubelet:
    """Serves :meth:`routes` on a free port of 127.0.0.1 between start() and stop()."""

    def __init__(self) -> None:
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        self.routes(app)
        self.runner = web.AppRunner(app, shutdown_timeout=1.0)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", 0).start())
        self.port = self.runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
