"""Demo data of the matching market: a few supply posts of the demo producers and demand posts of
the demo buyers (market.demo), cleared by one round so that proposals and explanations show.

Windows start from today; the posts are placed at their posters' demo address points. Safe to
run twice: nothing is added once any post exists.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from choso import audit
from choso.db import session_scope
from market.models import User
from matching import posts, rounds
from matching.models import MarketPost, RoundTrigger, Side

# (poster's email, title, category, grade, quantity, unit, limit đ, window from/to in days, max km)
SUPPLY = (
    ("gao.thieuhoa@choso.vn", "Gạo thơm Thiệu Hóa vụ mùa", "rice", 2, 3_000, "kg", 17_000, (2, 20), None),
    ("gao.thieuhoa@choso.vn", "Rau cải ngồng vụ đông", "vegetables", 2, 400, "kg", 14_000, (0, 7), None),
    ("haisan.samson@choso.vn", "Mực ống tươi Sầm Sơn", "seafood", 3, 150, "kg", 180_000, (0, 5), None),
    ("cam.vandu@choso.vn", "Cam Vân Du loại 1", "fruit", 3, 1_500, "kg", 28_000, (1, 30), None),
)
DEMAND = (
    ("lan.nguyen@choso.vn", "Gạo cho nhóm mua chung khu phố", "rice", 1, 500, "kg", 21_000, (3, 10), 30.0),
    ("nhahang.bienxanh@choso.vn", "Mực tươi cho nhà hàng", "seafood", 2, 80, "kg", 230_000, (1, 4), 15.0),
    (
        "nhahang.bienxanh@choso.vn",
        "Rau xanh cho bếp nhà hàng",
        "vegetables",
        1,
        200,
        "kg",
        20_000,
        (1, 6),
        40.0,
    ),
    ("minh.tran@choso.vn", "Cam cho cửa hàng hoa quả", "fruit", 2, 300, "kg", 33_000, (2, 12), 30.0),
    ("minh.tran@choso.vn", "Gạo nếp loại 3 cho lò bánh", "rice", 3, 200, "kg", 30_000, (2, 9), 10.0),
)


def _create(session: Session, side: Side, row: tuple) -> None:  # type: ignore[type-arg]
    email, title, category, grade, quantity, unit, limit, (start, end), max_km = row
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        return
    today = posts.local_today()
    data = posts.PostIn(
        side=side,
        title=title,
        category=category,
        grade=grade,
        quantity=quantity,
        unit=unit,
        limit_price_vnd=limit,
        window_from=today + timedelta(days=start),
        window_to=today + timedelta(days=end),
        max_distance_km=max_km,
    )
    posts.create_post(session, user, data, actor=audit.Actor())


def load_demo() -> list[str]:
    """The ``choso demo`` step of the matching market: posts, then one clearing round."""
    with session_scope() as session:
        if session.exec(select(MarketPost.id)).first() is not None:
            return []
        for row in SUPPLY:
            _create(session, Side.SUPPLY, row)
        for row in DEMAND:
            _create(session, Side.DEMAND, row)
        record = rounds.run_round(session, trigger=RoundTrigger.OPERATOR)
    if record is None:  # pragma: no cover - an operator's round has no slot
        return []
    return [
        f"matching: {len(SUPPLY)} supply and {len(DEMAND)} demand posts; clearing round #{record.id} "
        f"made {record.proposals} proposals (gain from trade {record.welfare_vnd:,} đ)"
    ]
