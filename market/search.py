"""Catalogue search as Vietnamese buyers type it: without diacritics, in any case, any word order.

Rules:

* text is *folded* for matching: NFD-decomposed, combining marks dropped, ``đ``/``Đ`` → ``d``,
  case-folded, every run of non-alphanumerics one space (:func:`fold`, pure). ``gạo thơm``,
  ``GẠO THƠM`` and ``gao thom`` all fold to ``gao thom``;
* a product keeps its folded name and its folded name + description in stored columns
  (``name_folded``, ``search_folded``), written with a leading and a trailing space so that
  ``LIKE '% gao%'`` matches at the start of a word on both backends, and kept up to date on
  every insert and update (:func:`folded_columns`, the ORM hooks below, and the catalogue's
  conditional UPDATE);
* every word of the query must match the start of a word of the name or the description;
  products whose name holds every word rank before those that need the description;
* results are ordered by rank (when searching), then the chosen sort, then the id, so that
  pagination is stable: no product appears on two pages or on none while nothing changes;
* on PostgreSQL a trigram GIN index on ``search_folded`` (migration 0006) serves the word
  conditions, so a search over 100,000 products reads only the candidate rows, and one on
  ``name_folded`` (migration 0014) the name matches of a many-word query;
* a broad query is not counted to the end: past ``COUNT_CAP`` matches the total is a lower
  bound, shown as "1,000+" (``Results.total_capped``);
* a page in newest order is first looked for among the ``NEWEST_WINDOW`` newest listings,
  read backwards along the (created_at, id) index (migration 0014): when they hold the whole
  page it is the same page (every listing outside them is older), found without reading the
  thousands of matches of a broad query; otherwise the page is read the ordinary way, and the
  attempt costs about 2 ms. (The planner cannot estimate word conditions, so it cannot make
  this choice itself.)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import aliased
from sqlalchemy.sql.util import ClauseAdapter
from sqlmodel import Session, col, func, select

from market.models import Organisation, Product

MAX_WORDS = 8
MAX_WORD_LENGTH = 40
_SEPARATORS = re.compile(r"[\W_]+")
_D = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})


def fold(text: str) -> str:
    """``"Gạo thơm, Thiệu Hóa!"`` → ``"gao thom thieu hoa"`` (pure)."""
    decomposed = unicodedata.normalize("NFD", text.translate(_D))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_SEPARATORS.sub(" ", bare.casefold()).split())


def query_words(query: str | None) -> list[str]:
    """The distinct folded words of a query, in order, at most MAX_WORDS of them (pure)."""
    words: list[str] = []
    for word in fold(query or "").split():
        word = word[:MAX_WORD_LENGTH]
        if word not in words:
            words.append(word)
    return words[:MAX_WORDS]


def _padded(text: str) -> str:
    folded = fold(text)
    return f" {folded} " if folded else " "


def folded_columns(*, name: str | None = None, description: str | None = None) -> dict[str, str]:
    """The stored folded columns for a product's name and description (pure). ``search_folded``
    needs both; pass both whenever either changes."""
    values: dict[str, str] = {}
    if name is not None:
        values["name_folded"] = _padded(name)
        if description is not None:
            values["search_folded"] = _padded(f"{name} {description}")
    return values


@event.listens_for(Product, "before_insert")
@event.listens_for(Product, "before_update")
def _keep_folded(_mapper: Any, _connection: Any, product: Product) -> None:
    # ORM writes (create_product, demo data, tests): the folded columns follow the text.
    for column, value in folded_columns(name=product.name, description=product.description or "").items():
        setattr(product, column, value)


def refolded(session: Session, product_id: int, description: str) -> dict[str, str]:
    """``search_folded`` for a Core UPDATE that changes a product's description. Reading the
    name first is safe: a listing's name never changes after it is created."""
    name = session.exec(select(Product.name).where(Product.id == product_id)).first()
    return {"search_folded": _padded(f"{name} {description}")} if name is not None else {}


# --- the query ------------------------------------------------------------------------------


class Sort(StrEnum):
    RELEVANCE = "relevance"  # name matches first, then newest
    NEWEST = "newest"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"


@dataclass(frozen=True)
class Filters:
    """What a buyer narrows the catalogue by; every field is optional."""

    query: str | None = None
    category: str | None = None
    producer_id: int | None = None
    ward_code: int | None = None
    ocop_min: int | None = None
    price_min_vnd: int | None = None
    price_max_vnd: int | None = None
    sort: Sort | None = None


def _word_pattern(word: str) -> str:
    # Folded words hold only letters and digits, but escape anyway: LIKE must see literals.
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"% {escaped}%"


def conditions(filters: Filters) -> list[Any]:
    """WHERE conditions for ``filters`` over Product joined with its producer Organisation."""
    where: list[Any] = [col(Product.is_active).is_(True)]
    for word in query_words(filters.query):
        where.append(col(Product.search_folded).like(_word_pattern(word), escape="\\"))
    if filters.category:
        where.append(Product.category == filters.category)
    if filters.producer_id is not None:
        where.append(Product.producer_id == filters.producer_id)
    if filters.ward_code is not None:
        where.append(Organisation.ward_code == filters.ward_code)
    if filters.ocop_min is not None:
        where.append(col(Product.ocop_stars) >= filters.ocop_min)
    if filters.price_min_vnd is not None:
        where.append(col(Product.price_vnd) >= filters.price_min_vnd)
    if filters.price_max_vnd is not None:
        where.append(col(Product.price_vnd) <= filters.price_max_vnd)
    return where


def _in_name(words: list[str]) -> Any:
    """The name holds every word."""
    return sa.and_(*(col(Product.name_folded).like(_word_pattern(w), escape="\\") for w in words))


def _name_rank(words: list[str]) -> Any:
    """0 when the name holds every word, else 1 (the description was needed)."""
    return sa.case((_in_name(words), 0), else_=1)


def ordering(filters: Filters) -> list[Any]:
    words = query_words(filters.query)
    sort = filters.sort or (Sort.RELEVANCE if words else Sort.NEWEST)
    order: list[Any] = []
    if words and sort == Sort.RELEVANCE:
        order.append(_name_rank(words))
    if sort == Sort.PRICE_ASC:
        order.append(col(Product.price_vnd).asc())
    elif sort == Sort.PRICE_DESC:
        order.append(col(Product.price_vnd).desc())
    # newest first within a rank or a price; the id makes every position unique (stable pages)
    order.extend([col(Product.created_at).desc(), col(Product.id).desc()])
    return order


# A count stops here: past it, a page says "1,000+" (counting 20,000 matches of a broad query
# would read every one of them, only to print a number nobody pages through).
COUNT_CAP = 1000


@dataclass(frozen=True)
class Results:
    """A page of matches with their producers, and how many match in all: exactly, or, with
    ``total_capped``, a lower bound (at least ``COUNT_CAP``) when more than ``COUNT_CAP`` do."""

    rows: list[tuple[Product, Organisation]]
    total: int
    total_capped: bool = False


def search(
    session: Session, filters: Filters, *, limit: int = 50, offset: int = 0
) -> tuple[list[tuple[Product, Organisation]], int]:
    """Active listings matching ``filters`` with their producer, and how many match (at most
    ``COUNT_CAP``; :func:`search_page` also says whether more do)."""
    found = search_page(session, filters, limit=limit, offset=offset)
    return found.rows, found.total


def search_page(session: Session, filters: Filters, *, limit: int = 50, offset: int = 0) -> Results:
    """A page of active listings matching ``filters``, and their (capped) count.

    A relevance search reads the name matches for the page first, and the description matches
    only when the name matches run out on it; nothing reads every match to count it: the count
    stops after ``COUNT_CAP + 1`` matches, and is not run when the page shows where they end."""
    where = conditions(filters)
    words = query_words(filters.query)
    if words and (filters.sort or Sort.RELEVANCE) == Sort.RELEVANCE:
        rows = _ranked_page(session, filters, words, limit, offset)
    else:
        newest = words and filters.sort == Sort.NEWEST
        rows = _page(session, filters, where, ordering(filters), limit, offset, newest=bool(newest))
    if 0 < len(rows) < limit or (not rows and not offset):
        return Results(rows, offset + len(rows))  # the last page: the total is in sight
    total = _count(session, filters, where, COUNT_CAP)
    if total > COUNT_CAP:  # at least this many: the cap, or all up to this page if it has rows
        return Results(rows, max(COUNT_CAP, offset + len(rows) if rows else 0), total_capped=True)
    return Results(rows, total)


# How many of the newest listings a page in newest order first looks among: a page of 24 name
# matches of a broad query (a few per cent of the listings) is found in the first few hundred.
NEWEST_WINDOW = 2000
# Every word narrows a query many times over: with more words the window rarely holds a page,
# and the attempt (about 2 ms) is not made.
WINDOW_MAX_WORDS = 3


def _newest(size: int) -> tuple[Any, ClauseAdapter]:
    """The ``size`` newest listings as a subquery (read backwards along the (created_at, id)
    index), and the adapter that rewrites conditions on Product to conditions on it."""
    recent = (
        sa.select(Product.__table__)  # type: ignore[attr-defined]
        .order_by(col(Product.created_at).desc(), col(Product.id).desc())
        .limit(size)
        .subquery("recent")
    )
    return recent, ClauseAdapter(recent)


def _page(
    session: Session,
    filters: Filters,
    where: list[Any],
    order: list[Any],
    limit: int,
    offset: int,
    *,
    newest: bool = False,
) -> list[tuple[Product, Organisation]]:
    """The listings of one page, then their producers by id: joined in the same query, the
    planner (which cannot estimate word conditions well) may pick a join that reads every
    producer for every match. With ``newest`` (``order`` is newest first), the page is first
    looked for among the newest listings."""
    if limit <= 0:
        return []
    products = _newest_page(session, filters, where, order, limit, offset) if newest else None
    if products is None:
        statement = select(Product).where(*where).order_by(*order).limit(limit).offset(offset)
        if filters.ward_code is not None:  # the only condition on the producer
            statement = statement.join(Organisation, col(Organisation.id) == Product.producer_id)
        products = list(session.exec(statement).all())
    return _with_producers(session, products)


def _newest_page(
    session: Session, filters: Filters, where: list[Any], order: list[Any], limit: int, offset: int
) -> list[Product] | None:
    """The page if the ``NEWEST_WINDOW`` newest listings hold all of it, else None. Every
    listing outside them is older than all inside, so a full page from them is the page."""
    if offset + limit > NEWEST_WINDOW // 4:  # deep pages: the window would rarely hold them
        return None
    if len(query_words(filters.query)) > WINDOW_MAX_WORDS:
        return None
    recent, adapter = _newest(NEWEST_WINDOW)
    listing = aliased(Product, recent)
    statement = (
        select(listing)
        .where(*(adapter.traverse(condition) for condition in where))
        .order_by(*(adapter.traverse(key) for key in order))
        .limit(limit)
        .offset(offset)
    )
    if filters.ward_code is not None:
        statement = statement.join(Organisation, col(Organisation.id) == listing.producer_id)
    products = list(session.exec(statement).all())
    return products if len(products) == limit else None


def _with_producers(session: Session, products: list[Product]) -> list[tuple[Product, Organisation]]:
    if not products:
        return []
    ids = {product.producer_id for product in products}
    producers = {o.id: o for o in session.exec(select(Organisation).where(col(Organisation.id).in_(ids)))}
    return [(product, producers[product.producer_id]) for product in products]


def _ranked_page(
    session: Session, filters: Filters, words: list[str], limit: int, offset: int
) -> list[tuple[Product, Organisation]]:
    """The page of ``ordering(filters)`` for a relevance search, read in two parts: the name
    matches (rank 0), then the description-only matches (rank 1), each newest first."""
    newest = [col(Product.created_at).desc(), col(Product.id).desc()]
    in_name = _in_name(words)
    first = _page(session, filters, [*conditions(filters), in_name], newest, limit, offset, newest=True)
    if len(first) == limit:
        return first
    # how many name matches come before the description matches on this page's offset
    before = (
        offset + len(first)
        if first or not offset
        else _count(session, filters, [*conditions(filters), in_name], offset)
    )
    rest_where = [*conditions(filters), sa.not_(in_name)]
    rest = _page(
        session, filters, rest_where, newest, limit - len(first), max(0, offset - before), newest=True
    )
    return first + rest


def _count(session: Session, filters: Filters, where: list[Any], cap: int) -> int:
    """How many listings satisfy ``where``, counting no further than ``cap + 1``."""
    matches = select(Product.id).where(*where)
    if filters.ward_code is not None:  # the only condition on the producer
        matches = matches.join(Organisation, col(Organisation.id) == Product.producer_id)
    capped = matches.limit(cap + 1).subquery()
    return int(session.exec(select(func.count()).select_from(capped)).one())
