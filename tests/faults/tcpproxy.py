"""A TCP relay between Relais's services and PostgreSQL, so the fault suite can make the
database unreachable without stopping it (tests/faults, docs/reliability.md).

    proxy = TcpProxy(listen_port=0, target=("127.0.0.1", 5432)); proxy.start()
    proxy.freeze()   # "unreachable": nothing crosses in either direction, new connections
                     # are accepted and then hang, as behind a silently dropping network
    proxy.thaw()     # traffic flows again; held bytes are delivered late
    proxy.down()     # every connection closed, new ones closed at once (the database is gone)
    proxy.up()

Frozen rather than refused: a refused connection is what a database restart looks like (the
suite restarts PostgreSQL separately); a partition that drops packets leaves clients waiting on
sockets that neither answer nor fail, which is the harder case for timeouts."""

from __future__ import annotations

import selectors
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target: tuple[str, int], listen_port: int = 0):
        self.target = target
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", listen_port))
        self.lsock.listen(256)
        self.port = self.lsock.getsockname()[1]
        self._frozen = threading.Event()
        self._down = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, name="tcpproxy", daemon=True)

    def start(self) -> "TcpProxy":
        self._thread.start()
        return self

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def down(self) -> None:
        self._down.set()

    def up(self) -> None:
        self._down.clear()

    @property
    def frozen(self) -> bool:
        return self._frozen.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.lsock.close()
        with self._lock:
            for a, b in self._pairs:
                a.close()
                b.close()
            self._pairs.clear()

    # One selector thread: accepts, and moves bytes while not frozen.
    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        self.lsock.setblocking(False)
        sel.register(self.lsock, selectors.EVENT_READ, None)
        peer: dict[socket.socket, socket.socket] = {}
        while not self._stop.is_set():
            frozen = self._frozen.is_set()
            if self._down.is_set() and peer:
                for x in list(peer):
                    try:
                        sel.unregister(x)
                    except (KeyError, ValueError):
                        pass
                    x.close()
                peer.clear()
            for key, _ in sel.select(timeout=0.05):
                s = key.fileobj
                if s is self.lsock:
                    try:
                        c, _ = self.lsock.accept()
                    except OSError:
                        continue
                    try:
                        if self._down.is_set():
                            raise OSError("down")
                        u = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        c.close()   # the database is down: the client sees its connection closed
                        continue
                    for x in (c, u):
                        x.setblocking(False)
                        x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    peer[c], peer[u] = u, c
                    sel.register(c, selectors.EVENT_READ, None)
                    sel.register(u, selectors.EVENT_READ, None)
                    with self._lock:
                        self._pairs.append((c, u))
                    self.accepted += 1
                    continue
                if frozen:
                    continue    # leave the bytes where they are: the other side waits
                other = peer.get(s)
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data and other is not None:
                    try:
                        other.setblocking(True)
                        other.sendall(data)
                        other.setblocking(False)
                        continue
                    except OSError:
                        pass
                # one side closed: close both
                for x in (s, other):
                    if x is None:
                        continue
                    try:
                        sel.unregister(x)
                    except (KeyError, ValueError):
                        pass
                    peer.pop(x, None)
                    x.close()
            if frozen:
                time.sleep(0.05)    # select() keeps reporting the readable sockets: do not spin
        sel.close()
