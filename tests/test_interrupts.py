"""Interrupts held over a write that must be whole, and acted on once it is done (real
signals, raised at this process)."""

from __future__ import annotations

import signal

import pytest

from eventstore.interrupts import interrupts_deferred, sigterm_interrupts


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
