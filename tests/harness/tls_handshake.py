"""The TLS of the test fakes (fake_sppis.py, fake_bcss.py): Python standard library only.

HandshakeInConnectionThread, mixed in before a socketserver server class, runs each TLS
handshake in the connection's own thread (finish_request), never in accept(), so a client that
fails the handshake or never starts it does not hold the others up; a failed handshake calls
handshake_failed() (the fakes count it) and closes the socket. peer_cn(): the subject CN of a
connection's verified client certificate."""

from __future__ import annotations

import ssl


class HandshakeInConnectionThread:
    context: ssl.SSLContext

    def handshake_failed(self) -> None:
        pass

    def finish_request(self, request, client_address):
        try:
            request.settimeout(10)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshake_failed()
            try:
                request.close()
            except OSError:
                pass
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def peer_cn(connection) -> str:
    """The subject CN of the client certificate verified on this connection; "" without one (or
    over plain HTTP)."""
    cert = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
    return next((v for rdn in (cert or {}).get("subject", ()) for k, v in rdn if k == "commonName"), "")
