"""Search as Vietnamese buyers type it: folding (pure), ranking, filters, sorting, stable pages,
the folded columns kept current, the API and the page, and the index PostgreSQL uses."""

from __future__ import annotations

import string
import unicodedata
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from choso.db import session_scope, utcnow
from market import search
from market.models import Organisation, OrganisationKind, Product, Role
from market.search import Filters, Sort, fold, query_words
from tests import backend, factories
from tests.payments.helpers import bearer

# --- folding (pure) -----------------------------------------------------------------------------

VIETNAMESE = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"


@pytest.mark.parametrize("typed", ["gao thom", "GẠO THƠM", "gạo thơm", "Gạo  Thơm!", "gạo\tthơm"])
def test_every_way_of_typing_folds_alike(typed: str) -> None:
    assert fold(typed) == "gao thom"


def test_d_with_stroke_folds_to_d_in_both_cases() -> None:
    assert fold("Đặc sản đồng quê") == "dac san dong que"
    assert fold("ĐẶC SẢN") == "dac san"


def test_decomposed_input_folds_like_composed() -> None:
    composed = "Chè lam Phủ Quảng"
    assert fold(unicodedata.normalize("NFD", composed)) == fold(composed) == "che lam phu quang"


def test_punctuation_separates_words() -> None:
    assert fold("Nem chua (hộp 20 chiếc) - Thanh Hóa/Sầm Sơn") == "nem chua hop 20 chiec thanh hoa sam son"


def test_query_words_are_distinct_in_order_and_bounded() -> None:
    assert query_words("Gạo gạo THƠM gao") == ["gao", "thom"]
    assert query_words("  ") == [] == query_words(None)
    assert len(query_words(" ".join(f"w{i}" for i in range(20)))) == search.MAX_WORDS
    assert query_words("a" * 500) == ["a" * search.MAX_WORD_LENGTH]


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + " .,-!?" + string.digits, max_size=60))
def test_folding_vietnamese_gives_ascii_lowercase_words_and_is_idempotent(text: str) -> None:
    folded = fold(text)
    assert set(folded) <= set(string.ascii_lowercase + string.digits + " ")
    assert fold(folded) == folded == fold(text.upper()) == fold(unicodedata.normalize("NFD", text))
    assert "  " not in folded and folded == folded.strip()


# --- search in the database ---------------------------------------------------------------------


@pytest.fixture
def market() -> dict[str, Product]:
    north = factories.organisation(name="HTX Thiệu Hóa")
    south = factories.organisation(name="HTX Sầm Sơn")
    with session_scope() as session:  # another ward for the second producer
        org = session.get_one(Organisation, south.id)
        org.ward_code = 16531  # Phường Sầm Sơn
        session.add(org)
        session.commit()
    rows = {
        "rice": factories.product(north.id or 0, "Gạo thơm Thiệu Hóa", price_vnd=25_000, ocop_stars=4),
        "sticky": factories.product(north.id or 0, "Gạo nếp cái hoa vàng", price_vnd=40_000),
        "cake": factories.product(
            north.id or 0,
            "Bánh gai Tứ Trụ",
            description="Làm từ gạo nếp thơm và lá gai",
            category="specialty",
            price_vnd=70_000,
            ocop_stars=3,
        ),
        "fish": factories.product(
            south.id or 0, "Mắm tép Đặc sản", category="seafood", price_vnd=85_000, description="Đậm đà"
        ),
        "clam": factories.product(south.id or 0, "Ngao Hoằng Hóa", category="seafood", price_vnd=60_000),
        "hidden": factories.product(north.id or 0, "Gạo thơm cũ", is_active=False),
    }
    return rows


def names(session: Session, filters: Filters, **page: int) -> list[str]:
    rows, _total = search.search(session, filters, **page)
    return [product.name for product, _producer in rows]


@pytest.mark.parametrize("typed", ["gao thom", "GẠO THƠM", "gạo thơm", "thom gao"])
def test_any_typing_finds_the_product(db: Session, market: dict[str, Product], typed: str) -> None:
    found = names(db, Filters(query=typed))
    assert found[0] == "Gạo thơm Thiệu Hóa"


def test_a_bare_word_finds_every_product_with_it_and_none_inactive(
    db: Session, market: dict[str, Product]
) -> None:
    found = names(db, Filters(query="gao"))
    assert set(found) == {"Gạo thơm Thiệu Hóa", "Gạo nếp cái hoa vàng", "Bánh gai Tứ Trụ"}


def test_words_match_at_word_starts_only(db: Session, market: dict[str, Product]) -> None:
    # "ngao" (clams) contains "gao" but does not start with it
    assert "Ngao Hoằng Hóa" not in names(db, Filters(query="gao"))
    assert names(db, Filters(query="ngao")) == ["Ngao Hoằng Hóa"]
    assert names(db, Filters(query="hoang ho")) == ["Ngao Hoằng Hóa"]  # prefixes


def test_d_with_stroke_is_found_by_d(db: Session, market: dict[str, Product]) -> None:
    assert names(db, Filters(query="dac san")) == ["Mắm tép Đặc sản"]
    assert names(db, Filters(query="đậm")) == ["Mắm tép Đặc sản"]


def test_every_word_must_match(db: Session, market: dict[str, Product]) -> None:
    assert names(db, Filters(query="gao thom tepmam")) == []
    assert names(db, Filters(query="nep thom")) == ["Bánh gai Tứ Trụ"]


def test_name_matches_rank_before_description_matches(db: Session, market: dict[str, Product]) -> None:
    # the cake is the newest, so without ranking it would come first
    found = names(db, Filters(query="gao nep"))
    assert found == ["Gạo nếp cái hoa vàng", "Bánh gai Tứ Trụ"]


def test_filters(db: Session, market: dict[str, Product]) -> None:
    rice, fish = market["rice"], market["fish"]
    assert set(names(db, Filters(category="seafood"))) == {"Mắm tép Đặc sản", "Ngao Hoằng Hóa"}
    assert names(db, Filters(ocop_min=4)) == ["Gạo thơm Thiệu Hóa"]
    assert set(names(db, Filters(producer_id=fish.producer_id))) == {"Mắm tép Đặc sản", "Ngao Hoằng Hóa"}
    assert set(names(db, Filters(ward_code=16531))) == {"Mắm tép Đặc sản", "Ngao Hoằng Hóa"}
    assert names(db, Filters(price_min_vnd=60_000, price_max_vnd=70_000, sort=Sort.PRICE_ASC)) == [
        "Ngao Hoằng Hóa",
        "Bánh gai Tứ Trụ",
    ]
    assert names(db, Filters(query="gao", producer_id=rice.producer_id, price_max_vnd=30_000)) == [rice.name]


def test_sorting(db: Session, market: dict[str, Product]) -> None:
    prices = [p.price_vnd for p, _ in search.search(db, Filters(sort=Sort.PRICE_ASC))[0]]
    assert prices == sorted(prices) and len(prices) == 5
    prices = [p.price_vnd for p, _ in search.search(db, Filters(sort=Sort.PRICE_DESC))[0]]
    assert prices == sorted(prices, reverse=True)
    newest = [p.id for p, _ in search.search(db, Filters(sort=Sort.NEWEST))[0]]
    assert newest == sorted(newest, reverse=True)  # all made in the same instant: id breaks the tie


def test_pages_are_stable_even_when_every_sort_key_ties(db: Session) -> None:
    producer = factories.organisation()
    same_time = utcnow() - timedelta(days=1)
    with session_scope() as session:
        for n in range(23):
            session.add(
                Product(
                    producer_id=producer.id or 0,
                    name=f"Gạo lứt {n}",
                    category="rice",
                    unit="kg",
                    price_vnd=30_000,
                    stock=5,
                    created_at=same_time,
                )
            )
        session.commit()
    for sort in Sort:
        seen: list[int] = []
        for offset in range(0, 30, 5):
            rows, total = search.search(db, Filters(query="gao lut", sort=sort), limit=5, offset=offset)
            seen += [p.id or 0 for p, _ in rows]
        assert total == 23 and len(seen) == 23 and len(set(seen)) == 23, sort
    assert search.search(db, Filters(query="gao lut"), limit=5, offset=100) == ([], 23)  # past the end
    assert search.search(db, Filters(query="khong co"), limit=5) == ([], 0)


def _listings(names_and_descriptions: list[tuple[str, str]]) -> list[int]:
    """Listings of one producer, all made in the same instant (only the id orders them)."""
    producer = factories.organisation()
    same_time = utcnow() - timedelta(days=2)
    with session_scope() as session:
        rows = [
            Product(
                producer_id=producer.id or 0,
                name=name,
                description=description,
                category="fruit",
                unit="kg",
                price_vnd=30_000,
                stock=5,
                created_at=same_time,
            )
            for name, description in names_and_descriptions
        ]
        session.add_all(rows)
        session.commit()
        return [row.id or 0 for row in rows]


def test_ranked_pages_cross_from_name_to_description_matches_without_gap_or_overlap(db: Session) -> None:
    # interleaved: the newest listings are description matches, so ranking reorders them
    ids = _listings(
        [
            (f"Bưởi Luận Văn {n}", "Ngọt") if n % 3 == 0 else (f"Quà biếu {n}", "Bưởi Luận Văn")
            for n in range(14)
        ]
    )
    in_name = [i for n, i in enumerate(ids) if n % 3 == 0][::-1]
    in_description = [i for n, i in enumerate(ids) if n % 3][::-1]
    for limit in (1, 2, 4, 5, 14, 20):
        seen: list[int] = []
        for offset in range(0, 16, limit):
            found = search.search_page(db, Filters(query="buoi luan"), limit=limit, offset=offset)
            seen += [p.id or 0 for p, _ in found.rows]
            assert found.total == 14 and not found.total_capped, (limit, offset)
        assert seen == in_name + in_description, limit


def test_looking_among_the_newest_first_finds_the_same_pages_and_counts(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Generated listings (ties in time, inactive ones, two producers); with a small window the
    # newest-first attempt sometimes holds the page and sometimes not: both must agree with the
    # ordinary plan (a window of 0) on every page, total and cap.
    import random

    rng = random.Random(14)
    words = ["Gạo", "thơm", "Bưởi", "Luận Văn", "nem", "chua", "Cam", "đặc sản", "quà"]
    producers = [factories.organisation(), factories.organisation()]
    start = utcnow() - timedelta(days=3)
    with session_scope() as session:
        for n in range(300):
            session.add(
                Product(
                    producer_id=rng.choice(producers).id or 0,
                    name=" ".join(rng.sample(words, 2)) + f" {n}",
                    description=" ".join(rng.sample(words, 3)),
                    category=rng.choice(["rice", "fruit"]),
                    unit="kg",
                    price_vnd=rng.randrange(1, 20) * 1000,
                    stock=5,
                    ocop_stars=rng.choice([None, 3, 4, 5]),
                    is_active=rng.random() > 0.1,
                    created_at=start + timedelta(minutes=rng.randrange(60)),
                )
            )
        session.commit()
    monkeypatch.setattr(search, "COUNT_CAP", 15)
    held: list[bool] = []
    newest_page = search._newest_page

    def recording(*args: object) -> list[Product] | None:
        found = newest_page(*args)  # type: ignore[arg-type]
        held.append(found is not None)
        return found

    monkeypatch.setattr(search, "_newest_page", recording)

    def pages(filters: Filters, window: int) -> list[tuple[list[int], int, bool]]:
        monkeypatch.setattr(search, "NEWEST_WINDOW", window)
        found = []
        for limit, offset in [(3, 0), (3, 3), (5, 5), (4, 6), (24, 0), (5, 200)]:
            page = search.search_page(db, filters, limit=limit, offset=offset)
            found.append(([p.id or 0 for p, _ in page.rows], page.total, page.total_capped))
        return found

    queries = ["gao", "gao thom", "thom gao", "buoi luan", "nem", "cam qua", "dac", "khong co"]
    for query in queries:
        for sort in [None, Sort.NEWEST, Sort.PRICE_ASC]:
            for narrowing in [
                {},
                {"category": "rice"},
                {"ocop_min": 4},
                {"ward_code": factories.WARD_HAC_THANH},
            ]:
                filters = Filters(query=query, sort=sort, **narrowing)  # type: ignore[arg-type]
                assert pages(filters, 40) == pages(filters, 0), filters
    assert True in held and False in held  # both the window and the fallback were exercised


def test_a_broad_search_counts_up_to_the_cap_and_says_so(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "COUNT_CAP", 5)
    ids = _listings([(f"Cam Vinh {n}", "") for n in range(8)])
    first = search.search_page(db, Filters(query="cam vinh"), limit=3)
    assert [p.id for p, _ in first.rows] == ids[::-1][:3]
    assert (first.total, first.total_capped) == (5, True)  # at least 5 ("5+")
    deep = search.search_page(db, Filters(query="cam vinh"), limit=3, offset=3)
    assert (deep.total, deep.total_capped) == (6, True)  # at least the 6 up to this page
    last = search.search_page(db, Filters(query="cam vinh"), limit=3, offset=6)
    assert (len(last.rows), last.total, last.total_capped) == (2, 8, False)  # the end is in sight: exact
    past = search.search_page(db, Filters(query="cam vinh"), limit=3, offset=30)
    assert (past.rows, past.total, past.total_capped) == ([], 5, True)
    narrow = search.search_page(db, Filters(query="cam vinh 7"), limit=3)
    assert (narrow.total, narrow.total_capped) == (1, False)
    assert search.search(db, Filters(query="cam vinh"), limit=3) == (first.rows, 5)


def test_api_and_page_show_a_capped_total(
    client: TestClient, market: dict[str, Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "COUNT_CAP", 2)
    body = client.get("/api/v1/products", params={"q": "gao", "limit": 1}).json()
    assert (body["total"], body["total_capped"], len(body["items"])) == (2, True, 1)
    body = client.get("/api/v1/products", params={"q": "gao thom", "limit": 1}).json()
    assert (body["total"], body["total_capped"]) == (2, False)  # no more than the cap: exact
    page = client.get("/products", params={"q": "gao", "lang": "en"})
    assert page.status_code == 200 and "3 products" in page.text  # one page: counted exactly
    monkeypatch.setattr("web.pages.public.PAGE_SIZE", 1)
    page = client.get("/products", params={"q": "gao", "lang": "en"})
    assert "2+ products" in page.text, page.text


def test_folded_columns_follow_a_changed_description(db: Session, market: dict[str, Product]) -> None:
    fish = market["fish"]
    with session_scope() as session:
        owner = factories.user(Role.PRODUCER, fish.producer_id)
        from market import catalog

        catalog.update_product(
            session, owner, fish.id or 0, catalog.ProductUpdate(description="Tép biển Hậu Lộc ủ chượp")
        )
    assert names(db, Filters(query="chuop")) == ["Mắm tép Đặc sản"]
    assert names(db, Filters(query="dam da")) == []
    stored = db.get_one(Product, fish.id, populate_existing=True)
    assert stored.name_folded == " mam tep dac san "


def test_products_made_through_the_orm_are_folded(db: Session) -> None:
    producer = factories.organisation()
    product = factories.product(producer.id or 0, "Chè LAM Phủ Quảng", description="Đường phèn")
    stored = db.get_one(Product, product.id)
    assert stored.name_folded == " che lam phu quang "
    assert stored.search_folded == " che lam phu quang duong phen "


# --- the API and the page -----------------------------------------------------------------------


def test_api_search_with_filters_and_sort(client: TestClient, market: dict[str, Product]) -> None:
    response = client.get("/api/v1/products", params={"q": "GẠO", "sort": "price_desc", "limit": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 3
    assert [item["name"] for item in body["items"]] == ["Bánh gai Tứ Trụ", "Gạo nếp cái hoa vàng"]
    response = client.get("/api/v1/products", params={"ocop_min": 4, "category": "rice", "ward_code": 14797})
    assert [item["name"] for item in response.json()["items"]] == ["Gạo thơm Thiệu Hóa"]


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "cheapest"},
        {"ocop_min": 6},
        {"price_min_vnd": -1},
        {"price_max_vnd": "many"},
        {"q": "x" * 101},
    ],
)
def test_api_refuses_bad_search_parameters(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/api/v1/products", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_products_page_searches_without_diacritics(client: TestClient, market: dict[str, Product]) -> None:
    page = client.get("/products", params={"q": "banh gai", "sort": "price_asc", "ocop_min": 3})
    assert page.status_code == 200
    assert "Bánh gai Tứ Trụ" in page.text and "Gạo nếp" not in page.text


def test_api_search_needs_no_login_and_sees_no_inactive_listing(
    client: TestClient, market: dict[str, Product]
) -> None:
    owner = factories.user(Role.PRODUCER, market["hidden"].producer_id)
    found = client.get("/api/v1/products", params={"q": "cu"}, headers=bearer(owner)).json()
    assert found["total"] == 0


# --- the index PostgreSQL uses ------------------------------------------------------------------


@pytest.mark.skipif(backend.BACKEND != "postgres", reason="the trigram index exists on PostgreSQL only")
def test_postgresql_serves_word_conditions_from_the_trigram_index(
    db: Session, market: dict[str, Product]
) -> None:
    statement = (
        sa.select(Product.id)
        .join(Organisation, Organisation.id == Product.producer_id)
        .where(*search.conditions(Filters(query="gạo thơm")))
    )
    compiled = statement.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
    with db.get_bind().connect() as connection:
        # a few rows make a sequential scan cheaper: forbid it, to see that the index can serve the query
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert "ix_product_search_folded_trgm" in plan, plan


def test_organisation_kind_platform_is_accepted_once(db: Session) -> None:
    factories.organisation(OrganisationKind.PLATFORM, name="Chợ Số")
    with pytest.raises(sa.exc.IntegrityError):
        factories.organisation(OrganisationKind.PLATFORM, name="Chợ Số 2")
