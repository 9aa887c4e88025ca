"""In-app notifications: written idempotently by jobs, shown on the account page."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from choso.db import utcnow
from choso.errors import NotFound
from choso.i18n import N_, gettext_
from market.models import Notification

MESSAGES = {
    "welcome": N_("Welcome to Chợ Số, %(name)s! Your account is ready."),
    "login_blocked": N_(
        "%(count)s failed logins to your account came from the address %(address)s; it may not try "
        "again for %(minutes)s min. Other addresses, yours included, are not blocked. If this was not "
        "you, choose a longer password."
    ),
    "payment_received": N_("Payment received for %(reference)s: %(amount)s."),
    "fee_notice_expiring": N_("Fee notice %(number)s to %(payer)s expires soon and is not paid yet."),
    "bank_account_changed": N_("The bank account %(account)s of your organisation was changed by %(by)s."),
    "refund_completed": N_("A refund of %(amount)s for %(reference)s has been paid back."),
    "payout_account_changed": N_("Your organisation's payout account is now %(account)s, set by %(by)s."),
    "totp_reset": N_(
        "Two-factor authentication of your account was reset by the operator %(by)s. Set it up "
        "again on the Two-factor authentication page."
    ),
    "payout_settled": N_("A payout of %(amount)s to the account %(account)s has been made."),
    # reconciliation (payments.statement_import, payments.recon_reports): operators and the account's staff
    "statement_needs_review": N_(
        "Bank statement #%(statement)s of account %(account)s: %(exceptions)s line(s) to review, "
        "balance difference %(difference)s."
    ),
    "reconciliation_report": N_(
        "Reconciliation of account %(account)s for %(day)s: %(exceptions)s exception(s), "
        "balance difference %(difference)s."
    ),
    # orders (market.orders): to the producer's members
    "order_placed": N_("New order #%(order)s (%(amount)s), waiting for the buyer's payment."),
    "order_paid": N_("Order #%(order)s is paid (%(amount)s): accept or reject it."),
    "order_cancelled_producer": N_("The buyer cancelled order #%(order)s before you accepted it."),
    # orders: to the buyer
    "order_paid_buyer": N_("Your payment for order #%(order)s (%(amount)s) arrived."),
    "order_accepted": N_("Order #%(order)s was accepted by the producer."),
    "order_rejected": N_("Order #%(order)s was rejected by the producer; %(amount)s will be refunded."),
    "order_shipped": N_("Order #%(order)s is on its way."),
    "order_delivered": N_("Order #%(order)s was delivered. Confirm when everything is in order."),
    "order_expired": N_("Order #%(order)s was not paid in time and has been cancelled."),
    "order_cancelled": N_("Order #%(order)s is cancelled."),
    # matching (matching.proposals): to both sides of a proposal
    "match_proposed": N_(
        "Clearing round #%(round)s proposes %(quantity)s %(unit)s of “%(title)s” at %(price)s per unit: "
        "accept or decline proposal #%(proposal)s before %(expires)s."
    ),
    "match_declined": N_("Proposal #%(proposal)s for “%(title)s” was declined by the other side."),
    "match_expired": N_("Proposal #%(proposal)s for “%(title)s” expired without both acceptances."),
    "match_ordered": N_("Proposal #%(proposal)s was accepted by both sides: order #%(order)s (%(amount)s)."),
}


def deliver_to_organisation(
    session: Session, *, organisation_id: int, kind: str, params: dict[str, Any], dedupe_key: str
) -> int:
    """Notify every active member of an organisation (one row each); how many were new."""
    from market.models import User

    members = session.exec(
        select(User.id).where(User.organisation_id == organisation_id, User.is_active == True)  # noqa: E712
    ).all()
    session.commit()
    return sum(
        deliver(session, user_id=member, kind=kind, params=params, dedupe_key=f"{dedupe_key}:{member}")
        for member in members
        if member is not None
    )


def deliver(session: Session, *, user_id: int, kind: str, params: dict[str, Any], dedupe_key: str) -> bool:
    """Write the notification unless one with this key exists; True if written now."""
    if kind not in MESSAGES:
        raise ValueError(f"unknown notification kind {kind!r}")
    if session.exec(select(Notification.id).where(Notification.dedupe_key == dedupe_key)).first():
        return False
    session.add(Notification(user_id=user_id, kind=kind, params=params, dedupe_key=dedupe_key))
    try:
        session.commit()
    except IntegrityError:  # the same job ran concurrently and won
        session.rollback()
        return False
    return True


def for_user(session: Session, user_id: int, limit: int = 20) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
    )


def mark_read(session: Session, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's own notifications read. Someone else's is "not found"."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound(N_("No such notification."))
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.add(notification)
        session.commit()
    return notification


def render(notification: Notification) -> str:
    return gettext_(MESSAGES[notification.kind]) % notification.params
