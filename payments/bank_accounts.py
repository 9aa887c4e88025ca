"""The bank accounts organisations receive payments on (and are paid out to).

A bank is named by its NAPAS BIN (validated against the shipped bank list); the account
number is digits only. Every change is audited and announced to the organisation's other
members, because a changed account is how money gets diverted.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from choso import audit
from choso.db import utcnow
from choso.errors import Conflict, NotFound, PermissionDenied
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from choso.text import NoControlCharacters
from market.models import Role, User
from payments.models import BankAccount

HolderName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100), NoControlCharacters
]


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_bin: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    account_number: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6,19}$")]
    holder_name: HolderName

    @field_validator("bank_bin")
    @classmethod
    def _known_bank(cls, value: str) -> str:
        from payments import banks

        if not banks.is_known_bin(value):
            raise ValueError(N_("This is not a bank on the NAPAS list."))
        return value


def _organisation_of(user: User) -> int:
    if user.role not in (Role.PRODUCER, Role.AGENCY_OFFICER) or user.organisation_id is None:
        raise PermissionDenied(N_("Only an organisation's staff manage its bank accounts."))
    return user.organisation_id


def list_bank_accounts(session: Session, user: User) -> list[BankAccount]:
    organisation_id = _organisation_of(user)
    return list(
        session.exec(
            select(BankAccount)
            .where(BankAccount.organisation_id == organisation_id)
            .order_by(col(BankAccount.id))
        )
    )


def _snapshot(account: BankAccount) -> dict[str, object]:
    return {
        "bank_bin": account.bank_bin,
        "account_number": account.account_number,
        "holder_name": account.holder_name,
        "is_active": account.is_active,
    }


def add_bank_account(session: Session, user: User, data: BankAccountIn, *, actor: audit.Actor) -> BankAccount:
    organisation_id = _organisation_of(user)
    account = BankAccount(organisation_id=organisation_id, **data.model_dump())
    session.add(account)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(N_("This bank account is already registered."), field="account_number") from None
    audit.record(
        session,
        actor,
        action="bank_account.add",
        object_type="bank_account",
        object_id=account.id or 0,
        after=_snapshot(account),
    )
    _announce(session, account, user)
    session.commit()
    return account


def deactivate_bank_account(
    session: Session, user: User, account_id: int, *, actor: audit.Actor
) -> BankAccount:
    organisation_id = _organisation_of(user)
    account = session.get(BankAccount, account_id)
    if account is None or account.organisation_id != organisation_id:
        raise NotFound(N_("No such bank account."))
    before = _snapshot(account)
    account.is_active = False
    account.updated_at = utcnow()
    session.add(account)
    session.flush()
    audit.record(
        session,
        actor,
        action="bank_account.deactivate",
        object_type="bank_account",
        object_id=account_id,
        before=before,
        after=_snapshot(account),
    )
    _announce(session, account, user)
    session.commit()
    return account


def _announce(session: Session, account: BankAccount, by: User) -> None:
    enqueue_after_commit(
        session,
        "market.notify_organisation",
        organisation_id=account.organisation_id,
        kind="bank_account_changed",
        params={"account": f"…{account.account_number[-4:]}", "by": by.full_name},
        dedupe_key=f"bank_account_changed:{account.id}:{utcnow().isoformat()}",
    )
