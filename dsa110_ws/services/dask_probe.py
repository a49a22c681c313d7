"""Connecting to a dask scheduler within a bound.

``distributed.Client(address, timeout=...)`` bounds the TCP connect, but not every read of
its handshake: a socket that accepts and never answers hangs it, and a server that is not
dask (an HTTP server, say) can answer with bytes its decoder takes for a frame length of
exabytes (a ``MemoryError``).  :func:`connect_client` therefore first asks the address for
its identity, with one deadline over connect, write and read, and only builds the client
once a dask scheduler has answered; every failure is one typed line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from dsa110_ws.errors import DataUnavailableError, one_line

__all__ = ["probe_scheduler", "connect_client"]


async def _identity(address: str, timeout_s: float) -> Any:
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout_s)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def _unreachable(address: str, why: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"Cannot use the dask scheduler at {address}: {why}; check DSA110_WS_DASK_SCHEDULER "
        "(e.g. tcp://scheduler:8786) or unset it to use the local process pool."
    )


def probe_scheduler(address: str, timeout_s: float) -> dict[str, Any]:
    """The scheduler's identity, asked within ``timeout_s`` seconds in all.

    Raises
    ------
    DataUnavailableError
        Nothing answers in time, the address refuses, or what answers is not a dask
        scheduler.
    """

    def ask() -> Any:  # in a thread of its own: a notebook's thread runs an event loop
        # distributed retries a refused connect until its own timeout: give it the earlier
        # deadline, so a refusal is told as one and not raced by the overall bound
        return asyncio.run(asyncio.wait_for(_identity(address, 0.8 * timeout_s), timeout_s))

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            msg = pool.submit(ask).result()
    except TimeoutError:
        raise _unreachable(address, f"no answer within {timeout_s:g} s") from None
    except OSError as exc:  # refused, unresolvable, distributed's own connect timeout
        raise _unreachable(address, f"cannot connect ({one_line(exc)[:160]})") from None
    except Exception as exc:  # noqa: BLE001 - whatever a foreign server makes the decoder do
        raise _unreachable(
            address, f"it did not answer as dask does ({one_line(exc)[:160]})"
        ) from None
    if not isinstance(msg, dict) or msg.get("type") != "Scheduler":
        raise _unreachable(address, "what answers there is not a dask scheduler")
    return msg


def connect_client(address: str, timeout_s: float) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, after :func:`probe_scheduler`
    (so a silent or foreign server fails within ``timeout_s`` with one line)."""
    from distributed import Client

    probe_scheduler(address, timeout_s)
    try:
        return Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, a handshake gone wrong
        raise _unreachable(address, one_line(exc)[:200]) from None
