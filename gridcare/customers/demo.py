"""The demo county: a deterministic, realistic customer archive for a 高碑店-like county.

Pure Python, no ORM: :func:`generate_county` turns ``(customers, seed)`` into plain rows
(dataclasses) that ``gridcare seed`` writes with bulk inserts. The same seed always gives
the same county — names, 身份证 numbers, credit codes, mobiles, addresses, dates — so a
demo, a test and a benchmark can all talk about "customer 17 of seed 1".

What the county looks like
--------------------------
- Topology 变电站 → 10 kV 线路 → 台区: about one substation per 40,000 customers (at least
  3; 110 kV and 35 kV), one feeder per ~2,500 customers (at least 10), one 台区 per ~80
  customers (60–100 each) with a capacity from the standard 100–630 kVA range. These are
  public transformer areas (公变台区).
- Dedicated transformers (专变): every 大工业 account has its own transformer, fed straight
  from the 10 kV feeder of the public 台区 it is next to (same area type), sized to the
  account's contract capacity (315–5000 kVA), named after the customer (``…专变``, or
  ``…1号专变`` / ``…2号专变`` for a customer with two accounts) with a ``ZB…`` code. They
  come after the public 台区 in ``County.transformers`` and serve one customer each; the
  public 台区 customer counts leave them out.
- Area types by 台区: about 35 % urban (城区), 60 % rural (农村), 5 % remote (特殊边远);
  the 台区 are laid out urban → rural → remote and cut into feeders in that order, so
  a whole feeder is (nearly always) one area type, as in a real county.
- Customers: about nine in ten are households (城镇居民 in urban areas, 乡村居民 in the
  villages, a few 合表居民 — village committees and old estates on one meter); the rest
  are shops and firms (一般工商业; persons, 个体工商户 and companies), schools, hospitals
  and water works (重要用户, about 1 %), irrigation (农业生产) and a few large
  factories (大工业, 10 kV, 315–5000 kVA).
- Every 身份证 number has a real 保定 area code (mostly 130684 高碑店), a birth date
  1940–2004 and a correct check character; every 统一社会信用代码 is well formed with its
  organisation-code and MOD 31 check characters. Both are unique across the county, and so
  are the mobiles.
- Accounts opened 1995–2025 (a wave in the 1998–2002 rural grid upgrade 农网改造 "一户一表"),
  ~15 % prepaid (费控), a few suspended (暂停) and closed (销户); every account has one
  supply contract. 户号 and contract numbers are handed out in opening order: ``number_rank``
  is the offset inside the block the seed reserves from the number sequences.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from gridcare.core.engine.ids import USCC_ALPHABET, id_check_char, uscc_check_char

PROVINCE_CITY = "河北省高碑店市"
CITY = "高碑店市"
COUNTY_AREA_CODE = "130684"  # 高碑店市
CENTER_LAT = 39.33
CENTER_LON = 115.87

# Account classes, voltages and statuses as stored (values of gridcare.customers.choices).
URBAN_RES = "urban_res"
RURAL_RES = "rural_res"
SHARED_RES = "shared_res"
GENERAL_IC = "general_ic"
LARGE_IND = "large_ind"
AGRI = "agri"
RESIDENTIAL = (URBAN_RES, RURAL_RES, SHARED_RES)

TARIFF_BY_CLASS = {
    URBAN_RES: "HEBS-RES-LV",
    RURAL_RES: "HEBS-RES-LV",
    SHARED_RES: "HEBS-RES-LV",
    GENERAL_IC: "HEBS-GIC-LV",
    LARGE_IND: "HEBS-LI-10KV",
    AGRI: "",  # 农业生产 tariff not bound yet: billing binds it
}

TRANSFORMER_CAPACITIES = (100, 200, 315, 400, 500, 630)
LARGE_CAPACITIES = (315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000)
GIC_CAPACITIES = (5, 8, 10, 15, 20, 30, 50, 80, 100)
AGRI_CAPACITIES = (5, 8, 10, 15, 20, 30)
RESIDENTIAL_CAPACITIES = (4, 6, 8, 10, 12)

FIRST_OPENED = dt.date(1995, 1, 1)
LAST_OPENED = dt.date(2025, 12, 31)

# --- names and places ---------------------------------------------------------------------

# Surnames weighted roughly as in 河北 (per mille of the population, rounded).
SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 90),
    ("李", 90),
    ("张", 88),
    ("刘", 70),
    ("赵", 40),
    ("杨", 30),
    ("陈", 22),
    ("高", 25),
    ("孙", 20),
    ("马", 16),
    ("郭", 15),
    ("田", 12),
    ("周", 12),
    ("吴", 10),
    ("黄", 8),
    ("徐", 10),
    ("胡", 10),
    ("朱", 10),
    ("宋", 10),
    ("韩", 10),
    ("冯", 8),
    ("董", 10),
    ("于", 10),
    ("曹", 8),
    ("许", 7),
    ("崔", 8),
    ("贾", 8),
    ("魏", 8),
    ("齐", 10),
    ("白", 9),
    ("史", 6),
    ("侯", 6),
    ("任", 6),
    ("吕", 6),
    ("常", 6),
    ("牛", 5),
    ("耿", 5),
    ("霍", 4),
    ("苏", 5),
    ("卢", 5),
    ("谢", 4),
    ("蒋", 3),
    ("邓", 3),
    ("袁", 6),
    ("孟", 6),
    ("阎", 4),
    ("薛", 4),
    ("尹", 3),
    ("段", 4),
    ("林", 4),
    ("何", 4),
    ("罗", 3),
    ("郑", 5),
    ("梁", 5),
    ("谷", 4),
    ("甄", 2),
)
_SURNAME_CHARS = tuple(s for s, _ in SURNAMES)
_SURNAME_CUM: list[int] = []
_total = 0
for _, _w in SURNAMES:
    _total += _w
    _SURNAME_CUM.append(_total)

# Given-name characters by sex and generation (born before 1975 / later).
MALE_OLD = "建国军伟强勇志明海刚峰涛斌永林东平金利庆福宝顺振华忠学民春成文立新广德树占长"
MALE_NEW = "浩宇辉杰鹏超亮磊凯博昊俊晨旭健毅轩泽航睿哲然铭帅阳鑫龙飞宁琦诚豪"
FEMALE_OLD = "秀英兰芳丽娟敏静霞燕红梅艳玲萍桂凤琴淑荣美华珍云翠玉素莲菊"
FEMALE_NEW = "婷雪颖欣倩悦佳璐蕾晶慧丹雅思雨月琳怡涵萱妍茜瑶可馨彤蕊"

URBAN_SUBDISTRICTS = ("和平街道", "军城街道", "东盛街道", "北城街道", "兴华路街道")
URBAN_STREETS = (
    "兴华路",
    "世纪大街",
    "团结路",
    "迎宾路",
    "和平路",
    "京广路",
    "白沟路",
    "北环路",
    "东环路",
    "车站路",
    "永安路",
    "朝阳路",
    "建设路",
    "胜利路",
    "燕赵大街",
    "金台路",
)
ESTATE_PREFIXES = (
    "盛世",
    "金色",
    "阳光",
    "御景",
    "学府",
    "和谐",
    "幸福",
    "康城",
    "东湖",
    "锦绣",
    "华苑",
    "紫薇",
    "翡翠",
    "银河",
    "明珠",
    "滨河",
    "书香",
    "润泽",
    "泰和",
    "龙湾",
    "世纪",
    "鑫苑",
    "盛和",
    "金台",
    "燕南",
)
ESTATE_SUFFIXES = ("花园", "家园", "华庭", "名苑", "小区", "新城", "嘉园", "雅居", "公馆", "佳苑")
PHASES = ("", "二期", "三期", "四期", "五期", "六期", "七期", "八期")

# (town, short name used for substations and feeders)
TOWNS: tuple[tuple[str, str], ...] = (
    ("方官镇", "方官"),
    ("新城镇", "新城"),
    ("泗庄镇", "泗庄"),
    ("辛立庄镇", "辛立庄"),
    ("东马营镇", "东马营"),
    ("辛桥镇", "辛桥"),
    ("肖官营镇", "肖官营"),
    ("梁家营镇", "梁家营"),
    ("张六庄乡", "张六庄"),
    ("白沟镇", "白沟"),
)
URBAN_SUBSTATION_NAMES = ("城关", "城东", "城北", "城南", "开发区")
URBAN_FEEDER_NAMES = (
    "城北",
    "城南",
    "城东",
    "城西",
    "兴华",
    "团结",
    "迎宾",
    "世纪",
    "车站",
    "和平",
    "京广",
    "开发区",
    "工业园",
    "北环",
    "东环",
    "永安",
    "朝阳",
    "建设",
    "胜利",
    "燕赵",
    "金台",
)
FEEDER_SUFFIXES = ("东", "西", "南", "北", "一", "二", "三", "四", "五", "六", "七", "八")
ROMAN = ("Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "Ⅵ", "Ⅶ", "Ⅷ", "Ⅸ", "Ⅹ")
VILLAGE_FIRST = "东西南北前后大小中"
VILLAGE_PLACE = ("关", "庄", "营", "屯", "铺", "店", "城", "河", "坊", "堡", "辛庄", "马庄", "留")
SURNAME_PLACE = ("庄", "家营", "家庄", "各庄", "官营", "辛庄", "家屯", "家店", "家坞")
VILLAGE_STREETS = (
    "东街",
    "西街",
    "南街",
    "北街",
    "前街",
    "后街",
    "中街",
    "新街",
    "一街",
    "二街",
    "三街",
    "四街",
    "五街",
    "六街",
)
FIELDS = ("北地", "南地", "东地", "西地", "河滩地")

SHOP_TRADE = (
    "鑫",
    "宏",
    "华",
    "泰",
    "盛",
    "达",
    "源",
    "通",
    "恒",
    "昌",
    "隆",
    "兴",
    "瑞",
    "丰",
    "利",
    "嘉",
    "诚",
    "信",
    "宇",
    "顺",
    "金",
    "旺",
    "德",
    "福",
    "康",
    "永",
    "联",
    "汇",
    "博",
    "荣",
)
COMPANY_LINES = (
    "商贸有限公司",
    "箱包有限公司",
    "门窗有限公司",
    "建材有限公司",
    "汽车维修有限公司",
    "物流有限公司",
    "食品有限公司",
    "餐饮管理有限公司",
    "五金机电有限公司",
    "农资有限公司",
    "电子商务有限公司",
    "服装有限公司",
    "塑料制品有限公司",
    "印刷有限公司",
    "家具有限公司",
    "宾馆有限公司",
    "农副产品有限公司",
    "科技有限公司",
)
SHOP_LINES = (
    "超市",
    "便利店",
    "饭店",
    "理发店",
    "五金店",
    "农资店",
    "小卖部",
    "烧饼铺",
    "家电维修部",
    "药店",
    "服装店",
    "烟酒店",
    "面馆",
    "修车铺",
    "手机店",
    "箱包店",
    "粮油店",
    "水果店",
)
LARGE_LINES = (
    "钢结构有限公司",
    "铸造有限公司",
    "化工有限公司",
    "新材料有限公司",
    "纸业有限公司",
    "食品有限公司",
    "建材有限公司",
    "门窗型材有限公司",
    "塑业有限公司",
    "机械制造有限公司",
    "饲料有限公司",
    "混凝土有限公司",
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "170",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
)

# 身份证 area codes: 高碑店 and its 保定 neighbours (weights in per cent).
AREA_CODES: tuple[tuple[str, int], ...] = (
    ("130684", 80),  # 高碑店市
    ("130626", 4),  # 定兴县
    ("130681", 4),  # 涿州市
    ("130629", 3),  # 容城县
    ("130638", 3),  # 雄县
    ("130609", 3),  # 徐水区
    ("130633", 3),  # 易县
)

# Customer categories: what kind of customer, drawn per customer by area type (per mille).
RES = "res"  # household (person)
SHARED = "shared"  # 合表居民: village committee / estate management on one meter
SHOP_PERSON = "shop_person"  # shop registered under its owner's 身份证
SHOP_IND = "shop_ind"  # 个体工商户 (credit code 92…)
COMPANY = "company"  # small company (91…)
PUBLIC = "public"  # school / hospital / water works: 重要用户
AGRI_PERSON = "agri_person"  # irrigation well of a farmer
AGRI_COOP = "agri_coop"  # 农民专业合作社 (93…)
LARGE = "large"  # 大工业 on 10 kV
CATEGORY_WEIGHTS: dict[str, tuple[tuple[str, int], ...]] = {
    "urban": (
        (RES, 890),
        (SHARED, 10),
        (SHOP_PERSON, 20),
        (SHOP_IND, 33),
        (COMPANY, 29),
        (PUBLIC, 17),
        (LARGE, 1),
    ),
    "rural": (
        (RES, 893),
        (SHARED, 6),
        (SHOP_PERSON, 15),
        (SHOP_IND, 20),
        (COMPANY, 15),
        (PUBLIC, 20),
        (AGRI_PERSON, 21),
        (AGRI_COOP, 7),
        (LARGE, 3),
    ),
    "remote": (
        (RES, 910),
        (SHARED, 5),
        (SHOP_PERSON, 15),
        (SHOP_IND, 10),
        (COMPANY, 5),
        (PUBLIC, 15),
        (AGRI_PERSON, 30),
        (AGRI_COOP, 10),
    ),
}
AREA_MIX = (("urban", 0.35), ("rural", 0.60), ("remote", 0.05))


# --- rows ---------------------------------------------------------------------------------


@dataclass(slots=True)
class SubstationRow:
    """变电站."""

    code: str
    name: str
    voltage_kv: int


@dataclass(slots=True)
class FeederRow:
    """10 kV 线路 on substation number ``substation`` (index into ``County.substations``)."""

    code: str
    name: str
    substation: int


@dataclass(slots=True)
class TransformerRow:
    """Transformer on feeder number ``feeder``; ``customers`` is how many customers it serves.

    A public 台区 (公变) unless ``is_dedicated``: then one customer's own 专变.
    """

    code: str
    name: str
    feeder: int
    capacity_kva: int
    area_type: str
    location: str
    customers: int
    is_dedicated: bool = False


@dataclass(slots=True)
class ServicePointRow:
    """用电地址 on transformer number ``transformer``; coordinates are WGS84 degrees or None."""

    address: str
    transformer: int
    latitude: Decimal | None
    longitude: Decimal | None


@dataclass(slots=True)
class CustomerRow:
    """客户: a person (``id_number``) or an organisation (``credit_code``)."""

    kind: str
    name: str
    id_number: str | None
    credit_code: str | None
    mobile: str
    contact_person: str
    postal_address: str

    @property
    def id_tail(self) -> str:
        """Last 6 characters of the identity number (what callers read out)."""
        return (self.id_number or self.credit_code or "")[-6:]


@dataclass(slots=True)
class AccountRow:
    """用电户 of customer ``customer`` at service point ``service_point`` (list indexes).

    ``number_rank`` is the 0-based position in opening order: 户号 = first reserved number
    + rank, and its contract's number is derived the same way.
    """

    customer: int
    service_point: int
    customer_class: str
    voltage_level: str
    tariff_code: str
    status: str
    importance: str
    is_prepaid: bool
    opened_on: dt.date
    closed_on: dt.date | None
    number_rank: int = 0
    suspended_on: dt.date | None = None


@dataclass(slots=True)
class ContractRow:
    """供用电合同 of account ``account`` (index into ``County.accounts``)."""

    account: int
    kind: str
    capacity_kva: Decimal
    start_date: dt.date
    end_date: dt.date | None
    signed_on: dt.date
    status: str
    basic_charge_by: str = ""
    contracted_demand_kw: Decimal | None = None


@dataclass(slots=True)
class County:
    """The whole demo county, ready to be written table by table."""

    seed: int
    substations: list[SubstationRow] = field(default_factory=list)
    feeders: list[FeederRow] = field(default_factory=list)
    transformers: list[TransformerRow] = field(default_factory=list)
    service_points: list[ServicePointRow] = field(default_factory=list)
    customers: list[CustomerRow] = field(default_factory=list)
    accounts: list[AccountRow] = field(default_factory=list)
    contracts: list[ContractRow] = field(default_factory=list)
    portal_customers: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {
            "substations": len(self.substations),
            "feeders": len(self.feeders),
            "transformers": len(self.transformers),
            "service_points": len(self.service_points),
            "customers": len(self.customers),
            "accounts": len(self.accounts),
            "contracts": len(self.contracts),
        }


# --- demo logins --------------------------------------------------------------------------

DEMO_PASSWORD = "gridcare-demo"  # noqa: S105 - published demo password, printed by the seed
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "gridcare-admin"  # noqa: S105 - published demo password
PORTAL_USERNAMES = ("customer1", "customer2", "customer3")
# Chinese (last_name, first_name) of the demo staff member holding each role.
STAFF_NAMES: dict[str, tuple[str, str]] = {
    "counter_clerk": ("刘", "芳"),
    "hotline_agent": ("王", "静"),
    "billing_clerk": ("张", "秀英"),
    "metering_tech": ("李", "建军"),
    "inspector": ("赵", "国强"),
    "repair_dispatcher": ("杨", "磊"),
    "repair_crew": ("高", "志刚"),
    "service_manager": ("陈", "丽华"),
    "marketing_manager": ("孙", "海涛"),
    "auditor": ("郭", "敏"),
}


# --- helpers ------------------------------------------------------------------------------


def _gb11714_check(body: str) -> str:
    """Check character of an 8-character 组织机构代码 body (GB 11714)."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


def credit_code(prefix: str, serial: int, *, new_style: bool) -> str:
    """A valid 统一社会信用代码 for organisation number ``serial`` (unique per serial).

    ``prefix`` is the registration authority and type (91 company, 92 个体工商户,
    12 public institution, 54 village committee, 93 co-operative); then the 高碑店 area code,
    the 9-character organisation code (8 + GB 11714 check; ``MA…`` for codes assigned after
    2015) and the MOD 31 check character.
    """
    if new_style:
        # MA + 6 characters from the alphabet: serial scrambled bijectively mod 31**6.
        n = (serial * 7_654_321 + 12_345) % 31**6
        chars = []
        for _ in range(6):
            n, r = divmod(n, 31)
            chars.append(USCC_ALPHABET[r])
        body = "MA" + "".join(reversed(chars))
    else:
        body = f"{(serial * 7_391_537 + 10_000_019) % 10**8:08d}"
    org = body + _gb11714_check(body)
    first17 = prefix + COUNTY_AREA_CODE + org
    return first17 + uscc_check_char(first17)


def _weighted(rng: random.Random, items: Sequence[tuple[str, int]]) -> str:
    total = sum(w for _, w in items)
    x = rng.randrange(total)
    for value, weight in items:
        if x < weight:
            return value
        x -= weight
    return items[-1][0]  # pragma: no cover


class _People:
    """Draws unique persons (name, 身份证, mobile) from the county's random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_ids: set[str] = set()
        self.used_mobiles: set[str] = set()
        self.area_codes = [c for c, _ in AREA_CODES]
        self.area_cum: list[int] = []
        total = 0
        for _, w in AREA_CODES:
            total += w
            self.area_cum.append(total)
        self.first_birth = dt.date(1940, 1, 1).toordinal()
        self.last_birth = dt.date(2004, 12, 31).toordinal()

    def surname(self) -> str:
        return self.rng.choices(_SURNAME_CHARS, cum_weights=_SURNAME_CUM)[0]

    def person(self) -> tuple[str, str, dt.date]:
        """(name, 身份证 number, birth date) of a new, unique person."""
        rng = self.rng
        male = rng.random() < 0.5
        year = int(rng.triangular(1940, 2005, 1968))
        born = dt.date.fromordinal(
            rng.randint(dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal())
        )
        born = min(max(born, dt.date(1940, 1, 1)), dt.date(2004, 12, 31))
        old = year < 1975
        pool = (MALE_OLD if old else MALE_NEW) if male else (FEMALE_OLD if old else FEMALE_NEW)
        given = rng.choice(pool)
        if rng.random() < 0.8:
            second = rng.choice(pool)
            if second == given and male:  # 叠字 names are mostly girls' names
                second = rng.choice(pool)
            given += second
        area = rng.choices(self.area_codes, cum_weights=self.area_cum)[0]
        stem = f"{area}{born:%Y%m%d}"
        while True:
            seq = rng.randrange(500) * 2 + (1 if male else 0)  # odd = male (GB 11643)
            first17 = f"{stem}{seq:03d}"
            if first17 not in self.used_ids:
                break
        self.used_ids.add(first17)
        return self.surname() + given, first17 + id_check_char(first17), born

    def name(self) -> str:
        """A contact person's name (not registered as a customer)."""
        rng = self.rng
        pool = rng.choice((MALE_OLD, MALE_NEW, FEMALE_OLD, FEMALE_NEW))
        given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.75 else "")
        return self.surname() + given

    def mobile(self) -> str:
        rng = self.rng
        while True:
            value = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
            if value not in self.used_mobiles:
                self.used_mobiles.add(value)
                return value


@dataclass(slots=True)
class _Place:
    """Where a 台区 is: its area type, town/subdistrict, village or estate and street."""

    area_type: str
    town: str
    village: str  # village (rural) or estate / street (urban)
    street: str  # village street, or urban road
    estate: bool  # urban: a residential estate with buildings (else an old street)
    coords: tuple[float, float]
    ordinal: int = 1  # number of the 台区 within its village / estate / street


def _unique(name: str, used: set[str], variants: Sequence[str]) -> str:
    if name not in used:
        used.add(name)
        return name
    for variant in variants:
        candidate = name + variant
        if candidate not in used:
            used.add(candidate)
            return candidate
    n = 2
    while f"{name}{n}" in used:
        n += 1
    used.add(f"{name}{n}")
    return f"{name}{n}"


def _split(total: int, parts: int, rng: random.Random, spread: float) -> list[int]:
    """Split ``total`` into ``parts`` positive-ish integers around the mean (± ``spread``)."""
    weights = [rng.uniform(1 - spread, 1 + spread) for _ in range(parts)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    remainders = sorted(range(parts), key=lambda i: (sizes[i] - weights[i] * scale, i))
    for i in remainders[: total - sum(sizes)]:
        sizes[i] += 1
    return sizes


# --- topology -----------------------------------------------------------------------------


def _topology(county: County, n_customers: int, rng: random.Random) -> list[_Place]:
    """Substations, feeders and 台区 (with their customer counts) and where each 台区 is."""
    n_subs = max(3, round(n_customers / 40_000))
    n_feeders = max(10, round(n_customers / 2_500))
    n_trans = max(1, round(n_customers / 80))

    # Area types of the 台区 in layout order: urban, rural, remote.
    n_urban = round(n_trans * AREA_MIX[0][1])
    n_remote = round(n_trans * AREA_MIX[2][1])
    n_rural = n_trans - n_urban - n_remote
    area_types = ["urban"] * n_urban + ["rural"] * n_rural + ["remote"] * n_remote
    feeder_of = [t * n_feeders // n_trans for t in range(n_trans)]
    substation_of = [f * n_subs // n_feeders for f in range(n_feeders)]

    # Area type and town of each feeder (the type of its first 台区; towns round-robin).
    feeder_area = ["rural"] * n_feeders
    for t in reversed(range(n_trans)):
        feeder_area[feeder_of[t]] = area_types[t]
    town_order = list(TOWNS)
    rng.shuffle(town_order)
    feeder_town: list[tuple[str, str]] = []
    rural_seen = 0
    for f in range(n_feeders):
        if feeder_area[f] == "urban":
            feeder_town.append((rng.choice(URBAN_SUBDISTRICTS), "城区"))
        else:
            feeder_town.append(town_order[rural_seen % len(town_order)])
            rural_seen += 1

    used_sub_names: set[str] = set()
    urban_names = iter(URBAN_SUBSTATION_NAMES)
    for s in range(n_subs):
        first_feeder = substation_of.index(s)
        if feeder_area[first_feeder] == "urban" or s == 0:
            base = next(urban_names, "城关")
            kv = 110
        else:
            base = feeder_town[first_feeder][1]
            kv = 35 if s % 2 == 0 else 110
        base = _unique(base, used_sub_names, ("二", "三", "四", "五"))
        county.substations.append(
            SubstationRow(code=f"BDZ{s + 1:03d}", name=f"{base}{kv}kV变电站", voltage_kv=kv)
        )

    used_feeder_names: set[str] = set()
    urban_feeder_names = list(URBAN_FEEDER_NAMES)
    rng.shuffle(urban_feeder_names)
    urban_i = 0
    for f in range(n_feeders):
        if feeder_area[f] == "urban":
            base = urban_feeder_names[urban_i % len(urban_feeder_names)]
            urban_i += 1
        else:
            base = feeder_town[f][1] + rng.choice(FEEDER_SUFFIXES)
        base = _unique(base, used_feeder_names, ROMAN[1:])
        county.feeders.append(
            FeederRow(code=f"XL{f + 1:04d}", name=f"10kV {base}线", substation=substation_of[f])
        )

    # Places: urban 台区 on estates (several 台区 per estate) or old streets; rural 台区 in
    # villages of the feeder's town (1–5 台区 per village, one village street each).
    sizes = _split(n_customers, n_trans, rng, 0.25)
    estates = [p + s for p in ESTATE_PREFIXES for s in ESTATE_SUFFIXES]
    rng.shuffle(estates)
    used_villages: set[str] = set()
    used_estates: set[str] = set()
    places: list[_Place] = []
    current: _Place | None = None
    left_in_place = 0
    place_counter = 0
    estate_i = 0
    town_centers: dict[str, tuple[float, float]] = {}
    for t in range(n_trans):
        area = area_types[t]
        town = feeder_town[feeder_of[t]][0]
        if current is None or left_in_place == 0 or current.area_type != area or current.town != town:
            place_counter = 0
            if town not in town_centers:
                radius = 0.02 if area == "urban" else 0.16
                town_centers[town] = (
                    CENTER_LAT + rng.uniform(-radius, radius),
                    CENTER_LON + rng.uniform(-radius, radius),
                )
            tlat, tlon = town_centers[town]
            if area == "urban":
                road = rng.choice(URBAN_STREETS)
                if rng.random() < 0.8:
                    estate = estates[estate_i % len(estates)]
                    estate_i += 1
                    estate = _unique(estate, used_estates, PHASES[1:])
                    current = _Place(area, town, estate, road, True, (tlat, tlon))
                    left_in_place = rng.randint(2, 6)
                else:
                    current = _Place(area, town, road, road, False, (tlat, tlon))
                    left_in_place = rng.randint(1, 3)
            else:
                while True:
                    if rng.random() < 0.5:
                        village = rng.choice(VILLAGE_FIRST) + rng.choice(VILLAGE_PLACE) + "村"
                    else:
                        village = _SURNAME_CHARS[rng.randrange(30)] + rng.choice(SURNAME_PLACE) + "村"
                    if town + village not in used_villages:
                        used_villages.add(town + village)
                        break
                spread = 0.05 if area == "rural" else 0.08
                coords = (tlat + rng.uniform(-spread, spread), tlon + rng.uniform(-spread, spread))
                current = _Place(area, town, village, "", False, coords)
                left_in_place = rng.choices((1, 2, 3, 4, 5), weights=(30, 30, 20, 12, 8))[0]
        place_counter += 1
        left_in_place -= 1
        if area != "urban":
            street = VILLAGE_STREETS[(place_counter - 1) % len(VILLAGE_STREETS)]
            place = _Place(area, town, current.village, street, False, current.coords, place_counter)
            location = f"{PROVINCE_CITY}{town}{current.village}{street}"
        else:
            place = _Place(
                area, town, current.village, current.street, current.estate, current.coords, place_counter
            )
            location = f"{PROVINCE_CITY}{town}{current.street}{current.village if current.estate else ''}"
        places.append(place)
        name = f"{current.village}{place_counter}号台区"
        per_customer = {"urban": 6.0, "rural": 4.0, "remote": 2.5}[area]
        need = sizes[t] * per_customer
        i = next(
            (k for k, c in enumerate(TRANSFORMER_CAPACITIES) if c >= need), len(TRANSFORMER_CAPACITIES) - 1
        )
        i = min(max(i + rng.choice((-1, 0, 0, 0, 1)), 0), len(TRANSFORMER_CAPACITIES) - 1)
        county.transformers.append(
            TransformerRow(
                code=f"TQ{t + 1:06d}",
                name=name,
                feeder=feeder_of[t],
                capacity_kva=TRANSFORMER_CAPACITIES[i],
                area_type=area,
                location=location,
                customers=sizes[t],
            )
        )
    return places


# --- customers and accounts ---------------------------------------------------------------


def _opened_on(rng: random.Random, area: str, born: dt.date | None) -> dt.date:
    """立户 date: 1995–2025, urban later, a rural wave in the 1998–2002 grid upgrade."""
    if area == "urban":
        year = int(rng.triangular(1995, 2026, 2016))
    elif rng.random() < 0.4:
        year = rng.randint(1998, 2002)
    else:
        year = rng.randint(1995, 2025)
    year = min(year, 2025)
    day = dt.date.fromordinal(rng.randint(dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal()))
    if born is not None:
        adult = dt.date(born.year + 18, born.month, min(born.day, 28))
        day = max(day, adult)
    return min(max(day, FIRST_OPENED), LAST_OPENED)


def _pick_capacity(rng: random.Random, choices: Sequence[int]) -> Decimal:
    return Decimal(rng.choice(choices))


def generate_county(customers: int, seed: int) -> County:
    """The demo county with ``customers`` customers, fully determined by ``seed``."""
    if customers < 1:
        raise ValueError("customers must be >= 1")
    rng = random.Random(seed)
    county = County(seed=seed)
    places = _topology(county, customers, rng)
    people = _People(rng)
    org_serial = 0
    used_org_names: set[str] = set()

    def new_org_code(prefix: str, opened: dt.date) -> str:
        nonlocal org_serial
        org_serial += 1
        return credit_code(prefix, org_serial, new_style=opened.year >= 2016)

    road_numbers: dict[str, int] = {}

    def next_no(road: str) -> int:
        """Next free house number on an urban road or industrial-zone road."""
        road_numbers[road] = road_numbers.get(road, 0) + 1
        return road_numbers[road]

    def org_name(base: str) -> str:
        return _unique(base, used_org_names, ("分公司", "二部", "三部"))

    used_transformer_names = {tr.name for tr in county.transformers}
    n_dedicated = 0

    def dedicated_transformer(public: TransformerRow, name: str, location: str, capacity: int) -> int:
        """Add a 专变 next to public 台区 ``public``; return its index in the transformers."""
        nonlocal n_dedicated
        n_dedicated += 1
        county.transformers.append(
            TransformerRow(
                code=f"ZB{n_dedicated:05d}",
                name=_unique(name, used_transformer_names, ()),
                feeder=public.feeder,
                capacity_kva=capacity,
                area_type=public.area_type,
                location=location,
                customers=1,
                is_dedicated=True,
            )
        )
        return len(county.transformers) - 1

    n_public = len(county.transformers)  # 专变 are appended behind the public 台区
    for t in range(n_public):
        tr = county.transformers[t]
        place = places[t]
        area = tr.area_type
        weights = CATEGORY_WEIGHTS[area]
        tlat, tlon = place.coords
        # Positions inside an estate: building, unit, floor, room filled in order.
        first_building = (place.ordinal - 1) * 4 + 1  # about 4 buildings per estate 台区
        house = 0
        on_dedicated = 0  # 大工业 customers of this 台区: on their own 专变 instead
        for _k in range(tr.customers):
            category = _weighted(rng, weights)
            if place.estate and category in (AGRI_PERSON, AGRI_COOP):
                category = SHOP_IND
            born: dt.date | None = None
            # Address of the service point.
            if category in (RES, SHOP_PERSON) or (category == SHARED and not place.estate):
                house += 1
                if area == "urban" and place.estate:
                    per_building = 3 * 6 * 2  # units × floors × rooms
                    b, rest = divmod(house - 1, per_building)
                    unit, rest = divmod(rest, 12)
                    floor, room = divmod(rest, 2)
                    address = (
                        f"{PROVINCE_CITY}{place.town}{place.street}{place.village}"
                        f"{first_building + b}号楼{unit + 1}单元"
                        f"{floor + 1}{room + 1:02d}室"
                    )
                elif area == "urban":
                    address = f"{PROVINCE_CITY}{place.town}{place.street}{next_no(place.street)}号"
                else:
                    address = f"{PROVINCE_CITY}{place.town}{place.village}{place.street}{house}号"
            elif category in (AGRI_PERSON, AGRI_COOP):
                well = next_no(place.town + place.village + "机井")
                address = (
                    f"{PROVINCE_CITY}{place.town}{place.village}{FIELDS[well % len(FIELDS)]}{well}号机井"
                )
            elif category == LARGE:
                zone = "经济开发区" if area == "urban" else f"{place.town}工业园区"
                road = rng.choice(URBAN_STREETS)
                address = f"{PROVINCE_CITY}{zone}{road}{next_no(zone + road)}号"
            elif area == "urban":
                address = f"{PROVINCE_CITY}{place.town}{place.street}{next_no(place.street)}号"
            else:
                house += 1
                address = f"{PROVINCE_CITY}{place.town}{place.village}{place.street}{house}号"

            cls = GENERAL_IC
            voltage = "380v"
            importance = ""
            prepaid_ok = True
            contact = ""
            opened_area = area
            if category in (RES, SHOP_PERSON, AGRI_PERSON):
                name, id_number, born = people.person()
                opened = _opened_on(rng, opened_area, born)
                code = None
                kind = "person"
                if category == RES:
                    cls = URBAN_RES if area == "urban" else RURAL_RES
                    voltage = "220v"
                elif category == SHOP_PERSON:
                    voltage = "220v" if rng.random() < 0.4 else "380v"
                else:
                    cls = AGRI
                    prepaid_ok = False
            else:
                kind = "organisation"
                id_number = None
                opened = _opened_on(rng, opened_area, None)
                contact = people.name()
                if category == SHARED:
                    cls = SHARED_RES
                    voltage = "220v"
                    if place.estate or area == "urban":
                        name = org_name(f"{CITY}{place.village}物业服务中心")
                        code = new_org_code("91", opened)
                    else:
                        name = org_name(f"{CITY}{place.town}{place.village}村民委员会")
                        code = new_org_code("54", opened)
                elif category == PUBLIC:
                    prepaid_ok = False
                    kind_of = rng.random()
                    if area == "urban":
                        if kind_of < 0.3:
                            base, importance, prefix = rng.choice(
                                (
                                    ("高碑店市医院", "first", "12"),
                                    ("高碑店市中医医院", "first", "12"),
                                    ("高碑店市妇幼保健院", "second", "12"),
                                    (f"{place.town}社区卫生服务中心", "second", "12"),
                                )
                            )
                        elif kind_of < 0.65:
                            base, importance, prefix = rng.choice(
                                (
                                    (f"{CITY}{place.street}小学", "second", "12"),
                                    (f"{CITY}第{rng.randint(1, 9)}中学", "second", "12"),
                                    (f"{CITY}{place.village}幼儿园", "second", "12"),
                                )
                            )
                        else:
                            base, importance, prefix = rng.choice(
                                (
                                    (f"{CITY}自来水公司{place.street}加压站", "first", "91"),
                                    (f"{CITY}污水处理厂", "second", "91"),
                                )
                            )
                    elif kind_of < 0.1:
                        base, importance, prefix = f"{CITY}{place.town}卫生院", "second", "12"
                    elif kind_of < 0.45:
                        base, importance, prefix = (f"{CITY}{place.town}{place.village}小学", "second", "12")
                    elif kind_of < 0.6:
                        base, importance, prefix = (
                            f"{CITY}{place.town}{place.village}幼儿园",
                            "second",
                            "12",
                        )
                    else:
                        base, importance, prefix = (
                            f"{CITY}{place.town}{place.village}供水站",
                            "second",
                            "54",
                        )
                    if base in used_org_names:
                        # One school / clinic / waterworks per place: the rest are shops.
                        category = SHOP_IND
                        importance = ""
                        prepaid_ok = True
                    else:
                        used_org_names.add(base)
                        name = base
                        code = new_org_code(prefix, opened)
                if category == SHOP_IND:
                    voltage = "220v" if rng.random() < 0.3 else "380v"
                    where = place.town if area == "urban" else place.town + place.village
                    if rng.random() < 0.5:
                        trade = people.surname() + "记"
                    else:
                        trade = rng.choice(SHOP_TRADE) + rng.choice(SHOP_TRADE)
                    name = org_name(f"{CITY}{where}{trade}{rng.choice(SHOP_LINES)}")
                    code = new_org_code("92", opened)
                elif category == COMPANY:
                    trade = rng.choice(SHOP_TRADE) + rng.choice(SHOP_TRADE)
                    name = org_name(f"{CITY}{trade}{rng.choice(COMPANY_LINES)}")
                    code = new_org_code("91", opened)
                elif category == AGRI_COOP:
                    cls = AGRI
                    prepaid_ok = False
                    trade = rng.choice(SHOP_TRADE) + rng.choice(SHOP_TRADE)
                    crop = rng.choice(("种植", "蔬菜种植", "果品", "苗木", "粮食种植"))
                    name = org_name(f"{CITY}{place.village}{trade}{crop}专业合作社")
                    code = new_org_code("93", opened)
                elif category == LARGE:
                    cls = LARGE_IND
                    voltage = "10kv"
                    prepaid_ok = False
                    trade = rng.choice(SHOP_TRADE) + rng.choice(SHOP_TRADE)
                    name = org_name(f"{CITY}{trade}{rng.choice(LARGE_LINES)}")
                    code = new_org_code("91", opened)
                    if rng.random() < 0.1:
                        importance = "second"

            customer_i = len(county.customers)
            county.customers.append(
                CustomerRow(
                    kind=kind,
                    name=name,
                    id_number=id_number,
                    credit_code=code,
                    mobile=people.mobile(),
                    contact_person=contact,
                    postal_address=address if kind == "person" else "",
                )
            )
            if kind == "organisation":
                county.customers[-1].postal_address = address
            if cls in RESIDENTIAL and kind == "person" and len(county.portal_customers) < 3:
                county.portal_customers.append(customer_i)
            if cls == LARGE_IND:
                on_dedicated += 1

            n_accounts = (
                2 if kind == "organisation" and cls in (GENERAL_IC, LARGE_IND) and rng.random() < 0.05 else 1
            )
            for a in range(n_accounts):
                sp_address = address if a == 0 else f"{address}（{a + 1}号计量点）"
                lat: Decimal | None = None
                lon: Decimal | None = None
                if rng.random() < 0.85:
                    lat = Decimal(f"{tlat + rng.uniform(-0.003, 0.003):.6f}")
                    lon = Decimal(f"{tlon + rng.uniform(-0.003, 0.003):.6f}")
                sp_i = len(county.service_points)
                county.service_points.append(ServicePointRow(sp_address, t, lat, lon))
                acc_opened = opened if a == 0 else _opened_on(rng, area, None)
                acc_opened = max(acc_opened, opened)
                roll = rng.random()
                status, closed, suspended = "active", None, None
                if roll < 0.012:
                    status = "closed"
                    closed = dt.date.fromordinal(rng.randint(acc_opened.toordinal(), LAST_OPENED.toordinal()))
                elif roll < 0.017:
                    status = "suspended"
                    # no extra draw (the county stays as it was): halfway to the last opening
                    suspended = dt.date.fromordinal((acc_opened.toordinal() + LAST_OPENED.toordinal()) // 2)
                account_i = len(county.accounts)
                county.accounts.append(
                    AccountRow(
                        customer=customer_i,
                        service_point=sp_i,
                        customer_class=cls,
                        voltage_level=voltage,
                        tariff_code=TARIFF_BY_CLASS[cls],
                        status=status,
                        importance=importance if a == 0 else "",
                        is_prepaid=prepaid_ok and rng.random() < 0.15,
                        opened_on=acc_opened,
                        closed_on=closed,
                        suspended_on=suspended,
                    )
                )
                if cls in RESIDENTIAL:
                    ckind, capacity = "residential", _pick_capacity(rng, RESIDENTIAL_CAPACITIES)
                elif cls == LARGE_IND:
                    # One draw: the contract capacity is also the capacity of the account's
                    # own 专变. Its service point, appended on the public 台区 above, moves
                    # there (drawn in this order, the rest of the county stays as it was).
                    ckind, capacity = "hv", _pick_capacity(rng, LARGE_CAPACITIES)
                    numbered = f"{a + 1}号" if n_accounts > 1 else ""
                    county.service_points[sp_i].transformer = dedicated_transformer(
                        tr, f"{name}{numbered}专变", sp_address, int(capacity)
                    )
                elif cls == AGRI:
                    ckind, capacity = "lv", _pick_capacity(rng, AGRI_CAPACITIES)
                else:
                    caps = GIC_CAPACITIES if not importance else (50, 80, 100, 160, 200, 250)
                    ckind, capacity = "lv", _pick_capacity(rng, caps)
                # 两部制 basic charge: by capacity, every fourth large industrial account by
                # maximum demand at 60 % of its capacity (no extra draw: the county stays as it was).
                by_demand = cls == LARGE_IND and account_i % 4 == 0
                county.contracts.append(
                    ContractRow(
                        account=account_i,
                        kind=ckind,
                        capacity_kva=capacity,
                        start_date=acc_opened,
                        end_date=closed,
                        signed_on=acc_opened,
                        status="terminated" if closed else "active",
                        basic_charge_by=("demand" if by_demand else "capacity") if cls == LARGE_IND else "",
                        contracted_demand_kw=(Decimal(capacity) * Decimal("0.6")).quantize(Decimal("0.1"))
                        if by_demand
                        else None,
                    )
                )
        tr.customers -= on_dedicated

    # 户号 and contract numbers in opening order (older accounts have lower numbers).
    order = sorted(range(len(county.accounts)), key=lambda i: (county.accounts[i].opened_on, i))
    for rank, i in enumerate(order):
        county.accounts[i].number_rank = rank
    return county
