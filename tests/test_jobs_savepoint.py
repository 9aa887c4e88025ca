"""Jobs belong to the outermost transaction: releasing a SAVEPOINT publishes nothing."""

from __future__ import annotations

from sqlmodel import Session, select

from choso import jobs
from choso.db import new_session
from choso.outbox import JobOutbox
from market.models import Notification
from tests.conftest import wait_for_jobs
from tests.factories import user


def test_a_job_enqueued_inside_a_savepoint_waits_for_the_outer_commit(db: Session) -> None:
    owner = user()
    session = new_session()
    try:
        session.add(JobOutbox(task="noop", args=[], kwargs={}))  # start the outer transaction
        session.flush()
        with session.begin_nested():
            jobs.enqueue_after_commit(
                session,
                "market.deliver_notification",
                user_id=owner.id,
                kind="welcome",
                params={"name": "x"},
                dedupe_key="savepoint",
            )
        wait_for_jobs()
        db.rollback()
        assert db.exec(select(Notification)).all() == []  # the savepoint's release published nothing
        session.rollback()  # and the outer transaction never commits
    finally:
        session.close()
    wait_for_jobs()
    db.rollback()
    assert db.exec(select(Notification)).all() == []
