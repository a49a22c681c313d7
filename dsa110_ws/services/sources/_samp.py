"""``w.samp``: send tables and sky positions to TOPCAT, Aladin or DS9 through a SAMP hub.

SAMP (the IVOA's Simple Application Messaging Protocol) connects the desktop tools of a
user: TOPCAT and Aladin each start a hub when none runs.  A table is written as a VOTable
(the exporter's: units, UCDs, times, metadata) in the workspace's state directory and its
``file://`` URL sent with ``table.load.votable``; a position goes as ``coord.pointAt.sky``.
The hub is found the standard way (``$SAMP_HUB``, else ``~/.samp``), with ``pyvo.samp``
(astropy's SAMP package, which astropy 8 deprecated in its favour).  Where none runs,
or no client takes the message, the call raises :class:`DataUnavailableError` with one
line saying what to start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError, one_line

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy

__all__ = ["SampService", "TABLE_MTYPE", "POINT_MTYPE"]

TABLE_MTYPE = "table.load.votable"
POINT_MTYPE = "coord.pointAt.sky"
#: Tables sent earlier are kept this many at most in the state directory.
_KEEP_FILES = 50
_NO_HUB = (
    "No SAMP hub is running ({why}): start TOPCAT or Aladin (each starts one), then send again."
)


class SampService:
    """SAMP messages to desktop VO tools (``w.samp``).

    Parameters
    ----------
    paths
        Where the workspace may write (the tables sent are files).
    outbox
        Directory for the VOTables sent (``<state_dir>/samp``).
    client_name
        The name the workspace shows in the hub.
    timeout_s
        Seconds to wait for the hub.
    """

    def __init__(
        self,
        paths: PathPolicy,
        outbox: str | Path,
        *,
        client_name: str = "dsa110-ws",
        timeout_s: float = 5.0,
    ):
        self._paths = paths
        self._outbox = Path(outbox)
        self._name = client_name
        self._timeout = float(timeout_s)

    def __repr__(self) -> str:
        return "<SampService: status, send, point_at>"

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        from pyvo.samp import SAMPClientError, SAMPHubError, SAMPIntegratedClient

        client = SAMPIntegratedClient(
            name=self._name,
            description="DSA-110 workspace (dsa110_ws)",
            callable=False,
        )
        try:
            client.connect()
        except (SAMPHubError, SAMPClientError, OSError) as exc:
            raise DataUnavailableError(_NO_HUB.format(why=one_line(exc))) from None
        try:
            yield client
        finally:
            with contextlib.suppress(SAMPHubError, SAMPClientError, OSError):
                client.disconnect()

    def status(self) -> dict[str, Any]:
        """Whether a hub runs, and its clients: ``{"hub": bool, "clients": [{"id", "name",
        "tables", "positions"}], "message"}`` (never raises for a missing hub)."""
        try:
            with self._client() as client:
                table = set(client.get_subscribed_clients(TABLE_MTYPE))
                point = set(client.get_subscribed_clients(POINT_MTYPE))
                clients = [
                    {
                        "id": cid,
                        "name": _name(client, cid),
                        "tables": cid in table,
                        "positions": cid in point,
                    }
                    for cid in client.get_registered_clients()
                ]
        except DataUnavailableError as exc:
            return {"hub": False, "clients": [], "message": str(exc)}
        return {"hub": True, "clients": clients, "message": f"{len(clients)} SAMP clients"}

    def send(self, df: pd.DataFrame, *, name: str | None = None, to: str | None = None) -> dict:
        """Send a table (a DataFrame: light curve, candidates, cone results...) to the SAMP
        clients that load tables (or only to the one named ``to``, e.g. "topcat").

        Returns ``{"mtype", "name", "url", "n_rows", "recipients"}``.
        """
        if not isinstance(df, pd.DataFrame):
            raise InvalidQueryError("w.samp.send() sends a DataFrame (a light curve or a table).")
        from dsa110_ws.services.sources._export import export_table

        label = name or str(df.attrs.get("source_id") or "dsa110-ws table")
        with self._client() as client:
            targets = self._recipients(client, TABLE_MTYPE, to, "tables")
            path = export_table(self._paths, df, self._new_file(label), overwrite=True)
            url = path.as_uri()
            message = {
                "samp.mtype": TABLE_MTYPE,
                "samp.params": {"url": url, "name": label, "table-id": path.stem},
            }
            for cid in targets:
                client.notify(cid, message)
            names = [_name(client, cid) for cid in targets]
        self._prune()
        return {
            "mtype": TABLE_MTYPE,
            "name": label,
            "url": url,
            "n_rows": len(df),
            "recipients": names,
        }

    def point_at(self, position: Any, *, to: str | None = None) -> dict:
        """Point the clients that take sky positions (Aladin, DS9...) at ``position``
        (``SkyCoord`` or ICRS ``(ra_deg, dec_deg)``).  Returns ``{"mtype", "ra", "dec",
        "recipients"}``."""
        from dsa110_ws.services.sources._catalog import as_radec

        ra, dec = as_radec(position)
        if not -90.0 <= dec <= 90.0:
            raise InvalidQueryError(f"Declination {dec} is not between -90 and 90 degrees.")
        message = {
            "samp.mtype": POINT_MTYPE,
            "samp.params": {"ra": repr(ra % 360.0), "dec": repr(dec)},
        }
        with self._client() as client:
            targets = self._recipients(client, POINT_MTYPE, to, "sky positions")
            for cid in targets:
                client.notify(cid, message)
            names = [_name(client, cid) for cid in targets]
        return {"mtype": POINT_MTYPE, "ra": ra % 360.0, "dec": dec, "recipients": names}

    # -- helpers -----------------------------------------------------------------------------
    def _recipients(self, client: Any, mtype: str, to: str | None, what: str) -> list[str]:
        ids = sorted(client.get_subscribed_clients(mtype))
        if to is not None:
            ids = [c for c in ids if _name(client, c).lower() == str(to).lower()]
        if not ids:
            who = f"named {to!r} " if to else ""
            raise DataUnavailableError(
                f"The SAMP hub has no client {who}that accepts {what} ({mtype}): start "
                "TOPCAT or Aladin and connect it to the hub, then send again."
            )
        return ids

    def _new_file(self, label: str) -> Path:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        slug = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label)[:60] or "table"
        return self._paths.output(self._outbox / f"{stamp}-{slug}.xml", what="SAMP table")

    def _prune(self) -> None:
        files = sorted(self._outbox.glob("*.xml"))
        for old in files[:-_KEEP_FILES]:
            with contextlib.suppress(OSError):
                old.unlink()


def _name(client: Any, cid: str) -> str:
    """A client's ``samp.name`` (its id when it left meanwhile and has no metadata)."""
    from pyvo.samp import SAMPClientError, SAMPHubError

    try:
        return str(client.get_metadata(cid).get("samp.name") or cid)
    except (SAMPHubError, SAMPClientError, OSError):
        return cid
