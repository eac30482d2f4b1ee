"""Durability: every write the store acknowledged is still there after ``kill -9``.

A child process writes objects and prints each revision the store returned (its
acknowledgement); the test SIGKILLs it in the middle of the stream, reopens the file and looks
for every acknowledged write. Three rounds kill the same file at different points, so the
recovery of a WAL left by a killed writer is exercised again and again.

What this proves: a write is committed before ``create``/``update`` return, and a torn file
recovers (SQLite replays or discards the WAL tail). A kill -9 leaves the kernel's page cache
intact, so it cannot show that ``synchronous=FULL`` also survives a power cut; that part rests
on SQLite's fsync of the WAL at each COMMIT (checked below through ``PRAGMA synchronous``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from minikube_py.store import open_store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = textwrap.dedent("""
    import sys
    from minikube_py.store import open_store

    store = open_store(sys.argv[1])
    tag = sys.argv[2]
    if store.get("/counter") is None:
        store.create("/counter", {"n": 0})
    for i in range(1_000_000):
        created = store.create(f"/registry/things/{tag}-{i:06d}", {"i": i, "pad": "x" * 300})
        updated = store.update("/counter", {"n": i, "tag": tag})
        print(tag, i, created, updated, flush=True)
""")


def write_until_killed(path: str, tag: str, acks_before_kill: int) -> list[tuple[int, int, int]]:
    """Run the writer, SIGKILL it after ``acks_before_kill`` acknowledgements; all acks."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, path, tag], stdout=subprocess.PIPE,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert child.stdout is not None
    acks: list[tuple[int, int, int]] = []
    try:
        for line in child.stdout:
            _, i, created, updated = line.split()
            acks.append((int(i), int(created), int(updated)))
            if len(acks) == acks_before_kill:
                os.kill(child.pid, signal.SIGKILL)
                break
        # Lines printed before the kill landed are acknowledgements too.
        for line in child.stdout:
            _, i, created, updated = line.split()
            acks.append((int(i), int(created), int(updated)))
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acks


def test_every_acknowledged_write_survives_sigkill_of_the_writer(tmp_path):
    path = str(tmp_path / "store.db")
    previous_head = 0
    for round_number, kill_after in enumerate([150, 37, 260]):
        tag = f"r{round_number}"
        acks = write_until_killed(path, tag, kill_after)
        assert len(acks) >= kill_after

        with open_store(path) as store:
            # Every acknowledged object is there, with the revision the writer was told.
            for i, created, _ in acks:
                kv = store.get(f"/registry/things/{tag}-{i:06d}")
                assert kv is not None, f"acknowledged write {tag}-{i} (revision {created}) lost"
                assert kv.value["i"] == i and kv.mod_revision == kv.create_revision == created
            last_i, _, last_update = acks[-1]
            counter = store.get("/counter")
            assert counter is not None and counter.mod_revision >= last_update
            assert counter.value["tag"] == tag and counter.value["n"] >= last_i
            # The revision never goes back, and the next write continues after it.
            head = store.revision()
            assert head >= last_update > previous_head
            assert store.create(f"/after/{tag}", {}) == head + 1
            previous_head = head + 1
            # The event log agrees with the objects.
            with store.watch(f"/registry/things/{tag}-", 0) as watch:
                revisions = []
                while (event := watch.next(0)) is not None:
                    revisions.append(event.revision)
            assert revisions[: len(acks)] == [created for _, created, _ in acks]

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_the_writer_connection_fsyncs_each_commit(tmp_path):
    with open_store(str(tmp_path / "store.db")) as store:
        assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
