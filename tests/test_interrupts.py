"""Interrupts held over a write that must be whole, and acted on once it is done (real
signals, raised at this process)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from eventstore.interrupts import interrupts_deferred, sigterm_interrupts, wait_for


def test_ctrl_c_inside_the_block_interrupts_only_after_it() -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        signal.raise_signal(signal.SIGINT)
        finished = True  # the write goes on to its end
    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_keeps_its_handler_and_acts_after_the_block() -> None:
    finished = False
    with (
        sigterm_interrupts(),
        pytest.raises(KeyboardInterrupt, match="SIGTERM"),
        interrupts_deferred(),
    ):
        signal.raise_signal(signal.SIGTERM)
        finished = True
    assert finished


def test_a_block_without_signals_changes_nothing() -> None:
    with interrupts_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_stops_a_wait_for_with_the_condition_free() -> None:
    """A wait that would never end (a writer that is stuck) ends at Ctrl-C with
    ``KeyboardInterrupt``, never ``RuntimeError: release unlocked lock``, and the condition's
    lock is free for whoever comes next."""
    condition = threading.Condition()
    interrupter = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        interrupter.start()
        wait_for(condition, lambda: False)
    interrupter.join()
    assert condition.acquire(blocking=False)
    condition.release()


def test_wait_for_returns_once_ready() -> None:
    condition = threading.Condition()
    ready: list[bool] = []

    def make_ready() -> None:
        with condition:
            ready.append(True)
            condition.notify_all()

    maker = threading.Thread(target=make_ready)
    maker.start()
    wait_for(condition, lambda: bool(ready))
    maker.join()
    assert ready == [True]
