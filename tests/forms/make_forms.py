"""Write the hand-made service-form (介绍信) fixtures of ``fixtures/forms/``, independently of fpschema.

The files are laid out as the service form of ``../shared/seeds/000_bc6a94cebe759a91.txt`` (篇一) as a county
office would type it: eight columns, names instead of codes, 一胎/二胎, the form's four reasons, dates in the
office's habits. Nothing here imports fpschema: the ID numbers, the GB/T 2260 facts and the layout come from
this script, python-stdnum (to cross-check the check digit) and ``../shared/data/gb2260/areacodes.csv``.

    python tests/forms/make_forms.py [OUT]    # CSV files always; XLSX when LibreOffice's soffice is on PATH

The output is the same on every run (fixed seed). The XLSX files are written by LibreOffice from a flat
OpenDocument sheet (``.fods``) this script makes, so that a real office suite lays out the workbook; they are
committed, and LibreOffice is not needed to run the tests.
"""

from __future__ import annotations

import csv
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl
from stdnum.cn import ric

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "fixtures" / "forms"
SEED = 20240630
REFERENCE = date(2024, 6, 30)
ROWS = 2000
XLSX_OFFSET = 2  # the XLSX has a title row and a 填报单位 row above the header: spreadsheet row = CSV line + 2

HEADERS = ["计划生育服务站(医院、保健中心)编号", "服务对象的身份证号", "客户的生育状况", "接受避孕服务的原因",
           "市(区)", "乡(镇、街道办事处)", "村", "日期"]
FIELDS = ["station_code", "client_id", "birth_status", "service_reason", "city_name", "township_name",
          "village_name", "service_date"]
REASONS = ["分娩后脱环", "带环怀孕", "结扎失败", "其他避孕措施失败"]

# County-level places and the townships an office there writes (街道 rows may leave 村 empty).
PLACES: dict[str, list[str]] = {
    "余杭区": ["仓前街道", "五常街道", "闲林街道", "良渚街道", "中泰街道", "径山镇", "黄湖镇", "鸬鸟镇", "百丈镇", "瓶窑镇"],
    "临平区": ["南苑街道", "东湖街道", "星桥街道", "临平街道", "崇贤街道", "运河街道", "塘栖镇"],
    "钱塘区": ["下沙街道", "白杨街道", "河庄街道", "义蓬街道", "新湾街道", "临江街道"],
    "桐庐县": ["桐君街道", "旧县街道", "城南街道", "分水镇", "富春江镇", "横村镇", "江南镇", "百江镇", "莪山畲族乡"],
    "建德市": ["新安江街道", "洋溪街道", "更楼街道", "梅城镇", "寿昌镇", "乾潭镇", "大同镇", "李家镇"],
    "淳安县": ["千岛湖镇", "文昌镇", "石林镇", "威坪镇", "姜家镇", "王阜乡"],
    "萧山区": ["城厢街道", "北干街道", "新塘街道", "瓜沥镇", "义桥镇", "戴村镇", "河上镇"],
    "富阳区": ["富春街道", "东洲街道", "银湖街道", "场口镇", "新登镇", "万市镇"],
    "临安区": ["锦城街道", "青山湖街道", "於潜镇", "昌化镇", "太湖源镇", "天目山镇"],
    "滨江区": ["西兴街道", "长河街道", "浦沿街道"],
    "拱墅区": ["米市巷街道", "湖墅街道", "祥符街道", "半山街道"],
    "海淀区": ["海淀街道", "学院路街道", "上庄镇", "苏家坨镇"],
    "昌平区": ["城北街道", "回龙观街道", "小汤山镇", "南口镇"],
    "浦东新区": ["陆家嘴街道", "花木街道", "川沙新镇", "惠南镇"],
    "闵行区": ["江川路街道", "莘庄镇", "七宝镇", "马桥镇"],
    "武侯区": ["浆洗街街道", "簇桥街道", "机投桥街道"],
    "雁塔区": ["小寨路街道", "电子城街道", "鱼化寨街道"],
    "江宁区": ["东山街道", "秣陵街道", "湖熟街道", "横溪街道"],
    "天河区": ["石牌街道", "棠下街道", "龙洞街道"],
}
CITY_WEIGHTS = {"余杭区": 30, "临平区": 14, "钱塘区": 10, "桐庐县": 8, "建德市": 7, "淳安县": 5, "萧山区": 6,
                "富阳区": 4, "临安区": 4, "滨江区": 3, "拱墅区": 3, "海淀区": 1, "昌平区": 1, "浦东新区": 1,
                "闵行区": 1, "武侯区": 1, "雁塔区": 1, "江宁区": 1, "天河区": 1}
NEW_2021 = {"临平区", "钱塘区"}  # services there are dated 2022 on (the districts were set up in 2021)
VILLAGES = ["东风村", "红星村", "新桥村", "塘北村", "丁河村", "超山村", "五星村", "联盟村", "前进村", "胜利村", "双溪村",
            "青山村", "下塘村", "洪桥村", "里山村", "西河村", "南庄村", "民主村", "永兴村", "横塘村"]
COMMUNITIES = ["星光社区", "东湖社区", "景星社区", "兴中社区", "银杏社区", "文苑社区", "和睦社区", "藕花洲社区"]
# ID address codes retired since, with people born while they were in use.
RETIRED = ["330104", "330103", "330184", "330125", "330124", "110103", "110104", "320103", "440102"]
NEW_CODES = ["330113", "330114"]
FOREIGN = [("33", "840"), ("33", "392"), ("31", "410"), ("11", "276"), ("44", "250")]
NEVER_CODES = ["330199", "110999", "449999"]  # first two digits a province, the six never a GB/T 2260 code
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


# ------------------------------------------------------------------------------------------ GB/T 2260


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str
    start: int
    end: int | None  # the year it was abolished or renamed, None while in use


def divisions() -> list[Division]:
    frame = pl.read_csv(DATA / "gb2260" / "areacodes.csv", infer_schema=False, encoding="utf8-lossy")
    frame = frame.rename({frame.columns[0]: "代码"})
    return [Division(c, n, lv, int(s), int(e) if e else None)
            for c, n, lv, s, e in frame.select("代码", "名称", "级别", "启用时间", "变更/弃用时间").iter_rows()]


def in_use(d: Division, year: int) -> bool:
    return d.start <= year and (d.end is None or year < d.end)


def check_places(table: list[Division]) -> dict[str, str]:
    """Each county name of PLACES names exactly one division in use in 2019-2025 (else the clean file would be
    ambiguous); returns name -> code."""
    codes = {}
    for name in PLACES:
        hits = {d.code for d in table if d.name == name and any(in_use(d, y) for y in range(2019, 2026))}
        first = min((d.start for d in table if d.name == name), default=9999)
        if len(hits) != 1 or (name not in NEW_2021 and first > 2019):
            raise SystemExit(f"{name}: {sorted(hits)} in use 2019-2025; pick a name unique in those years")
        codes[name] = hits.pop()
    return codes


# ------------------------------------------------------------------------------------------ ID numbers


def check_char(body17: str) -> str:
    """ISO 7064 MOD 11-2 over 17 digits (GB 11643-1999)."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(body17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def citizen_id(region: str, born: date | str, seq: int) -> str:
    birth = born if isinstance(born, str) else born.strftime("%Y%m%d")
    body = f"{region}{birth}{seq:03d}"
    assert check_char(body) == ric.calc_check_digit(body + "?")  # python-stdnum agrees
    return body + check_char(body)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def birth_for(rng: random.Random, service: date, lo_year: int = 1900, hi_year: int = 9999,
              ages: tuple[int, int] = (18, 48)) -> date | None:
    """A birth date giving an age in ``ages`` at ``service`` and a year in [lo_year, hi_year], or None."""
    earliest = date(service.year - ages[1] - 1, service.month, min(service.day, 28)) + timedelta(days=1)
    latest = date(service.year - ages[0], service.month, min(service.day, 28))
    earliest, latest = max(earliest, date(lo_year, 1, 1)), min(latest, date(hi_year, 12, 31))
    if earliest > latest:
        return None
    born = earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))
    assert ages[0] <= age_on(born, service) <= ages[1], (born, service)
    return born


@dataclass
class People:
    rng: random.Random
    table: list[Division]

    def __post_init__(self) -> None:
        pool = sorted({d.code for d in self.table if d.level == "县级" and d.end is None and d.start <= 1981
                       and d.code[2:4] != "90" and not d.code.endswith("00")})
        self.local = [c for c in pool if c.startswith("33")]
        self.national = pool
        self.windows = {d.code: (d.start, d.end) for d in self.table if d.code in RETIRED + NEW_CODES}
        assert set(self.windows) == set(RETIRED + NEW_CODES), set(RETIRED + NEW_CODES) - set(self.windows)
        assert all(self.windows[c][1] for c in RETIRED) and not any(self.windows[c][1] for c in NEW_CODES)
        assert check_char("11010519491231002") == "X"

    def citizen(self, service: date, female: bool = True, kind: str | None = None) -> str:
        """A valid 18-digit ID of someone aged 18-48 at ``service``."""
        rng = self.rng
        kind = kind or rng.choices(["local", "national", "retired", "new"], [70, 20, 7, 3])[0]
        while True:
            if kind == "local":
                region, born = rng.choice(self.local), birth_for(rng, service)
            elif kind == "national":
                region, born = rng.choice(self.national), birth_for(rng, service)
            elif kind == "retired":
                region = rng.choice(RETIRED)
                start, end = self.windows[region]
                born = birth_for(rng, service, start, (end or 9999) - 1)
            else:  # created in 2021: registered there later in life, so young adults
                region, born = rng.choice(NEW_CODES), birth_for(rng, service, ages=(18, 25))
            if born is not None:
                break
        seq = rng.randrange(0, 500) * 2 + (0 if female else 1)
        return citizen_id(region, born, seq)

    def foreigner(self, service: date, bad_check: bool = False) -> str:
        """A 2023 外国人永久居留身份证 number: 9, province, nationality (GB/T 2659), birth date, sequence, check."""
        province, nation = self.rng.choice(FOREIGN)
        born = birth_for(self.rng, service)
        assert born is not None
        body = f"9{province}{nation}{born:%Y%m%d}{self.rng.randrange(0, 500) * 2:03d}"
        check = check_char(body)
        if bad_check:
            check = "0123456789X"[("0123456789X".index(check) + 1 + self.rng.randrange(9)) % 11]
        return body + check


# ------------------------------------------------------------------------------------------ clean rows


@dataclass(frozen=True)
class Row:
    station: str
    client_id: str
    status: str
    reason: str
    city: str
    township: str
    village: str
    day: str  # as written
    xlsx_id_number: float | None = None  # the XLSX stores the ID as a number (office damage)

    def cells(self) -> list[str]:
        return [self.station, self.client_id, self.status, self.reason, self.city, self.township, self.village,
                self.day]


def written(day: date, habit: str) -> str:
    if habit == "slash":
        return f"{day.year}/{day.month}/{day.day}"
    if habit == "cn":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def clean_rows(rng: random.Random, people: People, codes: dict[str, str]) -> list[Row]:
    cities, weights = list(CITY_WEIGHTS), list(CITY_WEIGHTS.values())
    stations = {c: [f"{codes[c]}{n:03d}" for n in rng.sample(range(1, 30), 3)] for c in PLACES}
    foreign_rows = set(rng.sample(range(ROWS), 5))
    rows = []
    for i in range(ROWS):
        city = rng.choices(cities, weights)[0]
        first = date(2022, 1, 1) if city in NEW_2021 else date(2021, 1, 1)
        day = first + timedelta(days=rng.randrange((REFERENCE - first).days + 1))
        reason = rng.choices(REASONS, [35, 25, 10, 30])[0]
        female = reason in REASONS[:2] or rng.random() < 0.8
        client = people.foreigner(day) if i in foreign_rows else people.citizen(day, female)
        status = rng.choices(["一胎", "二胎", "三胎"], [55, 40, 5])[0]
        township = rng.choice(PLACES[city])
        if township.endswith("街道"):
            village = "" if rng.random() < 0.3 else rng.choice(COMMUNITIES)
        else:
            village = rng.choice(VILLAGES)
        habit = rng.choices(["iso", "slash", "cn"], [80, 12, 8])[0]
        rows.append(Row(rng.choice(stations[city]), client, status, reason, city, township, village,
                        written(day, habit)))
    return rows


# ------------------------------------------------------------------------------------------ defects


def service_day(row: Row) -> date:
    text = row.day.replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-")
    y, m, d = map(int, text.split("-"))
    return date(y, m, d)


def inject(rng: random.Random, people: People, table: list[Division], rows: list[Row]
           ) -> tuple[list[Row], list[tuple[int, str, str]], tuple[int, str, str]]:
    """The clean rows with hand-chosen defects, one per row; (rows, expected for CSV, the XLSX-only case)."""
    names = {d.name for d in table}
    for name in ("不存在区", "望江区"):
        assert name not in names, name
    assert len({d.code for d in table if d.name == "朝阳区" and in_use(d, 2023)}) == 2
    codes = {d.code for d in table}
    assert not set(NEVER_CODES) & codes

    plain = [i for i, r in enumerate(rows) if not r.client_id.startswith("9")]
    picks = iter(rng.sample(plain, 60))
    out = list(rows)
    expected: list[tuple[int, str, str]] = []

    def put(field: str, rule: str, **change: object) -> int:
        i = next(picks)
        out[i] = replace(out[i], **change)
        expected.append((i + 2, field, rule))
        return i

    def fresh(i: int, **kw: object) -> str:
        return people.citizen(service_day(out[i]), **kw)

    for _ in range(3):  # wrong check digit (never ending in 000, which reads as spreadsheet damage)
        i = put("client_id", "id.checksum")
        good = fresh(i, kind="local")
        wrong = next(c for c in "0123456789X" if c != good[-1] and not (good[-3:-1] + c).endswith("000"))
        out[i] = replace(out[i], client_id=good[:-1] + wrong)
    for _ in range(3):  # 17 digits: the check digit left off
        i = put("client_id", "id.format")
        out[i] = replace(out[i], client_id=fresh(i, kind="local")[:-1])
    for digits in (11, 11, 5):  # saved from a spreadsheet that showed the number in scientific notation
        i = put("client_id", "id.excel_scientific")
        number = fresh(i, kind="local")
        while number.endswith("X"):
            number = fresh(i, kind="local")
        out[i] = replace(out[i], client_id=f"{int(number):.{digits}E}")
    for birth in ("19900231", "19870229", "19921315"):  # a birth date no calendar has
        i = put("client_id", "id.birth_date")
        out[i] = replace(out[i], client_id=citizen_id(rng.choice(people.local), birth, rng.randrange(500) * 2))
    for region in NEVER_CODES:  # a first six digits that never were a division code (check digit right)
        i = put("client_id", "id.region")
        body = region + fresh(i)[6:17]
        out[i] = replace(out[i], client_id=body + check_char(body))
    for how in ("lower", "lower", "wide", "wide"):  # warnings only: the row stays valid
        i = put("client_id", "id.normalized")
        number = fresh(i)
        while how == "lower" and not number.endswith("X"):
            number = fresh(i)
        out[i] = replace(out[i], client_id=number.lower() if how == "lower" else number.translate(FULL_WIDTH))
    for _ in range(2):
        put("birth_status", "field.code", status="四胎")
    for reason in ("想换方法", "取环"):
        put("service_reason", "field.code", reason=reason)
    for day in ("2023-02-30", "2022-04-31"):
        put("service_date", "field.date", day=day)
    for day in ("2025-01-05", "2024-12-18"):  # after the reference date 2024-06-30
        i = put("service_date", "date.future", day=day)
        out[i] = replace(out[i], client_id=fresh(i, kind="local"))
    for name in ("不存在区", "望江区"):
        put("city_name", "division.name_unknown", city=name)
    for _ in range(2):  # a warning: 北京市朝阳区 110105 and 长春市朝阳区 220104
        put("city_name", "division.name_ambiguous", city="朝阳区", township="建外街道", village="永安里社区")
    for day in ("2019-05-20", "2019-11-08"):  # 临平区 was set up in 2021
        i = put("city_name", "division.name_unknown", city="临平区", township="塘栖镇", village="丁河村", day=day,
                station="330113005")
        out[i] = replace(out[i], client_id=fresh(i, kind="local"))
    for _ in range(2):
        put("client_id", "field.required", client_id="")
    for station in ("余杭卫生院01", "330110第一站"):
        put("station_code", "field.pattern", station=station)
    for _ in range(2):  # a permanent-residence ID with a wrong check digit
        i = put("client_id", "fpr.checksum")
        out[i] = replace(out[i], client_id=people.foreigner(service_day(out[i]), bad_check=True))

    # XLSX only: an ID typed into a number cell keeps 15 significant digits (Excel's precision)
    i = next(picks)
    while not out[i].client_id.isdigit():
        i = next(picks)
    out[i] = replace(out[i], xlsx_id_number=float(int(out[i].client_id[:15]) * 1000))
    return out, sorted(expected), (i + 2 + XLSX_OFFSET, "client_id", "id.excel_scientific")


# ------------------------------------------------------------------------------------------ writers


def write_csv(path: Path, rows: list[Row], encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh, lineterminator="\r\n")
        out.writerow(HEADERS)
        out.writerows(r.cells() for r in rows)


def write_expected(path: Path, expected: list[tuple[int, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["row", "column", "rule"])
        out.writerows(sorted(expected))


FODS_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:automatic-styles>
 <number:date-style style:name="Niso"><number:year number:style="long"/><number:text>-</number:text>
  <number:month number:style="long"/><number:text>-</number:text><number:day number:style="long"/></number:date-style>
 <number:date-style style:name="Nslash"><number:year number:style="long"/><number:text>/</number:text>
  <number:month/><number:text>/</number:text><number:day/></number:date-style>
 <number:text-style style:name="Ntext"><number:text-content/></number:text-style>
 <style:style style:name="iso" style:family="table-cell" style:data-style-name="Niso"/>
 <style:style style:name="slash" style:family="table-cell" style:data-style-name="Nslash"/>
 <style:style style:name="txt" style:family="table-cell" style:data-style-name="Ntext"/>
 <style:style style:name="title" style:family="table-cell">
  <style:text-properties fo:font-size="16pt" fo:font-weight="bold"/></style:style>
 <style:style style:name="head" style:family="table-cell"><style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="wide" style:family="table-column"><style:table-column-properties style:column-width="4.2cm"/></style:style>
 <style:style style:name="narrow" style:family="table-column"><style:table-column-properties style:column-width="2.6cm"/></style:style>
</office:automatic-styles>
<office:body><office:spreadsheet>
<table:table table:name="介绍信登记">
 <table:table-column table:style-name="wide"/>
 <table:table-column table:style-name="wide" table:default-cell-style-name="txt"/>
 <table:table-column table:style-name="narrow" table:number-columns-repeated="6"/>
"""
FODS_TAIL = "</table:table>\n</office:spreadsheet></office:body></office:document>\n"


def _text(value: str, style: str = "") -> str:
    if not value:
        return "<table:table-cell/>"
    attr = f' table:style-name="{style}"' if style else ""
    return f'<table:table-cell{attr} office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'


def _number(value: float) -> str:
    return (f'<table:table-cell office:value-type="float" office:value="{value:.0f}">'
            f"<text:p>{value:.15G}</text:p></table:table-cell>")


def _date_cell(text: str) -> str:
    """Valid ISO and slash dates as date cells (an office suite converts what it can read as a date);
    2023年4月19日 and impossible dates as the text that was typed."""
    if "年" in text:
        return _text(text)
    try:
        y, m, d = map(int, text.replace("/", "-").split("-"))
        day = date(y, m, d)
    except ValueError:
        return _text(text)
    style = "slash" if "/" in text else "iso"
    return (f'<table:table-cell table:style-name="{style}" office:value-type="date" '
            f'office:date-value="{day.isoformat()}"><text:p>{escape(text)}</text:p></table:table-cell>')


def fods(rows: list[Row]) -> str:
    parts = [FODS_HEAD,
             '<table:table-row><table:table-cell table:style-name="title" table:number-columns-spanned="8" '
             'office:value-type="string"><text:p>计划生育技术服务介绍信登记表</text:p></table:table-cell>'
             '<table:covered-table-cell table:number-columns-repeated="7"/></table:table-row>\n',
             "<table:table-row>" + _text("填报单位：杭州市余杭区卫生健康局（盖章）") + "<table:table-cell "
             'table:number-columns-repeated="4"/>' + _text("填报日期：2024年7月1日")
             + '<table:table-cell table:number-columns-repeated="2"/></table:table-row>\n',
             "<table:table-row>" + "".join(_text(h, "head") for h in HEADERS) + "</table:table-row>\n"]
    for r in rows:
        station = _number(float(r.station)) if r.station.isdigit() else _text(r.station)
        client = _number(r.xlsx_id_number) if r.xlsx_id_number is not None else _text(r.client_id, "txt")
        cells = [station, client, *(_text(v) for v in (r.status, r.reason, r.city, r.township, r.village)),
                 _date_cell(r.day)]
        parts.append("<table:table-row>" + "".join(cells) + "</table:table-row>\n")
    parts.append("<table:table-row>" + _text("合计", "head") + _number(float(len(rows)))
                 + '<table:table-cell table:number-columns-repeated="6"/></table:table-row>\n')
    parts.append(FODS_TAIL)
    return "".join(parts)


def write_xlsx(path: Path, rows: list[Row]) -> bool:
    soffice = shutil.which("soffice")
    if soffice is None:
        print(f"soffice not found: {path.name} left as committed", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / (path.stem + ".fods")
        source.write_text(fods(rows), encoding="utf-8")
        subprocess.run([soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to",
                        "xlsx:Calc MS Excel 2007 XML", "--outdir", tmp, str(source)],
                       check=True, capture_output=True)
        shutil.move(Path(tmp) / (path.stem + ".xlsx"), path)
    return True


# ------------------------------------------------------------------------------------------ full layout

FULL_HEADERS = ["记录编号", "服务站编号", "身份证件类别", "服务对象身份证号", "服务对象姓名", "性别", "出生日期", "生育状况",
                "现有子女数", "接受避孕服务的原因", "避孕方法", "服务项目", "有宫内节育器史", "有绝育手术史", "市(区)代码",
                "市(区)", "乡(镇、街道办事处)代码", "乡(镇、街道办事处)", "村代码", "村", "服务日期", "出具单位",
                "农村育龄夫妻", "收费金额(元)"]
# Typed by hand: record, station, name, sex, born, ID region and sequence, status, children, reason, method,
# procedure, IUD history, sterilisation history, county code and name, township, village, date, rural, fee.
FULL_ROWS = [
    ("A0001", "330110001", "王秀英", "女", "1990-03-07", "330110", "062", "一胎", 1, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "330110", "余杭区", "330110005", "仓前街道", "330110005003", "连具塘社区", "2023-04-19", "是", 0),
    ("A0002", "330110001", "李娟", "女", "1988-11-23", "330110", "124", "二胎", 2, "带环怀孕", "宫内节育器", "负压吸引术", "是", "否", "330110", "余杭区", "330110005", "仓前街道", "330110005201", "葛巷村", "2023-05-06", "是", 0),
    ("A0003", "330110002", "陈丽", "女", "1993-06-14", "330102", "046", "一胎", 1, "其他避孕措施失败", "口服及注射避孕药", "药物流产", "否", "否", "330110", "余杭区", "330110008", "五常街道", "330110008004", "五常社区", "2023-06-02", "否", 380),
    ("A0004", "330110002", "张敏", "女", "1985-01-30", "330106", "028", "二胎", 2, "结扎失败", "女性绝育", "负压吸引术", "否", "是", "330110", "余杭区", "330110008", "五常街道", "330110008202", "友谊村", "2022-09-15", "是", 0),
    ("A0005", "330110003", "刘伟", "男", "1984-08-09", "330110", "115", "二胎", 2, "结扎失败", "男性绝育", "输精管吻合术", "否", "是", "330110", "余杭区", "330110104", "径山镇", "330110104210", "径山村", "2022-03-21", "否", 1500),
    ("A0006", "330122001", "方芳", "女", "1995-12-01", "330122", "044", "一胎", 1, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "330122", "桐庐县", "330122101", "分水镇", "330122101204", "后岩村", "2023-02-17", "是", 0),
    ("A0007", "330122001", "俞红", "女", "1987-07-19", "330122", "066", "二胎", 2, "带环怀孕", "宫内节育器", "取出宫内节育器", "是", "否", "330122", "桐庐县", "330122101", "分水镇", "330122101210", "儒桥村", "2023-08-30", "是", 0),
    ("A0008", "330122002", "申屠丽", "女", "1991-04-26", "330122", "102", "一胎", 1, "其他避孕措施失败", "避孕套", "负压吸引术", "否", "否", "330122", "桐庐县", "330122001", "桐君街道", "330122001002", "白云源社区", "2021-11-11", "否", 350),
    ("A0009", "330182001", "何静", "女", "1983-02-05", "330182", "080", "二胎", 2, "分娩后脱环", "皮下埋植", "放置皮下埋植", "是", "否", "330182", "建德市", "330182101", "梅城镇", "330182101203", "千鹤村", "2022-06-08", "是", 0),
    ("A0010", "330182001", "邵建国", "男", "1980-10-12", "330182", "051", "三胎", 3, "其他避孕措施失败", "男性绝育", "输精管绝育", "否", "否", "330182", "建德市", "330182101", "梅城镇", "330182101206", "龙泉村", "2022-12-01", "是", 0),
    ("A0011", "330182002", "徐燕", "女", "1992-09-03", "330182", "126", "一胎", 1, "带环怀孕", "宫内节育器", "钳刮术", "是", "否", "330182", "建德市", "330182002", "洋溪街道", "330182002001", "新安社区", "2024-01-09", "否", 600),
    ("A0012", "330127001", "汪小梅", "女", "1989-05-22", "330127", "088", "二胎", 2, "结扎失败", "女性绝育", "输卵管吻合术", "否", "是", "330127", "淳安县", "330127100", "千岛湖镇", "330127100001", "坪山社区", "2023-03-28", "否", 2800),
    ("A0013", "330127001", "余丽君", "女", "1994-01-15", "330127", "020", "一胎", 1, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "330127", "淳安县", "330127100", "千岛湖镇", "330127100205", "宋村", "2023-10-10", "是", 0),
    ("A0014", "330109003", "沈佳", "女", "1990-08-30", "330109", "146", "一胎", 1, "其他避孕措施失败", "外用药", "药物流产", "否", "否", "330109", "萧山区", "330109001", "城厢街道", "330109001003", "湖头陈社区", "2022-07-19", "否", 300),
    ("A0015", "330109003", "韩梅", "女", "1986-03-11", "330109", "168", "二胎", 2, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "330109", "萧山区", "330109109", "瓜沥镇", "330109109215", "长巷村", "2021-09-23", "是", 0),
    ("A0016", "330111001", "蒋露", "女", "1997-02-19", "330111", "042", "一胎", 1, "带环怀孕", "宫内节育器", "负压吸引术", "是", "否", "330111", "富阳区", "330111002", "东洲街道", "330111002201", "黄公望村", "2024-02-26", "是", 0),
    ("A0017", "330111001", "孙红霞", "女", "1982-12-24", "330111", "064", "三胎", 3, "结扎失败", "女性绝育", "负压吸引术", "否", "是", "330111", "富阳区", "330111101", "场口镇", "330111101203", "东梓关村", "2023-07-07", "是", 0),
    ("A0018", "330112001", "章悦", "女", "1996-06-06", "330112", "086", "一胎", 1, "其他避孕措施失败", "避孕套", "药物流产", "否", "否", "330112", "临安区", "330112001", "锦城街道", "330112001006", "石镜社区", "2023-09-14", "否", 320),
    ("A0019", "330112001", "吴国强", "男", "1978-04-17", "330112", "113", "二胎", 2, "其他避孕措施失败", "男性绝育", "输精管绝育", "否", "否", "330112", "临安区", "330112102", "於潜镇", "330112102210", "光明村", "2022-04-02", "是", 0),
    ("A0020", "330108001", "赵倩", "女", "1991-10-28", "330108", "028", "一胎", 1, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "330108", "滨江区", "330108001", "西兴街道", "330108001010", "江三社区", "2024-03-12", "否", 0),
    ("A0021", "110108001", "杨静", "女", "1989-09-09", "110108", "140", "二胎", 2, "带环怀孕", "宫内节育器", "取出宫内节育器", "是", "否", "110108", "海淀区", "110108001", "万寿路街道", "110108001002", "翠微路社区", "2023-01-16", "否", 150),
    ("A0022", "110108001", "周楠", "女", "1994-07-02", "110105", "022", "一胎", 1, "其他避孕措施失败", "口服及注射避孕药", "负压吸引术", "否", "否", "110108", "海淀区", "110108001", "万寿路街道", "110108001005", "复兴路社区", "2023-12-20", "否", 800),
    ("A0023", "310112001", "朱琳", "女", "1988-02-14", "310112", "048", "二胎", 2, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "310112", "闵行区", "310112102", "七宝镇", "310112102005", "七宝村", "2022-11-29", "否", 0),
    ("A0024", "310112001", "马莉", "女", "1993-05-05", "310112", "066", "一胎", 1, "结扎失败", "女性绝育", "负压吸引术", "否", "是", "310112", "闵行区", "310112102", "七宝镇", "310112102007", "联明村", "2024-05-15", "否", 900),
    ("A0025", "510107001", "罗婷", "女", "1990-12-12", "510107", "102", "一胎", 1, "带环怀孕", "宫内节育器", "负压吸引术", "是", "否", "510107", "武侯区", "510107005", "浆洗街街道", "510107005001", "蜀汉路社区", "2023-06-30", "否", 420),
    ("A0026", "510107001", "唐晓兰", "女", "1984-03-03", "513029", "084", "二胎", 2, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "510107", "武侯区", "510107005", "浆洗街街道", "510107005003", "锦里社区", "2021-05-18", "是", 0),
    ("A0027", "610113001", "高雅", "女", "1992-08-08", "610113", "024", "一胎", 1, "其他避孕措施失败", "皮下埋植", "放置皮下埋植", "否", "否", "610113", "雁塔区", "610113001", "小寨路街道", "610113001004", "大雁塔社区", "2022-10-26", "否", 0),
    ("A0028", "610113001", "郭鹏", "男", "1979-11-30", "610113", "139", "二胎", 2, "结扎失败", "男性绝育", "输精管吻合术", "否", "是", "610113", "雁塔区", "610113001", "小寨路街道", "610113001006", "西影路社区", "2023-11-03", "否", 2000),
    ("A0029", "320115001", "潘雪", "女", "1995-04-04", "320115", "068", "一胎", 1, "分娩后脱环", "宫内节育器", "放置宫内节育器", "是", "否", "320115", "江宁区", "320115002", "东山街道", "320115002003", "竹山社区", "2024-04-01", "是", 0),
    ("A0030", "440106001", "黄小红", "女", "1987-06-21", "440106", "124", "二胎", 2, "带环怀孕", "宫内节育器", "取出宫内节育器", "是", "否", "440106", "天河区", "440106002", "石牌街道", "440106002001", "华师社区", "2022-08-16", "否", 100),
]


def full_rows() -> list[list[str]]:
    rows = []
    for (rec, station, name, sex, born, region, seq, status, children, reason, method, procedure, iud, steril,
         city_code, city, t_code, township, v_code, village, day, rural, fee) in FULL_ROWS:
        assert (int(seq) % 2 == 1) == (sex == "男") and t_code.startswith(city_code) and v_code.startswith(t_code)
        number = citizen_id(region, born.replace("-", ""), int(seq))
        rows.append([rec, station, "居民身份证", number, name, sex, born, status, str(children), reason, method,
                     procedure, iud, steril, city_code, city, t_code, township, v_code, village, day,
                     f"{township}计划生育办公室", rural, str(fee)])
    return rows


# ------------------------------------------------------------------------------------------ main


def main(out: Path = OUT, xlsx: bool = True) -> None:
    """Write every file of ``fixtures/forms/`` (the XLSX files only with ``xlsx`` and LibreOffice present)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    table = divisions()
    codes = check_places(table)
    people = People(rng, table)
    clean = clean_rows(rng, people, codes)
    defects, expected, xlsx_only = inject(rng, people, table, clean)

    write_csv(out / "介绍信_clean.csv", clean, "utf-8-sig")
    write_csv(out / "介绍信_clean_gb18030.csv", clean, "gb18030")
    write_csv(out / "介绍信_defects.csv", defects, "utf-8-sig")
    write_csv(out / "介绍信_defects_gb18030.csv", defects, "gb18030")
    write_expected(out / "介绍信_defects.expected.csv", expected)
    write_expected(out / "介绍信_defects.xlsx.expected.csv",
                   [(r + XLSX_OFFSET, c, k) for r, c, k in expected] + [xlsx_only])
    if xlsx:
        write_xlsx(out / "介绍信_clean.xlsx", clean)
        write_xlsx(out / "介绍信_defects.xlsx", defects)

    with (out / "full_layout.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FULL_HEADERS)
        writer.writerows(full_rows())
    write_expected(out / "full_layout.expected.csv", [])
    print(f"wrote {out}: {len(clean)} rows, {len(expected)} defects (+1 in the XLSX)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
