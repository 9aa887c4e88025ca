"""Supply and demand posts: producers post what they will have, buyers what they need.

Rules:

* producers (for their organisation) post supply; buyers post demand; operators see every
  post but change none; anyone else's post is a 404, so ids cannot be probed;
* a post's point is the one given (form or map), else the poster's address point, else the
  organisation's, else the province centre (marked approximate: ``location_source``);
* a supply post may link one of its organisation's catalogue listings (same category; its
  unit is the default). A linked listing's stock is reserved when a match becomes an order;
  an unlinked post sells through an inactive listing made for it (see market.checkout);
* every change bumps ``version`` and makes the post's live proposals ``stale`` (their
  quantities go back), so nobody can accept a deal on terms that are no longer the post's;
  withdrawing does the same. The quantity may not go below what is already sold.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlmodel import Session, col, func, select

from choso import audit, pilots
from choso.db import utcnow
from choso.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from choso.i18n import LOCALE_TIMEZONE, N_
from choso.text import NameRules
from market.catalog import CATEGORIES
from market.models import Organisation, Product, Role, User
from matching import locking, stats
from matching.models import LocationSource, MarketPost, PostStatus, ProposalStatus, Side

# Thanh Hóa's provincial centre (Hạc Thành ward): the point of a poster with no address point.
PROVINCE_CENTRE = (19.8067, 105.7852)
MAX_QUANTITY = 1_000_000
MAX_PRICE_VND = 1_000_000_000
MAX_POST_VALUE_VND = 10**12  # price × quantity: one order of the whole post stays payable
MAX_WINDOW_DAYS = 366
MAX_DISTANCE_KM = 500.0
GRADES = (1, 2, 3, 4, 5)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NameRules]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), NameRules]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
Price = Annotated[int, Field(strict=True, ge=1, le=MAX_PRICE_VND)]
Grade = Annotated[int, Field(strict=True, ge=1, le=5)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Distance = Annotated[float, Field(gt=0, le=MAX_DISTANCE_KM, allow_inf_nan=False)]


class NotOpen(Conflict):
    code = "post_not_open"


def local_today() -> date:
    return datetime.now(LOCALE_TIMEZONE).date()


class PostFields(BaseModel):
    """What both a new post and a change to one may carry."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    grade: Grade | None = None
    quantity: Quantity | None = None
    unit: Unit | None = None
    limit_price_vnd: Price | None = None
    window_from: date | None = None
    window_to: date | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    max_distance_km: Distance | None = None

    @model_validator(mode="after")
    def _point_is_whole(self) -> PostFields:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError(N_("Give both the latitude and the longitude, or neither."))
        return self


class PostIn(PostFields):
    """A new post. ``grade`` is the grade offered (supply) or the lowest accepted (demand);
    ``limit_price_vnd`` the lowest price per unit a seller takes at the farm gate, or the
    highest delivered price per unit a buyer pays; the window is inclusive."""

    side: Side
    title: Title
    category: str
    product_id: int | None = Field(default=None, strict=True, ge=1, le=2**31 - 1)
    grade: Grade
    quantity: Quantity
    unit: Unit | None = None
    limit_price_vnd: Price
    window_from: date
    window_to: date


class PostUpdate(PostFields):
    """Changes to a post; fields left out stay as they are."""


def _check_terms(post: MarketPost, *, creating: bool) -> None:
    """The rules a post must meet after a create or a change."""
    if post.window_to < post.window_from:
        raise InvalidInput(N_("The window ends before it starts."), field="window_to")
    if (post.window_to - post.window_from).days >= MAX_WINDOW_DAYS:
        raise InvalidInput(N_("A window may last at most a year."), field="window_to")
    if creating and post.window_to < local_today():
        raise InvalidInput(N_("The window is already over."), field="window_to")
    if post.quantity * post.limit_price_vnd > MAX_POST_VALUE_VND:
        raise InvalidInput(
            N_("A post's value (price × quantity) may be at most 10^12 đồng."), field="quantity"
        )
    if post.side == Side.DEMAND and post.max_distance_km is None:
        raise InvalidInput(N_("Give the farthest distance you will buy from."), field="max_distance_km")
    if post.side == Side.SUPPLY and post.max_distance_km is not None:
        raise InvalidInput(N_("Only demand posts have a maximum distance."), field="max_distance_km")
    if post.quantity < post.filled_quantity:
        raise InvalidInput(
            N_("%(sold)s are already sold: the quantity cannot be lower."),
            params={"sold": post.filled_quantity},
            field="quantity",
        )


# --- who may do what -----------------------------------------------------------------------------


def is_owner(user: User, post: MarketPost) -> bool:
    if post.side == Side.SUPPLY:
        return user.role == Role.PRODUCER and user.organisation_id == post.organisation_id
    return user.role == Role.BUYER and user.id == post.owner_user_id


def can_see(user: User, post: MarketPost) -> bool:
    return user.role == Role.OPERATOR or is_owner(user, post)


def get_post_for(session: Session, user: User, post_id: int) -> MarketPost:
    """The post if ``user`` may see it; anyone else's looks exactly like a missing one."""
    post = session.get(MarketPost, post_id, populate_existing=True)
    if post is None or not can_see(user, post):
        raise NotFound(N_("No such post."))
    return post


def _owned(user: User, post: MarketPost | None) -> MarketPost:
    if post is None or not can_see(user, post):
        raise NotFound(N_("No such post."))
    if not is_owner(user, post):
        raise PermissionDenied(N_("Only the poster can change a post."))
    return post


def side_for(user: User) -> Side:
    if user.role == Role.PRODUCER and user.organisation_id is not None:
        return Side.SUPPLY
    if user.role == Role.BUYER:
        return Side.DEMAND
    raise PermissionDenied(N_("Producers post supply and buyers post demand."))


def list_posts_for(
    session: Session,
    user: User,
    *,
    side: Side | None = None,
    status: PostStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[MarketPost], int]:
    """The caller's own posts (a producer: its organisation's); operators: all. Newest first."""
    conditions: list[Any] = []
    if user.role == Role.PRODUCER and user.organisation_id is not None:
        conditions += [MarketPost.side == Side.SUPPLY, MarketPost.organisation_id == user.organisation_id]
    elif user.role == Role.BUYER:
        conditions += [MarketPost.side == Side.DEMAND, MarketPost.owner_user_id == user.id]
    elif user.role != Role.OPERATOR:
        raise PermissionDenied(N_("Your role does not allow this."))
    if side is not None:
        conditions.append(MarketPost.side == side)
    if status is not None:
        conditions.append(MarketPost.status == status)
    total = session.exec(select(func.count()).select_from(MarketPost).where(*conditions)).one()
    rows = session.exec(
        select(MarketPost).where(*conditions).order_by(col(MarketPost.id).desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


# --- creating and changing ------------------------------------------------------------------------


def _require_pilot(session: Session, user: User) -> None:
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    wards = [user.ward_code, organisation.ward_code if organisation else None]
    pilots.require(
        session, MARKET_SERVICE, pilots.Where.of(wards=wards, organisations=[user.organisation_id])
    )


def _default_point(session: Session, user: User) -> tuple[float, float, LocationSource, int | None]:
    if user.latitude is not None and user.longitude is not None:
        return user.latitude, user.longitude, LocationSource.USER, user.ward_code
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    ward = user.ward_code or (organisation.ward_code if organisation else None)
    if organisation and organisation.latitude is not None and organisation.longitude is not None:
        return organisation.latitude, organisation.longitude, LocationSource.ORGANISATION, ward
    return PROVINCE_CENTRE[0], PROVINCE_CENTRE[1], LocationSource.PROVINCE, ward


def _linked_product(session: Session, user: User, data: PostIn) -> Product | None:
    if data.product_id is None:
        return None
    if data.side != Side.SUPPLY:
        raise InvalidInput(N_("Only supply posts link a catalogue listing."), field="product_id")
    product = session.get(Product, data.product_id)
    if product is None or product.producer_id != user.organisation_id:
        raise InvalidInput(N_("No such listing of yours."), field="product_id")
    if product.category != data.category:
        raise InvalidInput(N_("The listing is of another category."), field="category")
    return product


# The matching market may be piloted (choso.pilots) by organisation or ward: outside a running
# pilot nobody can post; what was posted and proposed before goes on (rounds, acceptance, orders).
MARKET_SERVICE = pilots.declare("matching.market", N_("Matching market"), usage=stats.post_usage)


def create_post(session: Session, user: User, data: PostIn, *, actor: audit.Actor) -> MarketPost:
    """A producer's supply post or a buyer's demand post (see the module's rules)."""
    _require_pilot(session, user)
    if data.side != side_for(user):
        raise PermissionDenied(N_("Producers post supply and buyers post demand."))
    if data.category not in CATEGORIES:
        raise InvalidInput(N_("Unknown category."), field="category")
    product = _linked_product(session, user, data)
    unit = data.unit or (product.unit if product else None)
    if unit is None:
        raise InvalidInput(N_("Give the unit (kg, box, …)."), field="unit")
    lat, lon, source, ward = _default_point(session, user)
    if data.latitude is not None and data.longitude is not None:
        lat, lon, source = data.latitude, data.longitude, LocationSource.GIVEN
    post = MarketPost(
        side=data.side,
        owner_user_id=user.id or 0,
        organisation_id=user.organisation_id if data.side == Side.SUPPLY else None,
        title=data.title,
        category=data.category,
        product_id=product.id if product else None,
        grade=data.grade,
        quantity=data.quantity,
        unit=unit,
        limit_price_vnd=data.limit_price_vnd,
        window_from=data.window_from,
        window_to=data.window_to,
        latitude=lat,
        longitude=lon,
        location_source=source,
        ward_code=ward,
        max_distance_km=data.max_distance_km,
    )
    _check_terms(post, creating=True)
    session.add(post)
    session.flush()
    audit.record(
        session,
        actor,
        action="match_post.create",
        object_type="market_post",
        object_id=post.id or 0,
        after=snapshot(post),
    )
    session.commit()
    return post


def snapshot(post: MarketPost) -> dict[str, Any]:
    """The terms of a post, for the audit log."""
    return {
        "title": post.title,
        "grade": post.grade,
        "quantity": post.quantity,
        "unit": post.unit,
        "limit_price_vnd": post.limit_price_vnd,
        "window": [post.window_from.isoformat(), post.window_to.isoformat()],
        "point": [post.latitude, post.longitude],
        "max_distance_km": post.max_distance_km,
        "status": str(post.status),
        "version": post.version,
    }


def update_post(
    session: Session, user: User, post_id: int, data: PostUpdate, *, actor: audit.Actor
) -> MarketPost:
    """Change an open post's terms: its version goes up and its live proposals become stale."""
    _owned(user, session.get(MarketPost, post_id))
    post, live = locking.lock_post_with_partners(session, post_id)
    post = _owned(user, post)
    if post.status == PostStatus.WITHDRAWN:
        session.rollback()
        raise NotOpen(N_("This post was withdrawn."))
    before = snapshot(post)
    for proposal in live:  # first, so that a lower quantity never meets committed units
        locking.close(session, proposal, ProposalStatus.STALE)
    session.refresh(post)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "latitude" in changes:
        post.location_source = LocationSource.GIVEN
    for name, value in changes.items():
        setattr(post, name, value)
    _check_and_reopen(session, post)
    _bump(session, post, actor, "match_post.update", before)
    return post


def _check_and_reopen(session: Session, post: MarketPost) -> None:
    try:
        _check_terms(post, creating=False)
    except InvalidInput:
        session.rollback()
        raise
    if post.status == PostStatus.FILLED and post.filled_quantity < post.quantity:
        post.status = PostStatus.OPEN
    elif post.status == PostStatus.OPEN and post.filled_quantity >= post.quantity:
        post.status = PostStatus.FILLED


def withdraw_post(session: Session, user: User, post_id: int, *, actor: audit.Actor) -> MarketPost:
    """Take a post off the market: its live proposals become stale (what is sold stays sold)."""
    _owned(user, session.get(MarketPost, post_id))
    post, live = locking.lock_post_with_partners(session, post_id)
    post = _owned(user, post)
    if post.status == PostStatus.WITHDRAWN:
        session.rollback()
        return post
    before = snapshot(post)
    for proposal in live:
        locking.close(session, proposal, ProposalStatus.STALE)
    session.refresh(post)
    post.status = PostStatus.WITHDRAWN
    _bump(session, post, actor, "match_post.withdraw", before)
    return post


def _bump(
    session: Session, post: MarketPost, actor: audit.Actor, action: str, before: dict[str, Any]
) -> None:
    post.version += 1
    post.updated_at = utcnow()
    session.add(post)
    session.flush()
    audit.record(
        session,
        actor,
        action=action,
        object_type="market_post",
        object_id=post.id or 0,
        before=before,
        after=snapshot(post),
    )
    session.commit()
