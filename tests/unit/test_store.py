"""The cluster store: revisions, optimistic concurrency, lists, watches, compaction."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from minikube_py.errors import MinikubeError
from minikube_py.store import (
    Compacted,
    Conflict,
    KeyExists,
    KeyNotFound,
    SqliteBackend,
    StoreError,
    WatchEvent,
    open_store,
)

POD = "/registry/pods/default/"


@pytest.fixture(params=[True, False], ids=["reader-pool", "shared-connection"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(str(tmp_path / "store.db"), reader_pool=request.param)
    yield backend
    backend.close()


def pod(name: str, **extra: object) -> dict:
    return {"kind": "Pod", "metadata": {"name": name}, **extra}


def drain(watch, count: int, timeout: float = 5.0) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    for _ in range(count):
        event = watch.next(timeout)
        assert event is not None, f"only {len(events)} of {count} events arrived"
        events.append(event)
    return events


def test_create_update_delete_each_bump_the_store_revision(store):
    start = store.revision()
    created = store.create(POD + "a", pod("a"))
    assert created == start + 1
    kv = store.get(POD + "a")
    assert kv is not None
    assert (kv.value, kv.create_revision, kv.mod_revision) == (pod("a"), created, created)

    updated = store.update(POD + "a", pod("a", spec={"x": 1}))
    assert updated == created + 1
    kv = store.get(POD + "a")
    assert kv is not None
    assert (kv.value["spec"], kv.create_revision, kv.mod_revision) == ({"x": 1}, created, updated)

    last, deleted = store.delete(POD + "a")
    assert (last, deleted) == (pod("a", spec={"x": 1}), updated + 1)
    assert store.get(POD + "a") is None
    assert store.revision() == deleted


def test_returned_values_are_copies_the_caller_may_change(store):
    store.create(POD + "a", pod("a"))
    store.get(POD + "a").value["metadata"]["name"] = "changed"
    assert store.get(POD + "a").value == pod("a")


def test_update_with_a_stale_expected_revision_is_a_conflict_naming_the_key(store):
    first = store.create(POD + "a", pod("a"))
    second = store.update(POD + "a", pod("a", v=2), expected_revision=first)
    with pytest.raises(Conflict) as error:
        store.update(POD + "a", pod("a", v=3), expected_revision=first)
    assert str(error.value) == (f"failed to update key {POD}a: revision mismatch "
                                f"(expected {first}, current {second})")
    assert isinstance(error.value, StoreError) and isinstance(error.value, MinikubeError)
    assert store.get(POD + "a").value["v"] == 2
    assert store.revision() == second


def test_delete_with_a_stale_expected_revision_is_a_conflict(store):
    first = store.create(POD + "a", pod("a"))
    store.update(POD + "a", pod("a", v=2))
    with pytest.raises(Conflict, match=f"failed to delete key {POD}a"):
        store.delete(POD + "a", expected_revision=first)
    assert store.get(POD + "a") is not None


def test_creating_an_existing_key_raises_key_exists(store):
    store.create(POD + "a", pod("a"))
    before = store.revision()
    with pytest.raises(KeyExists, match=f"failed to create key {POD}a: key already exists"):
        store.create(POD + "a", pod("other"))
    assert store.get(POD + "a").value == pod("a")
    assert store.revision() == before


def test_updating_or_deleting_a_missing_key_raises_key_not_found(store):
    with pytest.raises(KeyNotFound, match=f"failed to update key {POD}ghost: key not found"):
        store.update(POD + "ghost", pod("ghost"))
    with pytest.raises(KeyNotFound, match=f"failed to delete key {POD}ghost"):
        store.delete(POD + "ghost", expected_revision=3)


def test_values_must_be_json_objects(store):
    with pytest.raises(StoreError, match="must be a JSON object"):
        store.create(POD + "a", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=f"failed to create key {POD}a: value is not JSON"):
        store.create(POD + "a", {"when": object()})
    assert store.get(POD + "a") is None


def test_list_returns_the_keys_under_a_prefix_sorted_with_the_snapshot_revision(store):
    for key in [POD + "b", POD + "a", "/registry/pods/kube-system/c", "/registry/podsx/d",
                "/registry/services/default/e", POD + "é"]:
        store.create(key, {"key": key})
    items, revision = store.list(POD)
    assert [kv.key for kv in items] == [POD + "a", POD + "b", POD + "é"]
    assert revision == store.revision()
    assert [kv.key for kv in store.list("/registry/pods/")[0]] == [
        POD + "a", POD + "b", POD + "é", "/registry/pods/kube-system/c"]
    assert len(store.list("")[0]) == 6
    assert store.list("/registry/nothing/") == ([], revision)


def test_a_list_taken_while_writers_run_is_one_consistent_snapshot(store):
    """Keys k0000.. are created one by one: a list at revision R holds exactly R - base."""
    base = store.revision()
    stop = threading.Event()

    def writer() -> None:
        for i in range(300):
            if stop.is_set():
                return
            store.create(f"/registry/things/k{i:04d}", {"i": i})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(50):
            items, revision = store.list("/registry/things/")
            assert len(items) == revision - base
            assert all(kv.mod_revision <= revision for kv in items)
    finally:
        stop.set()
        thread.join()


def test_revision_and_objects_survive_reopening_the_file(tmp_path):
    path = str(tmp_path / "store.db")
    with open_store(path) as first:
        first.create(POD + "a", pod("a"))
        revision = first.update(POD + "a", pod("a", v=2))
    with open_store(path) as again:
        assert again.revision() == revision
        kv = again.get(POD + "a")
        assert kv is not None and kv.mod_revision == revision
        assert again.create(POD + "b", pod("b")) == revision + 1
        assert [e.type for e in drain(again.watch(POD, 0), 3)] == ["ADDED", "MODIFIED", "ADDED"]


def test_open_store_on_a_directory_uses_store_db_in_it(tmp_path):
    with open_store(str(tmp_path)) as store:
        assert store.path == str(tmp_path / "store.db")
    conn = sqlite3.connect(tmp_path / "store.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_watch_delivers_the_backlog_then_live_events_written_by_another_thread(store):
    start = store.revision()
    store.create(POD + "a", pod("a"))
    store.update(POD + "a", pod("a", v=2))
    watch = store.watch(POD, start)

    def writer() -> None:
        time.sleep(0.05)
        store.create(POD + "b", pod("b"))
        store.delete(POD + "a")

    thread = threading.Thread(target=writer)
    thread.start()
    events = drain(watch, 4)
    thread.join()
    assert [(e.type, e.key, e.revision) for e in events] == [
        ("ADDED", POD + "a", start + 1), ("MODIFIED", POD + "a", start + 2),
        ("ADDED", POD + "b", start + 3), ("DELETED", POD + "a", start + 4)]
    assert events[1].prev == pod("a") and events[0].prev is None
    assert events[3].value == pod("a", v=2) == events[3].prev
    assert watch.next(0.05) is None
    watch.close()


def test_watch_from_a_list_revision_sees_only_later_changes(store):
    store.create(POD + "a", pod("a"))
    _, revision = store.list(POD)
    store.create(POD + "b", pod("b"))
    with store.watch(POD, revision) as watch:
        assert [e.key for e in drain(watch, 1)] == [POD + "b"]
        assert watch.next(0.05) is None


def test_watch_only_sees_keys_under_its_prefix(store):
    with store.watch("/registry/services/", store.revision()) as watch:
        store.create(POD + "a", pod("a"))
        store.create("/registry/servicesx/y", {})
        store.create("/registry/services/default/web", {"kind": "Service"})
        store.create(POD + "b", pod("b"))
        assert [e.key for e in drain(watch, 1)] == ["/registry/services/default/web"]
        assert watch.next(0.05) is None
        assert watch.revision == store.revision()  # skipped past the other keys


def test_watch_backlog_longer_than_one_batch_arrives_complete_and_in_order(store):
    start = store.revision()
    for i in range(1200):
        store.create(f"/registry/things/k{i:04d}", {"i": i})
    with store.watch("/registry/things/", start) as watch:
        events = drain(watch, 1200)
    assert [e.value["i"] for e in events] == list(range(1200))


def test_watch_close_from_another_thread_unblocks_the_iterator(store):
    watch = store.watch(POD, store.revision())
    seen: list[WatchEvent] = []
    thread = threading.Thread(target=lambda: seen.extend(watch))
    thread.start()
    store.create(POD + "a", pod("a"))
    time.sleep(0.1)
    watch.close()
    thread.join(2)
    assert not thread.is_alive()
    assert [e.key for e in seen] == [POD + "a"]
    assert watch.next(1) is None


def test_closing_the_store_closes_its_watches_and_refuses_further_calls(tmp_path):
    store = open_store(str(tmp_path / "store.db"))
    watch = store.watch("", 0)
    thread = threading.Thread(target=lambda: list(watch))
    thread.start()
    time.sleep(0.05)
    store.close()
    thread.join(2)
    assert not thread.is_alive()
    with pytest.raises(StoreError, match="is closed"):
        store.get(POD + "a")
    with pytest.raises(StoreError, match=f"failed to create key {POD}a: store .* is closed"):
        store.create(POD + "a", pod("a"))
    store.close()


def test_watch_from_before_the_compaction_point_raises_compacted(store):
    for name in "abcde":
        store.create(POD + name, pod(name))
    point = store.revision() - 2
    store.compact(point)
    with pytest.raises(Compacted) as error:
        store.watch(POD, point - 1)
    assert error.value.compacted == point
    assert "required revision has been compacted" in str(error.value)
    with store.watch(POD, point) as watch:  # from the compaction point itself is fine
        assert [e.key for e in drain(watch, 2)] == [POD + "d", POD + "e"]
    store.compact(point - 1)  # going back is a no-op
    with pytest.raises(StoreError, match="newer than the store"):
        store.compact(store.revision() + 1)


def test_automatic_compaction_keeps_the_newest_events(tmp_path):
    with SqliteBackend(str(tmp_path / "store.db"), keep_events=10) as store:
        for i in range(30):
            store.create(f"/registry/things/k{i:02d}", {"i": i})
        head = store.revision()
        with store.watch("", head - 10) as watch:
            assert [e.value["i"] for e in drain(watch, 10)] == list(range(20, 30))
        with pytest.raises(Compacted):
            store.watch("", head - 11)
        assert len(store.list("/registry/things/")[0]) == 30  # objects are never compacted
    conn = sqlite3.connect(tmp_path / "store.db")
    assert conn.execute("SELECT count(*), min(revision) FROM events").fetchone() == (10, head - 9)
    conn.close()


def test_a_watch_that_falls_behind_compaction_gets_compacted_from_next(tmp_path):
    with SqliteBackend(str(tmp_path / "store.db"), keep_events=5) as store:
        watch = store.watch("", store.revision())
        for i in range(20):
            store.create(f"/k{i}", {})
        with pytest.raises(Compacted):
            watch.next(1)


def test_concurrent_writers_get_unique_increasing_revisions(store):
    start = store.revision()
    results: dict[int, list[int]] = {}

    def writer(n: int) -> None:
        results[n] = [store.create(f"/registry/things/t{n}-{i}", {"n": n}) for i in range(40)]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(r for revisions in results.values() for r in revisions)
    assert every == list(range(start + 1, start + 321))
    assert all(revisions == sorted(revisions) for revisions in results.values())
    items, revision = store.list("/registry/things/")
    assert (len(items), revision) == (320, start + 320)


def test_concurrent_updates_with_expected_revision_lose_no_increment(store):
    """Read-modify-write with retry on Conflict: the counter ends at exactly 8 x 25."""
    store.create("/counter", {"n": 0})

    def incrementer() -> None:
        for _ in range(25):
            while True:
                kv = store.get("/counter")
                try:
                    store.update("/counter", {"n": kv.value["n"] + 1}, kv.mod_revision)
                    break
                except Conflict:
                    continue

    threads = [threading.Thread(target=incrementer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("/counter").value == {"n": 200}


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 CLI")
def test_the_sqlite3_cli_reads_the_store_while_it_is_open(store):
    store.create(POD + "a", pod("a"))
    revision = store.update(POD + "a", pod("a", status={"phase": "Running"}))
    out = subprocess.run(
        ["sqlite3", store.path, "select key, mod_revision, "
         "json_extract(value, '$.status.phase') from kv"],
        capture_output=True, text=True, check=True, timeout=10).stdout
    assert out.strip() == f"{POD}a|{revision}|Running"


def test_the_store_file_is_private_to_its_owner(tmp_path):
    with open_store(str(tmp_path / "store.db")) as store:
        store.create(POD + "a", pod("a"))
        modes = {name: (tmp_path / name).stat().st_mode & 0o777
                 for name in ["store.db", "store.db-wal"]}
    assert modes == {"store.db": 0o600, "store.db-wal": 0o600}
