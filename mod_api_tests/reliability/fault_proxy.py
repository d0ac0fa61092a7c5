"""A TCP fault proxy on loopback: put it in front of MariaDB, Redis or the GCS emulator and make the link fail.

The shared services are never stopped (other test sessions use them); the app under test talks to the proxy's
port instead, and the test decides what that port does:

* ``pass_through()``: accept and forward bytes both ways (the default);
* ``refuse()``: close the listening socket, so new connections are refused (a stopped service), and cut the
  existing ones;
* ``blackhole()``: accept connections and read what is sent, but never forward or answer (a hung service or a
  dropped network); existing connections stall too;
* ``cut()``: reset every open connection now (a service restart), the mode is kept.

``connections`` counts the connections accepted so far. One thread accepts, two threads pump each connection.
"""
import socket
import struct
import threading
from typing import Optional

PASS, BLACKHOLE, REFUSE = 'pass', 'blackhole', 'refuse'
CHUNK = 65536


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream`` (host, port), with switchable faults."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode = PASS
        self.connections = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: Optional[socket.socket] = None
        self._listen()

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``: where clients connect."""
        return f'127.0.0.1:{self.port}'

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('127.0.0.1', self.port))
        listener.listen(512)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f'proxy-{self.port}').start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed: refuse() or close()
                return
            with self._lock:
                self.connections += 1
                self._open.add(client)
            if self.mode == BLACKHOLE:
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._close(client)
                continue
            with self._lock:
                self._open.add(upstream)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        """Copy bytes from ``source`` to ``target``; in blackhole mode, keep reading and drop them."""
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                if self.mode != BLACKHOLE:
                    target.sendall(data)
        except OSError:
            pass
        self._close(source)
        self._close(target)

    def _swallow(self, client: socket.socket) -> None:
        try:
            while client.recv(CHUNK):
                pass
        except OSError:
            pass
        self._close(client)

    def _close(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))  # RST, not FIN
        except OSError:
            pass
        connection.close()

    def cut(self) -> None:
        """Reset every open connection (clients see the connection lost); the mode stays as it is."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._close(connection)

    def pass_through(self) -> None:
        """Forward again (listening again on the same port after ``refuse()``)."""
        self.mode = PASS
        if self._listener is None:
            self._listen()

    def blackhole(self) -> None:
        """Accept and read, never answer; open connections stall from now on."""
        self.mode = BLACKHOLE
        if self._listener is None:
            self._listen()

    def refuse(self) -> None:
        """Stop listening (new connections refused) and cut the open ones: the service looks stopped."""
        self.mode = REFUSE
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(), so the port is really free
            except OSError:
                pass
            listener.close()
        self.cut()

    def close(self) -> None:
        """Stop listening and cut everything (end of the test)."""
        self.refuse()
