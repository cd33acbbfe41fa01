"""Plain HTTP to a server on loopback, with the standard library's client:
the status, headers and body as they arrive, errors included."""

import http.client
import time
from dataclasses import dataclass


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(addr: str, path: str, method: str = "GET", timeout: float = 2) -> Response:
    """METHOD PATH on ADDR (HOST:PORT); any status is returned, not raised."""
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return Response(r.status, r.headers, r.read())
    finally:
        conn.close()


def get(addr: str, path: str, timeout: float = 2) -> Response:
    return request(addr, path, timeout=timeout)


def wait_for(addr: str, path: str = "/healthz", seconds: float = 5) -> bool:
    """True once PATH on ADDR answers 200, False if it has not within SECONDS."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if get(addr, path, timeout=1).status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False
