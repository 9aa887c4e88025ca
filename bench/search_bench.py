"""Catalogue search on 100,000 products on PostgreSQL: latency with the trigram index, beside
the same queries without it (the unindexed baseline), and the query plan.

Makes a database of its own (dropped at the end), migrates it, loads ``--products`` listings
with Vietnamese names and descriptions from ~300 producers, then runs each query of a fixed
set ``--repeat`` times through ``market.search.search`` (the page's query: the count and the
first page of 24, ranked) and prints p50/p95/p99 per run.

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


def run(label: str, repeat: int) -> list[float]:
    from choso.db import new_session
    from market import search

    timings: list[float] = []
    totals: dict[str, int] = {}
    by_query: dict[str, list[float]] = {query: [] for query in QUERIES}
    with new_session(read_only=True) as session:
        for query in QUERIES:  # warm the cache once, as a live server is
            search.search(session, search.Filters(query=query), limit=24)
            session.rollback()
        for _ in range(repeat):
            for query in QUERIES:
                started = time.perf_counter()
                _rows, total = search.search(session, search.Filters(query=query), limit=24)
                timings.append(time.perf_counter() - started)
                by_query[query].append(timings[-1])
                totals[query] = total
                session.rollback()
    cuts = statistics.quantiles(timings, n=100)
    slowest = sorted(QUERIES, key=lambda q: -statistics.median(by_query[q]))[:5]
    print(
        "  slowest (median ms, matches): "
        + ", ".join(f"{q!r} {statistics.median(by_query[q]) * 1000:.0f} ({totals[q]:,})" for q in slowest)
    )
    print(
        f"{label:<44} {len(timings):>5} searches  p50 {cuts[49] * 1000:7.1f} ms"
        f"  p95 {cuts[94] * 1000:7.1f} ms  p99 {cuts[98] * 1000:7.1f} ms"
    )
    return timings


def explain(query: str) -> str:
    from choso.db import get_engine
    from market import search
    from market.models import Organisation, Product

    filters = search.Filters(query=query)
    statement = (
        sa.select(Product.id, Product.name)
        .join(Organisation, Organisation.id == Product.producer_id)  # type: ignore[arg-type]
        .where(*search.conditions(filters))
        .order_by(*search.ordering(filters))
        .limit(24)
    )
    engine = get_engine()
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}").all()
    return "\n".join(row[0] for row in rows)


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
        print("\nplan for 'gạo thơm' with the index:\n" + explain("gạo thơm"))
        run("market.search with the pg_trgm GIN index", args.repeat)
        from choso.db import get_engine

        with get_engine().begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_product_search_folded_trgm")
        run("the same queries, no index (baseline)", max(2, args.repeat // 4))
        print("\nplan for 'gạo thơm' without the index:\n" + explain("gạo thơm"))
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    finally:
        from choso.db import dispose_engine

        dispose_engine()
        drop_database(name)


if __name__ == "__main__":
    main()
