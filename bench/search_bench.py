"""Catalogue search on 100,000 products on PostgreSQL: latency with the trigram indexes, beside
the same search without the newest window, the previous single-query search and the same
queries without the trigram indexes, and the query plans.

Makes a database of its own (dropped at the end), migrates it, loads ``--products`` listings
with Vietnamese names and descriptions from ~300 producers, then runs each query of a fixed
set ``--repeat`` times through ``market.search.search`` (the page's queries: the first page
of 24, ranked, and the count, capped at ``market.search.COUNT_CAP``), interleaved with the
search without first looking among the newest listings and the search as it was before (one
query ranking and counting every match), and prints p50/p95/p99 of each and the slowest queries.

    .venv/bin/python bench/search_bench.py [--products 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
QUERIES = [
    "gạo thơm",
    "gao thom",
    "GẠO NẾP",
    "nem chua",
    "mam tep",
    "bánh gai",
    "che lam phu quang",
    "buoi",
    "ca thu",
    "dac san thanh hoa",
    "mật ong rừng",
    "tôm",
    "nuoc mam sam son",
    "chè",
    "bưởi luận văn",
    "xyzzy khong co",
]
KINDS = [
    ("Gạo thơm", "rice"),
    ("Gạo nếp cái hoa vàng", "rice"),
    ("Gạo lứt", "rice"),
    ("Nem chua", "specialty"),
    ("Chả tôm", "seafood"),
    ("Mắm tép", "specialty"),
    ("Bánh gai", "specialty"),
    ("Chè lam", "specialty"),
    ("Bưởi", "fruit"),
    ("Cam", "fruit"),
    ("Mía", "fruit"),
    ("Cá thu một nắng", "seafood"),
    ("Mực khô", "seafood"),
    ("Nước mắm", "specialty"),
    ("Mật ong rừng", "specialty"),
    ("Chè xanh", "beverages"),
    ("Rau cải", "vegetables"),
    ("Thịt lợn", "meat"),
    ("Giò bò", "meat"),
    ("Cói mỹ nghệ", "handicraft"),
    ("Tôm he", "seafood"),
]
PLACES = [
    "Thiệu Hóa",
    "Hạc Thành",
    "Sầm Sơn",
    "Hậu Lộc",
    "Thọ Xuân",
    "Luận Văn",
    "Phủ Quảng",
    "Nga Sơn",
    "Quảng Xương",
    "Hoằng Hóa",
    "Tĩnh Gia",
    "Như Thanh",
    "Bá Thước",
    "Ngọc Lặc",
    "Cẩm Thủy",
    "Vĩnh Lộc",
    "Yên Định",
    "Nông Cống",
]
WORDS = [
    "thơm",
    "ngon",
    "sạch",
    "hữu cơ",
    "truyền thống",
    "đặc sản",
    "tươi",
    "loại một",
    "đóng gói",
    "hút chân không",
    "làm thủ công",
    "không chất bảo quản",
    "vụ mới",
    "an toàn",
    "chính gốc",
    "quà biếu",
    "xuất khẩu",
    "OCOP",
]


def make_database() -> str:
    name = f"choso_bench_search_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(
        f"{SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres", isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return name


def drop_database(name: str) -> None:
    engine = sa.create_engine(
        f"{SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres", isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def load(products: int, seed: int = 8) -> None:
    from choso.db import get_engine, utcnow
    from market import search
    from market.models import Organisation, Product

    rng = random.Random(seed)
    engine = get_engine()
    wards = [14797, 16531, 15079, 15880, 15097]
    with engine.begin() as connection:
        producer_ids = [
            connection.execute(
                sa.insert(Organisation.__table__)
                .values(  # type: ignore[attr-defined]
                    kind="producer",
                    name=f"HTX {rng.choice(PLACES)} {n}",
                    province_code=38,
                    ward_code=rng.choice(wards),
                    street="",
                    created_at=utcnow(),
                )
                .returning(Organisation.__table__.c.id)  # type: ignore[attr-defined]
            ).scalar_one()
            for n in range(300)
        ]
    now = utcnow()
    batch: list[dict[str, object]] = []
    table = Product.__table__  # type: ignore[attr-defined]
    for n in range(products):
        kind, category = rng.choice(KINDS)
        name = f"{kind} {rng.choice(PLACES)} {rng.choice(WORDS)} #{n}"
        description = " ".join(rng.sample(WORDS, 6)) + f", sản xuất tại {rng.choice(PLACES)}."
        batch.append(
            {
                "producer_id": rng.choice(producer_ids),
                "name": name,
                "description": description,
                "category": category,
                "unit": "kg",
                "price_vnd": rng.randrange(10, 2000) * 1000,
                "stock": rng.randrange(0, 500),
                "ocop_stars": rng.choice([None, None, 3, 4, 5]),
                "is_active": rng.random() > 0.05,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                **search.folded_columns(name=name, description=description),
            }
        )
        if len(batch) == 5000:
            with engine.begin() as connection:
                connection.execute(table.insert(), batch)
            batch = []
    if batch:
        with engine.begin() as connection:
            connection.execute(table.insert(), batch)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE product")


def previous_search(session: Any, filters: Any, limit: int) -> tuple[list[Any], int]:
    """The search as it was before issue 8's performance work, for comparison in the same run:
    one query that reads every match to rank them all and count them (``count(*) OVER ()``)."""
    from market import search
    from market.models import Organisation, Product

    rows = session.exec(
        sa.select(Product, Organisation, sa.func.count().over())
        .join(Organisation, Organisation.id == Product.producer_id)  # type: ignore[arg-type]
        .where(*search.conditions(filters))
        .order_by(*search.ordering(filters))
        .limit(limit)
    ).all()
    return [(p, o) for p, o, _ in rows], int(rows[0][2]) if rows else 0


def without_windows(session: Any, filters: Any, limit: int) -> tuple[list[Any], int]:
    """``market.search`` without first looking among the newest listings (as before migration
    0014; the trigram index on the name is there), for comparison in the same run."""
    from market import search

    window = search.NEWEST_WINDOW
    search.NEWEST_WINDOW = 0
    try:
        return search.search(session, filters, limit=limit)
    finally:
        search.NEWEST_WINDOW = window


def run(label: str, repeat: int, *, compare: bool = False) -> list[float]:
    """Time ``market.search`` (the page's query: the first page of 24 and the count) over the
    queries; with ``compare``, the previous single query too, interleaved with it so that both
    see the same load."""
    from choso.db import new_session
    from market import search

    kinds = {"now": lambda s, f: search.search(s, f, limit=24)}
    if compare:
        kinds["no window"] = lambda s, f: without_windows(s, f, 24)
        kinds["before"] = lambda s, f: previous_search(s, f, 24)
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    by_query: dict[str, dict[str, list[float]]] = {kind: {q: [] for q in QUERIES} for kind in kinds}
    totals: dict[str, str] = {}
    with new_session(read_only=True) as session:
        for query in QUERIES:  # warm the cache once, as a live server is
            for work in kinds.values():
                work(session, search.Filters(query=query))
                session.rollback()
        for _ in range(repeat):
            for query in QUERIES:
                for kind, work in kinds.items():
                    started = time.perf_counter()
                    work(session, search.Filters(query=query))
                    timings[kind].append(time.perf_counter() - started)
                    by_query[kind][query].append(timings[kind][-1])
                    session.rollback()
        for query in QUERIES:
            found = search.search_page(session, search.Filters(query=query), limit=24)
            totals[query] = f"{found.total:,}{'+' if found.total_capped else ''}"
    for kind in kinds:
        name = {
            "now": label,
            "no window": "  the same without the newest window",
            "before": "  the previous query (ranks and counts every match)",
        }[kind]
        cuts = statistics.quantiles(timings[kind], n=100)
        slowest = sorted(QUERIES, key=lambda q: -statistics.median(by_query[kind][q]))[:5]
        print(
            f"{name:<52} {len(timings[kind]):>5} searches  p50 {cuts[49] * 1000:7.1f} ms"
            f"  p95 {cuts[94] * 1000:7.1f} ms  p99 {cuts[98] * 1000:7.1f} ms"
        )
        print(
            "    slowest (median ms, matches): "
            + ", ".join(
                f"{q!r} {statistics.median(by_query[kind][q]) * 1000:.0f} ({totals[q]})" for q in slowest
            )
        )
    return timings["now"]


def explain(query: str) -> str:
    """The plans of the queries one relevance search runs: the name matches of the page (the
    description matches are read the same way when the name matches run out), and the count."""
    from choso.db import get_engine
    from market import search
    from market.models import Product

    filters = search.Filters(query=query)
    where = search.conditions(filters)
    in_name = search._in_name(search.query_words(query))
    page = (
        sa.select(Product.id, Product.name)
        .where(*where, in_name)
        .order_by(sa.desc(Product.created_at), sa.desc(Product.id))
        .limit(24)
    )
    count = sa.select(sa.func.count()).select_from(
        sa.select(Product.id).where(*where).limit(search.COUNT_CAP + 1).subquery()
    )
    engine = get_engine()
    plans = []
    with engine.connect() as connection:
        for statement in (page, count):
            compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
            rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}").all()
            plans.append("\n".join(row[0] for row in rows))
    return "\n-- the count:\n".join(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    name = make_database()
    os.environ["CHOSO_DATABASE_URL"] = f"{SERVER}/{name}"
    os.environ.setdefault("CHOSO_SECRET_KEY", "bench")
    try:
        from choso import migrate

        migrate.upgrade()
        started = time.perf_counter()
        load(args.products)
        print(
            f"loaded {args.products:,} products in {time.perf_counter() - started:.1f} s; "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        )
        print(f"queries: {len(QUERIES)} (with and without diacritics, common and absent words)")
        print("\nplans for 'gạo thơm' with the index:\n" + explain("gạo thơm"))
        print("\nplans for 'ca thu' (a broad query) with the index:\n" + explain("ca thu"))
        run("market.search with the pg_trgm GIN index", args.repeat, compare=True)
        from choso.db import get_engine

        with get_engine().begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_product_search_folded_trgm")
            connection.exec_driver_sql("DROP INDEX ix_product_name_folded_trgm")
        run("the same queries, no trigram index (baseline)", max(2, args.repeat // 4))
        print("\nplans for 'gạo thơm' without the index:\n" + explain("gạo thơm"))
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    finally:
        from choso.db import dispose_engine

        dispose_engine()
        drop_database(name)


if __name__ == "__main__":
    main()
