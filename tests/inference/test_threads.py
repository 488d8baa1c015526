"""``run_with_threads``: an evaluation with a thread count of its own, the caller's left as it is."""

import subprocess
import sys
import threading

import pytest
import torch

from ictp_calc.inference.threads import run_with_threads


def _count_of_a_new_thread() -> int:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


def test_runs_with_the_count_asked_for_and_leaves_the_callers(two_threads):
    new_thread_before = _count_of_a_new_thread()
    assert run_with_threads(1, torch.get_num_threads) == 1
    assert run_with_threads(3, torch.get_num_threads) == 3
    assert torch.get_num_threads() == 2
    assert _count_of_a_new_thread() == new_thread_before  # the process's default for new threads too


def test_the_callers_count_or_none_runs_on_the_calling_thread(two_threads):
    here = threading.get_ident()
    assert run_with_threads(None, threading.get_ident) == here
    assert run_with_threads(2, threading.get_ident) == here
    assert run_with_threads(1, threading.get_ident) != here


def test_one_worker_per_count_and_arguments_pass_through(two_threads):
    first = run_with_threads(1, threading.get_ident)
    assert run_with_threads(1, threading.get_ident) == first
    assert run_with_threads(1, lambda a, b=0: a + b, 2, b=3) == 5
    # A worker calling for its own count runs inline (no deadlock on its own queue).
    assert run_with_threads(1, run_with_threads, 1, threading.get_ident) == first


def test_exceptions_reach_the_caller(two_threads):
    def fail():
        raise ValueError("inside the worker")

    with pytest.raises(ValueError, match="inside the worker"):
        run_with_threads(1, fail)
    assert run_with_threads(1, torch.get_num_threads) == 1  # the worker survives


@pytest.mark.parametrize("grad", [False, True])
def test_the_callers_grad_mode_is_carried(two_threads, grad):
    with torch.set_grad_enabled(grad):
        assert run_with_threads(1, torch.is_grad_enabled) is grad


def test_a_forked_child_makes_its_own_worker():
    code = (
        "import os, torch\n"
        "from ictp_calc.inference.threads import run_with_threads\n"
        "torch.set_num_threads(2)\n"
        "assert run_with_threads(1, torch.get_num_threads) == 1\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if run_with_threads(1, torch.get_num_threads) == 1 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "0"


def test_an_interrupted_caller_waits_for_the_call_to_finish(two_threads):
    """A signal handler's exception reaches the caller only after the worker's call has finished."""
    import signal

    class Interrupted(Exception):
        pass

    started, go, interrupted, done = (threading.Event() for _ in range(4))
    seen = {}

    def on_signal(signum, frame):
        if interrupted.is_set():  # a repeated signal (see interrupter)
            return
        seen["call_finished_at_signal"] = done.is_set()
        interrupted.set()
        raise Interrupted

    def slow():
        started.set()
        go.wait(30)
        done.set()

    def interrupter():
        started.wait(30)
        # Again until the handler has run: a signal that lands just before the caller blocks in its
        # wait is handled only when the wait ends. Only then may the call finish.
        for _ in range(150):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
            if interrupted.wait(0.2):
                break
        seen["handler_ran"] = interrupted.is_set()
        go.set()

    previous = signal.signal(signal.SIGUSR1, on_signal)
    helper = threading.Thread(target=interrupter)
    try:
        helper.start()
        with pytest.raises(Interrupted):
            run_with_threads(1, slow)
        assert done.is_set()
        helper.join()
        assert seen == {"call_finished_at_signal": False, "handler_ran": True}
    finally:
        go.set()
        helper.join()
        signal.signal(signal.SIGUSR1, previous)
