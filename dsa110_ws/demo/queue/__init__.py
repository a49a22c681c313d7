"""The demo's task queue: the deployment's PostgreSQL schema (``absurd.sql``), an embedded
PostgreSQL server (:mod:`.cluster`) and a seeded day of queue activity (:mod:`.day`)
driven through the schema's own functions, consistent with the SQLite demo state.

>>> from dsa110_ws.demo.queue.day import make_queue_state, start_queue_server
"""
