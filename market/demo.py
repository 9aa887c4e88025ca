"""Demo data: a small, realistic Thanh Hóa market (producers, agencies, buyers, products).

Everything goes through the same services as real users' requests, so demo data obeys
every rule real data does. Loading twice changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlmodel import Session, select
from stdnum.vn import mst

from choso.db import session_scope
from market import catalog, parties
from market.models import Role, User
from market.places import THANH_HOA, wards_of

DEMO_PASSWORD = "ChoSo@2026"  # noqa: S105 - published on purpose: demo accounts only
OPERATOR_EMAIL = "vanhanh@choso.vn"


def ward_code(name: str) -> int:
    for ward in wards_of(THANH_HOA):
        if ward.name == name:
            return int(ward.code)
    raise LookupError(f"no ward named {name!r} in Thanh Hóa")


def tax_code(first_nine: str) -> str:
    """A valid tax code near ``first_nine``: python-stdnum computes the check digit, and a
    base whose check would be 10 (no such digit) moves to the next one."""
    for step in range(10):
        base = f"{int(first_nine) + step:09d}"
        candidate = base + mst.calc_check_digit(base)
        if mst.is_valid(candidate):
            return candidate
    raise ValueError(f"no valid tax code near {first_nine}")


@dataclass(frozen=True)
class DemoProduct:
    """The fields of catalog.ProductIn, in a compact positional form."""

    name: str
    category: str
    unit: str
    price_vnd: int
    stock: int
    description: str
    ocop_stars: int | None = None


@dataclass(frozen=True)
class DemoProducer:
    business: str
    tax_base: str  # first nine digits; 28xx is Thanh Hóa's prefix
    owner: str
    email: str
    ward: str
    street: str
    latitude: float
    longitude: float
    products: tuple[DemoProduct, ...]


PRODUCERS = (
    DemoProducer(
        "Hợp tác xã Nem chua Hạc Thành",
        "280100123",
        "Lê Thị Hoa",
        "htx.nemchua@choso.vn",
        "Phường Hạc Thành",
        "12 Lê Hoàn",
        19.8075,
        105.7764,
        (
            DemoProduct(
                "Nem chua Thanh Hóa (hộp 20 chiếc)",
                "specialty",
                "hộp",
                60_000,
                400,
                "Nem chua lá ổi truyền thống, thịt lợn tươi, thính gạo rang, ăn được sau 3 ngày.",
                4,
            ),
            DemoProduct(
                "Chả tôm Thanh Hóa",
                "seafood",
                "kg",
                350_000,
                80,
                "Chả tôm nướng than hoa, tôm tươi Sầm Sơn, đóng hút chân không.",
                3,
            ),
        ),
    ),
    DemoProducer(
        "Cơ sở chế biến Mắm tép Hà Yên",
        "280200456",
        "Phạm Văn Tùng",
        "mamtep.hayen@choso.vn",
        "Xã Hậu Lộc",
        "Thôn Hà Yên",
        19.9302,
        105.8874,
        (
            DemoProduct(
                "Mắm tép Hà Yên (hũ 500 g)",
                "specialty",
                "hũ",
                85_000,
                250,
                "Mắm tép làm thủ công từ tép biển Hậu Lộc, ủ chượp 6 tháng.",
                4,
            ),
        ),
    ),
    DemoProducer(
        "Hợp tác xã Bánh gai Tứ Trụ",
        "280300789",
        "Nguyễn Thị Mai",
        "banhgai.tutru@choso.vn",
        "Xã Thọ Xuân",
        "Làng Tứ Trụ",
        19.9316,
        105.4531,
        (
            DemoProduct(
                "Bánh gai Tứ Trụ (hộp 10 chiếc)",
                "specialty",
                "hộp",
                70_000,
                300,
                "Bánh gai lá gai rừng, nhân đỗ xanh, dừa và mỡ, gói lá chuối khô.",
                4,
            ),
            DemoProduct(
                "Bưởi Luận Văn",
                "fruit",
                "quả",
                60_000,
                500,
                "Bưởi đặc sản Thọ Xuân, múi mọng, ngọt thanh, vỏ mỏng.",
                3,
            ),
        ),
    ),
    DemoProducer(
        "Hợp tác xã Chè lam Phủ Quảng",
        "280400321",
        "Trịnh Văn Đức",
        "chelam@choso.vn",
        "Xã Vĩnh Lộc",
        "Phố Phủ Quảng",
        20.0412,
        105.6312,
        (
            DemoProduct(
                "Chè lam Phủ Quảng (hộp 500 g)",
                "specialty",
                "hộp",
                55_000,
                200,
                "Chè lam gạo nếp cái hoa vàng, mật mía, gừng và lạc rang.",
                3,
            ),
        ),
    ),
    DemoProducer(
        "Hợp tác xã Cói Nga Sơn",
        "280500654",
        "Mai Thị Thu",
        "coi.ngason@choso.vn",
        "Xã Nga Sơn",
        "Thôn Hậu Trạch",
        20.0035,
        105.9712,
        (
            DemoProduct(
                "Chiếu cói Nga Sơn (1,6 × 2 m)",
                "handicraft",
                "chiếc",
                250_000,
                120,
                "Chiếu cói dệt tay, nhuộm màu tự nhiên, bền và thoáng mát.",
                4,
            ),
            DemoProduct(
                "Làn cói đan tay",
                "handicraft",
                "chiếc",
                90_000,
                150,
                "Làn cói cỡ vừa, quai tre, dùng đi chợ thay túi ni lông.",
            ),
        ),
    ),
    DemoProducer(
        "Công ty TNHH Hải sản Sầm Sơn",
        "280600987",
        "Hoàng Văn Nam",
        "haisan.samson@choso.vn",
        "Phường Sầm Sơn",
        "8 Hồ Xuân Hương",
        19.7405,
        105.9032,
        (
            DemoProduct(
                "Mực khô Sầm Sơn",
                "seafood",
                "kg",
                850_000,
                60,
                "Mực ống câu, phơi nắng tự nhiên, size 15–20 con/kg.",
            ),
            DemoProduct(
                "Nước mắm Ba Làng (chai 500 ml)",
                "specialty",
                "chai",
                65_000,
                350,
                "Nước mắm cá cơm truyền thống làng chài Ba Làng, độ đạm 35°N.",
                4,
            ),
        ),
    ),
    DemoProducer(
        "Hợp tác xã Cam Vân Du",
        "280700246",
        "Bùi Văn Sơn",
        "cam.vandu@choso.vn",
        "Xã Vân Du",
        "Thôn Thành Công",
        20.1204,
        105.6601,
        (
            DemoProduct(
                "Cam Vân Du",
                "fruit",
                "kg",
                40_000,
                2_000,
                "Cam chanh Vân Du, trồng theo VietGAP, thu hoạch tháng 10 đến tháng 2.",
                3,
            ),
        ),
    ),
    DemoProducer(
        "Hợp tác xã Nông nghiệp Thiệu Hóa",
        "280800135",
        "Đỗ Thị Ngân",
        "gao.thieuhoa@choso.vn",
        "Xã Thiệu Hóa",
        "Thôn Đại Điền",
        19.8951,
        105.6743,
        (
            DemoProduct(
                "Gạo nếp cái hoa vàng",
                "rice",
                "kg",
                38_000,
                5_000,
                "Nếp cái hoa vàng vụ mùa, hạt tròn, dẻo thơm, dùng đồ xôi và nấu rượu.",
            ),
            DemoProduct(
                "Gạo thơm Thiệu Hóa",
                "rice",
                "kg",
                22_000,
                12_000,
                "Gạo thơm canh tác hữu cơ trên cánh đồng mẫu lớn.",
            ),
            DemoProduct(
                "Rau cải ngồng", "vegetables", "kg", 25_000, 300, "Rau cải ngồng vụ đông, hái trong ngày."
            ),
        ),
    ),
)

AGENCIES = (
    # (agency, tax base, officer, email, ward, street)
    (
        "Trung tâm Phục vụ hành chính công tỉnh Thanh Hóa",
        "280900111",
        "Lê Văn Hùng",
        "hcc.thanhhoa@choso.vn",
        "Phường Hạc Thành",
        "28 Đại lộ Lê Lợi",
    ),
    (
        "Ủy ban nhân dân phường Sầm Sơn",
        "280900222",
        "Nguyễn Thị Hạnh",
        "ubnd.samson@choso.vn",
        "Phường Sầm Sơn",
        "1 Trần Hưng Đạo",
    ),
)

BUYERS = (
    ("Nguyễn Thị Lan", "lan.nguyen@choso.vn", "Phường Hàm Rồng", "45 Nguyễn Trãi", 19.8377, 105.7858),
    ("Trần Văn Minh", "minh.tran@choso.vn", "Phường Bỉm Sơn", "10 Trần Phú", 20.0786, 105.8617),
    (
        "Nhà hàng Biển Xanh (Phạm Thu Trang)",
        "nhahang.bienxanh@choso.vn",
        "Phường Nam Sầm Sơn",
        "Đường Hồ Xuân Hương",
        19.7201,
        105.9054,
    ),
)

DEMO_LOGINS: tuple[tuple[str, str], ...] = (
    (OPERATOR_EMAIL, "operator"),
    *((email, "agency_officer") for _agency, _tax, _name, email, _ward, _street in AGENCIES),
    *((p.email, "producer") for p in PRODUCERS),
    *((email, "buyer") for _name, email, *_rest in BUYERS),
)


def _address(ward: str, street: str, latitude: float | None = None, longitude: float | None = None) -> dict:
    return {"ward_code": ward_code(ward), "street": street, "latitude": latitude, "longitude": longitude}


def _exists(session: Session, email: str) -> bool:
    return session.exec(select(User.id).where(User.email == email)).first() is not None


def _load(session: Session) -> None:
    # Each account is skipped if present, so an interrupted load completes on the next run.
    operator = session.exec(select(User).where(User.email == OPERATOR_EMAIL)).first()
    if operator is None:
        operator = parties.create_operator(
            session, email=OPERATOR_EMAIL, full_name="Ban vận hành Chợ Số", password=DEMO_PASSWORD
        )
    for agency, tax_base, officer, email, ward, street in AGENCIES:
        if _exists(session, email):
            continue
        parties.create_agency_officer(
            session,
            operator,
            parties.AgencyOfficerIn(
                email=email,
                password=DEMO_PASSWORD,
                full_name=officer,
                agency_name=agency,
                agency_tax_code=tax_code(tax_base),
                address=parties.AddressIn(**_address(ward, street)),
            ),
        )
    for producer in PRODUCERS:
        if _exists(session, producer.email):
            continue
        owner = parties.register(
            session,
            parties.Registration(
                email=producer.email,
                password=DEMO_PASSWORD,
                full_name=producer.owner,
                role=Role.PRODUCER,
                organisation_name=producer.business,
                tax_code=tax_code(producer.tax_base),
                address=parties.AddressIn(
                    **_address(producer.ward, producer.street, producer.latitude, producer.longitude)
                ),
            ),
        )
        for product in producer.products:
            catalog.create_product(session, owner, catalog.ProductIn(**asdict(product)))
    for name, email, ward, street, latitude, longitude in BUYERS:
        if _exists(session, email):
            continue
        parties.register(
            session,
            parties.Registration(
                email=email,
                password=DEMO_PASSWORD,
                full_name=name,
                role=Role.BUYER,
                address=parties.AddressIn(**_address(ward, street, latitude, longitude)),
            ),
        )


# The platform's own account (checkouts are paid into it), and who delivers in the demo market.
PLATFORM_ACCOUNT = ("970436", "19036688202601", "CONG TY CHO SO THANH HOA")
DELIVERING = {"htx.nemchua@choso.vn": 30_000, "mamtep.hayen@choso.vn": 25_000}


def _shop(session: Session) -> None:
    """The platform's bank account and some producers' delivery terms, unless already there."""
    from market.models import DeliveryOption
    from payments.models import BankAccount

    bin_, number, holder = PLATFORM_ACCOUNT
    if session.exec(select(BankAccount.id).where(BankAccount.organisation_id == None)).first() is None:  # noqa: E711
        session.add(
            BankAccount(organisation_id=None, bank_bin=bin_, account_number=number, holder_name=holder)
        )
    for email, fee in DELIVERING.items():
        owner = session.exec(select(User).where(User.email == email)).first()
        if (
            owner is not None
            and owner.organisation_id
            and session.get(DeliveryOption, owner.organisation_id) is None
        ):
            session.add(
                DeliveryOption(
                    organisation_id=owner.organisation_id, offers_delivery=True, delivery_fee_vnd=fee
                )
            )
    session.commit()


def load() -> bool:
    """Load the demo market unless it is there; True if loaded now."""
    with session_scope() as session:
        if all(_exists(session, email) for email, _role in DEMO_LOGINS):
            _shop(session)  # a demo market loaded before checkout existed gets it too
            return False
        _load(session)
        _shop(session)
    return True


def load_demo() -> list[str]:
    """The ``choso demo`` step of the market: what to tell the person who ran it."""
    if not load():
        return []
    lines = ["demo data loaded; every demo account's password is: " + DEMO_PASSWORD]
    lines += [f"  {role:<15} {email}" for email, role in DEMO_LOGINS]
    return lines
