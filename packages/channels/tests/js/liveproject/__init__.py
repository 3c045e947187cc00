"""A small Django site for the live-server bridge tests (test_live_server.py).

Run as real ``daphne`` + ``runworker`` processes on the IPC layer: the prefix
comes from LIVE_IPC_PREFIX and the SQLite file from LIVE_DB_PATH.
"""
