"""Racing real threads against the database, each with its own connection."""
import threading

from django.db import close_old_connections, connections


def run_in_threads(work, count=8):
    """Run ``work(i)`` for i in range(count) in threads released together by a barrier.

    Returns (results by i, errors raised); every thread's connections are closed after."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - returned to the test, which asserts on it
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    close_old_connections()
    return results, errors
