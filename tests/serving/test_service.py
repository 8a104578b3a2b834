import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.service import Shelfwise


class Store:
    def __init__(self, networked: bool):
        self.networked = networked


def service_with(store: Store):
    svc = Shelfwise.inner.__new__(Shelfwise.inner)  # the API methods' object, without loading models
    svc.store = store
    return svc


def serve(*calls):
    """Runs ``svc._pick`` calls concurrently on one event loop, as a worker does requests;
    returns the loop's thread and each call's result. The loop gets a thread of its own
    (the browser tests keep one running in the main thread)."""
    async def requests():
        return threading.current_thread(), await asyncio.gather(*(c() for c in calls))

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, requests()).result()


def test_reads_of_a_networked_store_wait_in_threads_so_one_slow_read_does_not_stall_the_others():
    svc = service_with(Store(networked=True))
    both_waiting = threading.Barrier(2, timeout=5)  # passes only if the two reads overlap

    def slow_read():
        both_waiting.wait()
        return threading.current_thread()

    loop_thread, threads = serve(lambda: svc._pick(slow_read), lambda: svc._pick(slow_read))
    assert loop_thread not in threads


def test_reads_of_the_embedded_store_stay_on_the_event_loop():
    svc = service_with(Store(networked=False))
    loop_thread, [thread] = serve(lambda: svc._pick(threading.current_thread))
    assert thread is loop_thread


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_each_live_store_says_whether_its_reads_go_over_the_network(store, tmp_path, request):
    from features.workspace import Workspace

    url = request.getfixturevalue("redis_url") if store == "redis" else None
    assert Workspace(tmp_path, live_store_url=url).live_store().networked is (store == "redis")
