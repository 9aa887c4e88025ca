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
  conditions, so a search over 100,000 products reads only the candidate rows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
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


def _name_rank(words: list[str]) -> Any:
    """0 when the name holds every word, else 1 (the description was needed)."""
    in_name = sa.and_(*(col(Product.name_folded).like(_word_pattern(w), escape="\\") for w in words))
    return sa.case((in_name, 0), else_=1)


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


def search(
    session: Session, filters: Filters, *, limit: int = 50, offset: int = 0
) -> tuple[list[tuple[Product, Organisation]], int]:
    """Active listings matching ``filters`` with their producer, and how many match in all.

    One query: the total comes with the page (``count(*) OVER ()``), so the matches are read
    once, not once for the page and once more to count them."""
    where = conditions(filters)
    rows = session.exec(
        select(Product, Organisation, func.count().over())
        .join(Organisation, col(Organisation.id) == Product.producer_id)
        .where(*where)
        .order_by(*ordering(filters))
        .limit(limit)
        .offset(offset)
    ).all()
    if rows:
        total = int(rows[0][2])
    elif offset:  # past the last page: no row carries the total
        joined = (
            select(func.count())
            .select_from(Product)
            .join(Organisation, col(Organisation.id) == Product.producer_id)
        )
        total = int(session.exec(joined.where(*where)).one())
    else:
        total = 0
    return [(product, producer) for product, producer, _total in rows], total
