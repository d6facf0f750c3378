"""Download a page or feed safely: http(s) only, a size limit, a timeout, every redirect checked.

A URL given to the bot (by an admin, or inside a feed) must not make it read the machine's own
services or the office network, so the host's addresses must all be public, before connecting
and again for the address actually connected to, at every redirect hop; private, loopback and
link-local addresses are refused unless `allow_private` (QABOT_ALLOW_PRIVATE_URLS; the tests
serve from 127.0.0.1). Proxies from the environment are not used, so the check sees the real peer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from .document import IngestError

REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(IngestError):
    """The URL was refused or could not be downloaded; the message names it."""


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 10_000_000
    timeout: float = 20.0
    max_redirects: int = 5
    allow_private: bool = False
    user_agent: str = "qabot/0.1 (news ingestion)"


@dataclass
class Fetched:
    url: str  # after redirects
    status: int  # 200, or 304 when a conditional request found nothing new
    content: bytes = b""
    content_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def charset(self) -> str | None:
        """The charset the server declared in Content-Type, if any."""
        for part in self.content_type.split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return None


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse anything but http(s) to a host whose addresses are all allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{_short(url)}: only http(s) URLs can be fetched")
    if not parts.hostname:
        raise FetchError(f"{_short(url)}: the URL has no host")
    if parts.username or parts.password:
        raise FetchError(f"{_short(url)}: URLs with a user name or password are refused")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FetchError(f"{_short(url)}: cannot resolve the host ({exc})") from exc
    for info in infos:
        _check_address(str(info[4][0]), url, policy)


def fetch(
    url: str,
    policy: FetchPolicy,
    headers: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> Fetched:
    """GET `url`; a 304 answer to conditional `headers` comes back with status 304 and no body."""
    own = client is None
    http = client or httpx.Client(trust_env=False, timeout=policy.timeout)
    try:
        current = url
        for _ in range(policy.max_redirects + 1):
            check_url(current, policy)
            request_headers = {"User-Agent": policy.user_agent, **(headers or {})}
            try:
                with http.stream(
                    "GET", current, headers=request_headers, follow_redirects=False, timeout=policy.timeout
                ) as response:
                    _check_peer(response, current, policy)
                    if response.status_code in REDIRECTS and response.headers.get("location"):
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code == 304:
                        return Fetched(url=current, status=304, headers=dict(response.headers))
                    if response.status_code >= 400:
                        raise FetchError(f"{_short(current)}: HTTP {response.status_code}")
                    content = _read_limited(response, current, policy.max_bytes)
                    return Fetched(
                        url=current,
                        status=response.status_code,
                        content=content,
                        content_type=response.headers.get("content-type", ""),
                        headers=dict(response.headers),
                    )
            except httpx.TimeoutException as exc:
                raise FetchError(f"{_short(current)}: timed out after {policy.timeout:g} s") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{_short(current)}: {type(exc).__name__}: {exc}") from exc
        raise FetchError(f"{_short(url)}: more than {policy.max_redirects} redirects")
    finally:
        if own:
            http.close()


def _read_limited(response: httpx.Response, url: str, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{_short(url)}: larger than the {limit:,}-byte limit")
    data = bytearray()
    for piece in response.iter_bytes():
        data.extend(piece)
        if len(data) > limit:
            raise FetchError(f"{_short(url)}: larger than the {limit:,}-byte limit")
    return bytes(data)


def _check_peer(response: httpx.Response, url: str, policy: FetchPolicy) -> None:
    """The address actually connected to (a name may resolve differently a second time)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if peer:
        _check_address(str(peer[0]), url, policy)


def _check_address(address: str, url: str, policy: FetchPolicy) -> None:
    if policy.allow_private:
        return
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise FetchError(
            f"{_short(url)}: refused, {ip} is a private or local address (set QABOT_ALLOW_PRIVATE_URLS to allow)"
        )


def _short(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
