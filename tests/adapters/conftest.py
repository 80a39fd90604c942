"""Fixtures shared by the adapter tests: one Dovecot for the whole session, a fresh mailbox per test."""

from __future__ import annotations

import pytest

from tests.fakes.dovecot import Dovecot, Mailbox


@pytest.fixture(scope="session")
def dovecot() -> Dovecot:
    return Dovecot.shared()


@pytest.fixture
def box(dovecot: Dovecot) -> Mailbox:
    return dovecot.new_mailbox()
