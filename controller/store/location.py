"""Where the run store is: a SQLite file (the embedded default) or a PostgreSQL URL.

`--db` and ``RINGLAB_DB`` take either. A value with a scheme (``xxx://``) is a URL and
must be ``postgresql://`` (or ``postgres://``); anything else is a SQLite path. A URL is
checked by libpq's own parser before any connection, so a typo is an input error (exit 2)
that names the URL, never a traceback from the first query.

A password in a URL is never printed: ``str()`` and every message give the URL with the
password replaced by ``***`` (libpq's parse errors quote the URL, so they are redacted too).
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ringlab.errors import StoreLocationError

POSTGRES_SCHEMES = ("postgresql", "postgres")
URL_FORMS = (
    "postgresql://USER@HOST[:PORT]/DATABASE, postgresql://USER@/DATABASE?host=/SOCKET/DIR"
    " (a unix socket), or a SQLite file path"
)

# user:password@ in the authority, and password=... in the query string.
_AUTHORITY_PASSWORD = re.compile(r"^(?P<head>[a-z]+://[^:/?#@]*:)(?P<password>[^@/?#]*)(?=@)", re.I)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<password>[^&#]*)", re.I)
_SCHEME = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://", re.I)


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL connection URL; prints (str and repr) without its password."""

    url: str = field(repr=False)

    @property
    def redacted(self) -> str:
        return redact(self.url)

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"PostgresUrl({self.redacted!r})"

    def scrub(self, text: str) -> str:
        """``text`` (a libpq or server message) with this URL's password taken out."""
        text = text.replace(self.url, self.redacted)
        for password in _passwords(self.url):
            text = text.replace(password, "***")
        return text


StoreLocation = Path | PostgresUrl


def redact(url: str) -> str:
    url = _AUTHORITY_PASSWORD.sub(lambda m: m["head"] + "***", url)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + "***", url)


def has_password(url: str) -> bool:
    """Whether ``url`` carries a password (``***`` once redacted counts: it had one)."""
    return bool(_AUTHORITY_PASSWORD.search(url) or _QUERY_PASSWORD.search(url))


def _passwords(url: str) -> list[str]:
    found = [m["password"] for m in _AUTHORITY_PASSWORD.finditer(url)]
    found += [m["password"] for m in _QUERY_PASSWORD.finditer(url)]
    # A one-character password would blank out unrelated letters of a message.
    return [p for p in found if len(p) > 1]


def parse_location(text: str, source: str = "--db") -> StoreLocation:
    """The store that ``text`` (from ``source``: --db, RINGLAB_DB, --to...) names."""
    text = text.strip()
    if not text:
        raise StoreLocationError(f"{source} is empty; give {URL_FORMS}")
    scheme = _SCHEME.match(text)
    if scheme is None:
        return Path(text).expanduser()
    if scheme["scheme"].lower() not in POSTGRES_SCHEMES:
        raise StoreLocationError(
            f"{source} {redact(text)}: unknown scheme {scheme['scheme']!r}; give {URL_FORMS}"
        )
    url = PostgresUrl(text)
    _check_url(url, source)
    return url


def _check_url(url: PostgresUrl, source: str) -> None:
    """libpq's parse of the URL, and the port numbers it leaves to connection time."""
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url.url)
    except Error as exc:
        reason = url.scrub(str(exc).strip())
        raise StoreLocationError(
            f"{source} {url}: not a valid PostgreSQL URL ({reason}); give {URL_FORMS}"
        ) from None
    for port in str(params.get("port", "")).split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise StoreLocationError(
                f"{source} {url}: port {port!r} is not a port number (1-65535); give {URL_FORMS}"
            )


def default_location() -> StoreLocation:
    """``RINGLAB_DB`` when set, else runs.db in the XDG data directory."""
    if env := os.environ.get("RINGLAB_DB"):
        return parse_location(env, "RINGLAB_DB")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "ringlab" / "runs.db"


def db_argument(text: str) -> StoreLocation:
    """argparse ``type=`` for --db options: a bad URL is a usage error (exit 2)."""
    try:
        return parse_location(text)
    except StoreLocationError as exc:
        raise argparse.ArgumentTypeError(exc.message.removeprefix("--db ")) from None


DB_HELP = (
    "run store: a SQLite file or a postgresql://USER@HOST/DATABASE URL"
    " (default $RINGLAB_DB, else runs.db in the XDG data dir)"
)
