#!/usr/bin/env python3
"""Builds the de-identification evaluation corpus in tests/data/deid_eval/.

The corpus is independent of datacustoms' recognizers: every planted value is drawn
from a third-party fake-data generator (Faker or mimesis, picked at random per value
and recorded in the entity's "source"), or composed from generator parts ("composed"),
and put into hand-written sentence templates (templates_dev.txt, templates_heldout.txt).
Nothing here reads or imitates src/detect/.

Usage (see README.md):
    /root/.cache/dc-eval-venv/bin/python scripts/deid_eval/build.py          # build + check
    /root/.cache/dc-eval-venv/bin/python scripts/deid_eval/build.py --check  # check only

Deterministic: fixed seeds per half, pinned generator versions (requirements.txt), and
Faker's zh_CN ssn() (which reads today's date) pinned to a fixed "today".
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import random
import re
import sys
import types
import unicodedata
from pathlib import Path

import faker
import mimesis
from faker import Faker
from mimesis import Address, Datetime, Finance, Hardware, Internet, Locale, Payment, Person

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT_DIR = ROOT / "tests" / "data" / "deid_eval"

RECORDS_PER_HALF = 1500
HALVES = {
    # half: (template file, seed)
    "dev": (HERE / "templates_dev.txt", 20240611),
    "heldout": (HERE / "templates_heldout.txt", 86420937),
}
EXPECTED_VERSIONS = {"faker": "40.63.0", "mimesis": "22.2.0"}

ENTITY_TYPES = [
    "CN_ID_CARD", "PHONE", "BANK_CARD", "EMAIL", "URL", "IP_ADDRESS", "CN_USCC",
    "CN_LICENSE_PLATE", "PASSPORT", "US_SSN", "IBAN", "DATE_OF_BIRTH", "PERSON", "ADDRESS",
]
# Placeholder name -> entity type.
PLACEHOLDERS = {
    "PERSON": "PERSON", "PERSON:first": "PERSON", "PERSON:last": "PERSON",
    "ADDRESS": "ADDRESS", "PHONE": "PHONE", "EMAIL": "EMAIL", "URL": "URL",
    "IP_ADDRESS": "IP_ADDRESS", "DOB": "DATE_OF_BIRTH", "CN_ID_CARD": "CN_ID_CARD",
    "BANK_CARD": "BANK_CARD", "PASSPORT": "PASSPORT", "US_SSN": "US_SSN", "IBAN": "IBAN",
    "CN_LICENSE_PLATE": "CN_LICENSE_PLATE",
}
NEG_KINDS = [
    "company", "product", "place", "surname_word", "date", "order_no", "tracking_no",
    "amount", "time",
]
PLACEHOLDER_RE = re.compile(r"\{(NEG:[a-z_]+|[A-Z_]+(?::[a-z]+)?)\}")

# Faker's zh_CN ssn() computes the birthday from datetime.date.today(); pin "today" so
# the corpus does not change from one day to the next.
FIXED_TODAY = dt.date(2024, 6, 1)


class _PinnedDate(dt.date):
    @classmethod
    def today(cls):
        return FIXED_TODAY


def _pin_faker_today() -> None:
    import faker.providers.ssn.zh_CN as zh_ssn

    zh_ssn.datetime = types.SimpleNamespace(date=_PinnedDate, timedelta=dt.timedelta)


# ---------------------------------------------------------------------------------
# Small curated word lists. These are NOT personal data and not values to detect: they
# are common words / product names used as hard negatives, and surname lists for the
# compound-surname names (the given names still come from the generators).

COMPOUND_SURNAMES = ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "司徒", "令狐", "夏侯", "尉迟", "公孙"]

# (clause, word): the word begins with a common surname character but is an ordinary word.
ZH_SURNAME_WORDS = [
    ("今天大家都很高兴", "高兴"), ("这个周末有空", "周末"), ("最近一直在玩王者荣耀", "王者荣耀"),
    ("黄金价格又涨了", "黄金"), ("我马上就到", "马上"), ("通知已经张贴在楼下", "张贴"),
    ("李子已经熟了", "李子"), ("他一直在金融行业工作", "金融"), ("这样处理比较方便", "方便"),
    ("江湖救急，拜托了", "江湖"), ("钱包差点丢了", "钱包"), ("孙子今天放学早", "孙子"),
    ("朱红色的大门很显眼", "朱红色"), ("杨柳都发芽了", "杨柳"), ("郑重提醒一下", "郑重"),
    ("何必这么着急", "何必"), ("高铁晚点了半小时", "高铁"), ("林间小路不太好走", "林间"),
    ("许多人都在排队", "许多"), ("最近常常加班到很晚", "常常"), ("程序又出错了", "程序"),
    ("万一下雨就改天", "万一"), ("包裹外箱有点破损", "包裹"), ("白天家里没人", "白天"),
    ("安全第一", "安全"), ("今天温度有点高", "温度"), ("方案还要再改", "方案"),
    ("文件已经发过去了", "文件"), ("石头剪刀布决定吧", "石头"), ("胡萝卜买多了", "胡萝卜"),
    ("叶子都黄了", "叶子"), ("请严格按流程来", "严格"), ("麻烦关注一下物流信息", "关注"),
    ("易碎品请轻放", "易碎品"), ("陈皮泡水喝挺好", "陈皮"), ("服务很周到", "周到"),
    ("马路对面在修地铁", "马路"), ("文档请用宋体", "宋体"), ("谢谢大家的帮助", "谢谢"),
    ("韩剧又更新了", "韩剧"), ("唐装很好看", "唐装"), ("龙虾降价了", "龙虾"),
    ("毛巾放在柜子里", "毛巾"), ("这是史无前例的大促", "史无前例"), ("夏天快到了", "夏天"),
    ("喜欢田园风格的装修", "田园"), ("董事会下午开", "董事会"), ("范围太大了", "范围"),
    ("喝碗姜汤驱驱寒", "姜汤"), ("于是我们就先走了", "于是"), ("向前走两百米就到", "向前"),
    ("苏打水卖完了", "苏打水"), ("雷阵雨说来就来", "雷阵雨"), ("汪汪叫的那只狗很可爱", "汪汪"),
]
EN_SURNAME_WORDS = [
    ("Will do, I'll send it over tonight", "Will"), ("May is usually our busiest month", "May"),
    ("June deliveries are running late", "June"), ("Mark the ticket as resolved once it's fixed", "Mark"),
    ("Bill Pay is down for maintenance", "Bill"), ("Grant access to the shared folder when you can", "Grant"),
    ("Rose gold is out of stock", "Rose"), ("Summer hours start next week", "Summer"),
    ("Hope that helps", "Hope"), ("April showers flooded the loading dock", "April"),
    ("Frank feedback is always welcome", "Frank"), ("Chase the supplier for the missing parts", "Chase"),
    ("Drew a blank on the PIN, sorry", "Drew"), ("Sterling silver items ship separately", "Sterling"),
    ("Amber lights on the router mean no signal", "Amber"), ("Pat the screen dry before applying the protector", "Pat"),
    ("Jack up the car before removing the wheel", "Jack"), ("Faith in the courier is at an all-time low", "Faith"),
    ("Penny stocks are not covered by the plan", "Penny"), ("Ruby on Rails powers the old portal", "Ruby"),
    ("Iris scanners are enabled at the front gate", "Iris"), ("Violet is the new default theme color", "Violet"),
    ("Art supplies are on aisle five", "Art"), ("Ray tracing is disabled on this model", "Ray"),
    ("Miles are credited within five days", "Miles"), ("Hunter green is sold out", "Hunter"),
    ("Carol singers will be in the lobby on Friday", "Carol"), ("Autumn collection launches soon", "Autumn"),
    ("Sunny weather is expected for the picnic", "Sunny"), ("Olive oil was leaking in the box", "Olive"),
    ("Ginger tea is available in the break room", "Ginger"), ("Holly wreaths are half price", "Holly"),
    ("Basil plants arrived wilted", "Basil"), ("Joy was short-lived: the box was empty", "Joy"),
    ("Gene therapy coverage is under review", "Gene"), ("Cliff notes are in the shared drive", "Cliff"),
]
ZH_PRODUCTS = [
    "华为Mate 60 Pro", "小米14", "戴森吹风机", "美的空调", "格力空调", "九阳豆浆机", "大疆Mini 4 Pro",
    "安踏跑鞋", "苏泊尔电饭煲", "海尔冰箱", "OPPO Find X7", "vivo X100", "王老吉", "周黑鸭",
    "李宁运动服", "罗技鼠标", "飞利浦电动牙刷", "索尼降噪耳机", "乐高积木", "小天才电话手表",
]
EN_PRODUCTS = [
    "Kindle Paperwhite", "AirPods Pro", "Instant Pot", "PlayStation 5", "Roomba i7", "Nintendo Switch",
    "Dyson V15", "Fitbit Charge 6", "Vitamix blender", "GoPro Hero 12", "Yeti cooler", "KitchenAid mixer",
]
ZH_AREA_CODES = ["010", "021", "022", "023", "020", "0755", "0571", "025", "027", "028", "029", "0512", "0532", "0731"]


def nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def gb11643_ok(s: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", s):
        return False
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * k for c, k in zip(s[:17], w))
    return "10X98765432"[total % 11] == s[17]


def digit_runs(s: str) -> list[str]:
    return re.findall(r"\d+", s)


def looks_personal(value: str) -> bool:
    """A negative must not itself carry personal data: no digit run that is a Luhn-valid
    card-length number, a valid 18-digit ID, or a Chinese mobile number."""
    for run in digit_runs(value.replace(" ", "")):
        if 13 <= len(run) <= 19 and luhn_ok(run):
            return True
        if len(run) >= 11 and re.search(r"1[3-9]\d{9}", run):
            return True
    compact = re.sub(r"\s", "", value)
    for m in re.finditer(r"\d{17}[\dX]", compact):
        if gb11643_ok(m.group()):
            return True
    return False


# ---------------------------------------------------------------------------------


class Gen:
    """All value generators for one half, seeded."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fk = {}
        for i, loc in enumerate(["zh_CN", "en_US", "en_GB"]):
            f = Faker(loc)
            f.seed_instance(seed * 10 + i)
            self.fk[loc] = f
        mloc = {"zh_CN": Locale.ZH, "en_US": Locale.EN, "en_GB": Locale.EN_GB}
        self.mp, self.ma, self.mf = {}, {}, {}
        for i, (loc, ml) in enumerate(mloc.items()):
            self.mp[loc] = Person(ml, seed=seed * 100 + i)
            self.ma[loc] = Address(ml, seed=seed * 100 + 10 + i)
            self.mf[loc] = Finance(ml, seed=seed * 100 + 20 + i)
        self.mi = Internet(seed=seed * 100 + 30)
        self.mpay = Payment(seed=seed * 100 + 31)
        self.mdt = Datetime(seed=seed * 100 + 32)
        self.mhw = Hardware(seed=seed * 100 + 33)

    # -- helpers
    def coin(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(seq)

    def weighted(self, options):
        """options: list of (weight, fn)."""
        total = sum(w for w, _ in options)
        x = self.rng.random() * total
        for w, fn in options:
            x -= w
            if x < 0:
                return fn()
        return options[-1][1]()

    def src(self):
        return "faker" if self.coin(0.5) else "mimesis"

    # -- PERSON
    def person(self, loc: str, form: str):
        if loc == "zh_CN":
            return self.zh_person()
        return self.en_person(loc, form)

    def zh_person(self):
        r = self.rng.random()
        if r < 0.46:
            return self.fk["zh_CN"].name(), "faker"
        if r < 0.92:
            p = self.mp["zh_CN"]
            return p.last_name() + p.first_name(), "mimesis"
        # compound surname + a generator given name
        given = self.fk["zh_CN"].first_name() if self.coin(0.5) else self.mp["zh_CN"].first_name()
        return self.pick(COMPOUND_SURNAMES) + given, "composed"

    def en_person(self, loc: str, form: str):
        src = self.src()
        if form == "first":
            v = self.fk[loc].first_name() if src == "faker" else self.mp[loc].first_name()
            return v, src
        if form == "last":
            v = self.fk[loc].last_name() if src == "faker" else self.mp[loc].last_name()
            return v, src
        if src == "faker":
            f = self.fk[loc]
            if self.coin(0.6):
                v = f.name()  # sometimes already carries a prefix or suffix
            else:
                v = f"{f.first_name()} {f.last_name()}"
                if self.coin(0.2):
                    v = f"{f.first_name()} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {f.last_name()}"
        else:
            p = self.mp[loc]
            if self.coin(0.75):
                v = p.full_name()
            else:
                v = f"{p.first_name()} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {p.last_name()}"
        has_prefix = v.split(" ")[0].rstrip(".") in {"Mr", "Mrs", "Ms", "Miss", "Dr", "Mx", "Prof"}
        if not has_prefix and self.coin(0.12):
            pre = self.pick(["Mr.", "Ms.", "Mrs.", "Dr."]) if loc == "en_US" else self.pick(["Mr", "Ms", "Mrs", "Dr", "Miss"])
            v = f"{pre} {v}"
        return v, src

    # -- ADDRESS
    def address(self, loc: str):
        if loc == "zh_CN":
            return self.weighted([(0.28, self.zh_addr_faker), (0.24, self.zh_addr_mimesis), (0.48, self.zh_addr_composed)])
        if loc == "en_US":
            return self.weighted([(0.3, lambda: self.en_addr_faker("en_US")), (0.25, self.us_addr_mimesis), (0.45, self.us_addr_composed)])
        return self.weighted([(0.3, lambda: self.en_addr_faker("en_GB")), (0.25, self.gb_addr_mimesis), (0.45, self.gb_addr_composed)])

    def zh_addr_faker(self):
        v = self.fk["zh_CN"].address()
        if self.coin(0.35):  # without the trailing postcode
            v = v.rsplit(" ", 1)[0]
        return v, "faker"

    def zh_addr_mimesis(self):
        a = self.ma["zh_CN"]
        street = a.address()
        r = self.rng.random()
        if r < 0.3:
            v = street
        elif r < 0.65:
            v = a.city().strip() + street
        else:
            v = a.state().strip() + a.city().strip() + street
        return v, "mimesis"

    def zh_city(self):
        if self.coin(0.5):
            return self.fk["zh_CN"].city_name() + "市"
        return self.ma["zh_CN"].city().strip()

    def zh_province(self):
        return self.fk["zh_CN"].province() if self.coin(0.5) else self.ma["zh_CN"].state().strip()

    def zh_district(self):
        d = self.fk["zh_CN"].district()
        return d + ("县" if self.coin(0.12) else "区")

    def zh_word(self):
        """A place-like word from a generator, used to name roads, lanes and estates."""
        if self.coin(0.5):
            return self.fk["zh_CN"].city_name()
        w = self.ma["zh_CN"].street_name().strip()
        return re.sub(r"(路|街|大街|街道)$", "", w) or self.fk["zh_CN"].city_name()

    def zh_road(self):
        r = self.rng.random()
        if r < 0.3:
            return self.fk["zh_CN"].street_name()
        if r < 0.55:
            a = self.ma["zh_CN"]
            return a.street_name().strip() + self.pick(["路", "大街", "街", "大道", "路"])
        d = self.pick(["", "", "", "东", "西", "南", "北", "中"])
        return self.zh_word() + d + self.pick(["路", "路", "大道", "街", "大街"])

    def zh_number(self):
        n = self.rng.randint(1, 999)
        r = self.rng.random()
        if r < 0.7:
            return f"{n}号"
        if r < 0.85:
            return f"{n}-{self.rng.randint(1, 30)}号"
        return f"{self.rng.randint(1, 1500)}弄{self.rng.randint(1, 120)}号"

    def zh_estate(self):
        return self.zh_word() + self.pick(["花园", "小区", "公寓", "家园", "苑", "名苑", "新村", "雅居", "华庭", "公馆"])

    def zh_tower(self):
        return self.zh_word() + self.pick(["大厦", "广场", "中心", "国际大厦", "商务楼"])

    def zh_building_unit_room(self):
        b = self.rng.randint(1, 40)
        parts = [self.pick([f"{b}栋", f"{b}幢", f"{b}号楼", f"{self.pick('ABCDEFG')}座"])]
        if self.coin(0.6):
            parts.append(f"{self.rng.randint(1, 6)}单元")
        floor = self.rng.randint(1, 33)
        room = f"{floor}{self.rng.randint(1, 8):02d}"
        parts.append(self.pick([f"{room}室", room, f"{room}室", f"{room}房"]))
        return "".join(parts)

    def zh_prefix(self, p_prov=0.4, p_city=0.75, p_dist=0.8):
        s = ""
        if self.coin(p_prov):
            s += self.zh_province()
        if self.coin(p_city):
            s += self.zh_city()
        if self.coin(p_dist):
            s += self.zh_district()
        return s

    def zh_addr_composed(self):
        shape = self.rng.randrange(7)
        if shape == 0:  # province/city/district + road + number
            v = self.zh_prefix(0.7, 0.95, 0.9) + self.zh_road() + self.zh_number()
        elif shape == 1:  # stops at the road
            v = self.zh_prefix(0.5, 0.95, 0.95) + self.zh_road()
        elif shape == 2:  # lane / hutong / village, no road suffix
            w = self.zh_word()
            lane = self.pick([
                w + "胡同", w + "胡同", w + self.pick(["头条", "二条", "三条", "五条", "十条"]),
                w + "里", w + "巷", w + "村", w + "新村",
            ])
            tail = self.pick(["", f"{self.rng.randint(1, 99)}号", f"{self.rng.randint(1, 99)}号",
                              f"{self.rng.randint(1, 12)}组{self.rng.randint(1, 60)}号"])
            v = self.zh_prefix(0.3, 0.8, 0.85) + lane + tail
        elif shape == 3:  # after 号: estate + building/unit/room
            v = self.zh_prefix(0.3, 0.8, 0.8) + self.zh_road() + self.zh_number() + self.zh_estate() + self.zh_building_unit_room()
        elif shape == 4:  # office tower + floor + room
            floor = self.rng.randint(2, 40)
            tail = self.pick([f"{floor}层", f"{floor}楼", f"{floor}层{floor}{self.rng.randint(1, 20):02d}室", f"{floor}F"])
            v = self.zh_prefix(0.2, 0.85, 0.8) + self.zh_road() + self.zh_number() + self.zh_tower() + tail
        elif shape == 5:  # district + estate + building, no road
            v = self.zh_prefix(0.2, 0.7, 0.95) + self.zh_estate() + self.zh_building_unit_room()
        else:  # rural: county/town/village/group
            town = self.zh_word() + "镇"
            v = (self.zh_province() + self.fk["zh_CN"].city_name() + "县" + town + self.zh_word() + "村"
                 + self.pick(["", f"{self.rng.randint(1, 12)}组", f"{self.rng.randint(1, 99)}号"]))
        return v, "composed"

    def join_lines(self, s: str) -> str:
        r = self.rng.random()
        if r < 0.6:
            return s.replace("\n", ", ")
        if r < 0.85:
            return s.replace("\n", " ")
        return s  # keep the line breaks

    def en_addr_faker(self, loc: str):
        return self.join_lines(self.fk[loc].address()), "faker"

    def us_addr_mimesis(self):
        a = self.ma["en_US"]
        v = a.address()
        r = self.rng.random()
        if r < 0.25:
            return v, "mimesis"
        if r < 0.45:
            return f"{v}, {a.city()}, {a.state()}", "mimesis"
        zip_ = a.zip_code()
        return f"{v}, {a.city()}, {a.state(abbr=True)} {zip_}", "mimesis"

    def gb_addr_mimesis(self):
        a = self.ma["en_GB"]
        v = a.address()
        r = self.rng.random()
        if r < 0.25:
            return v, "mimesis"
        if r < 0.6:
            return f"{v}, {a.city()}", "mimesis"
        return f"{v}, {a.city()}, {a.state()}", "mimesis"

    def us_street(self):
        f = self.fk["en_US"]
        num = str(self.rng.choice([self.rng.randint(1, 99), self.rng.randint(100, 9999), self.rng.randint(10000, 99999)]))
        pre = self.pick(["N", "S", "E", "W", "North", "South", "East", "West", "NE", "SW"]) + " " if self.coin(0.25) else ""
        r = self.rng.random()
        if r < 0.2:
            n = self.rng.randint(1, 120)
            suf = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            name = f"{n}{suf}"
        elif r < 0.6:
            name = f.last_name()
        else:
            name = self.ma["en_US"].street_name()
        suffix = self.pick(["St", "St.", "Street", "Ave", "Ave.", "Avenue", "Blvd", "Rd", "Road", "Dr", "Drive",
                            "Ln", "Lane", "Ct", "Way", "Pl", "Pkwy", "Ter", "Cir", "Hwy"])
        post = " " + self.pick(["NW", "NE", "SW", "SE"]) if self.coin(0.08) else ""
        return f"{num} {pre}{name} {suffix}{post}"

    def us_addr_composed(self):
        f = self.fk["en_US"]
        s = self.us_street()
        if self.coin(0.4):
            unit = self.pick([f"Apt {self.rng.randint(1, 40)}{self.pick(['', '', 'A', 'B', 'C'])}", f"Apt. {self.rng.randint(1, 999)}",
                              f"Suite {self.rng.randint(100, 2400)}", f"Ste {self.rng.randint(100, 900)}",
                              f"Unit {self.rng.randint(1, 60)}", f"#{self.rng.randint(1, 450)}", f"Fl {self.rng.randint(2, 30)}"])
            s += self.pick([", ", " "]) + unit
        if self.coin(0.75):
            city = self.ma["en_US"].city() if self.coin(0.6) else f.city()
            r = self.rng.random()
            if r < 0.55:
                tail = f"{city}, {f.state_abbr()} {f.zipcode()}"
            elif r < 0.7:
                tail = f"{city}, {f.state_abbr()} {f.zipcode_plus4()}"
            elif r < 0.85:
                tail = f"{city}, {f.state()}"
            else:
                tail = f"{city} {f.state_abbr()}"
            s += ", " + tail
        return s, "composed"

    def gb_addr_composed(self):
        f = self.fk["en_GB"]
        parts = []
        if self.coin(0.4):
            parts.append(self.pick([f"Flat {self.rng.randint(1, 60)}", f"Flat {self.rng.randint(1, 30)}{self.pick('ABCD')}",
                                    f"Studio {self.rng.randint(1, 40)}", f"Apartment {self.rng.randint(1, 90)}"]))
        name = f.last_name() if self.coin(0.5) else self.ma["en_GB"].street_name()
        parts.append(f"{self.rng.randint(1, 250)} {name} {self.pick(['Road', 'Street', 'Lane', 'Close', 'Crescent', 'Avenue', 'Drive', 'Gardens', 'Mews', 'Terrace', 'Rd', 'St'])}")
        town = self.ma["en_GB"].city()
        r = self.rng.random()
        if r < 0.5:
            parts.append(f"{town} {f.postcode()}")
        elif r < 0.75:
            parts.append(town)
            parts.append(f.postcode())
        elif r < 0.9:
            parts.append(town)
        else:
            parts.append(f"{town}, {self.ma['en_GB'].state()} {f.postcode()}")
        sep = self.pick([", ", ", ", ", ", "\n"])
        return sep.join(parts), "composed"

    # -- PHONE
    def phone(self, loc: str):
        if loc == "zh_CN":
            return self.weighted([(0.5, self.zh_mobile), (0.2, self.zh_mobile_formatted), (0.15, lambda: (self.mp["zh_CN"].phone_number(), "mimesis")),
                                  (0.15, self.zh_landline)])
        if self.coin(0.55):
            return self.fk[loc].phone_number(), "faker"
        return self.mp[loc].phone_number(), "mimesis"

    def zh_mobile(self):
        return self.fk["zh_CN"].phone_number(), "faker"

    def zh_mobile_formatted(self):
        m = self.fk["zh_CN"].phone_number()
        v = self.pick([f"{m[:3]} {m[3:7]} {m[7:]}", f"{m[:3]}-{m[3:7]}-{m[7:]}", f"+86 {m}", f"+86-{m}", f"+86 {m[:3]} {m[3:7]} {m[7:]}",
                       f"(+86){m}", f"0086{m}"])
        return v, "faker"

    def zh_landline(self):
        code = self.pick(ZH_AREA_CODES)
        n = str(self.rng.randint(2, 8)) + "".join(str(self.rng.randint(0, 9)) for _ in range(7 if len(code) == 3 else self.pick([6, 7])))
        v = self.pick([f"{code}-{n}", f"({code}){n}", f"{code} {n[:4]} {n[4:]}", f"{code}-{n}转{self.rng.randint(100, 8999)}"])
        return v, "composed"

    # -- other entities
    def email(self, loc: str):
        if self.coin(0.5):
            return self.fk[loc].email(), "faker"
        return self.mp[loc].email(), "mimesis"

    def url(self, loc: str):
        r = self.rng.random()
        if r < 0.35:
            return self.fk[loc].url(), "faker"
        if r < 0.55:
            return self.fk[loc].uri(), "faker"
        if r < 0.8:
            return self.mi.url(), "mimesis"
        user = self.fk[loc].user_name()
        host = self.pick(["github.com", "www.linkedin.com/in", "weibo.com", "space.bilibili.com", "medium.com/@", "www.zhihu.com/people"])
        sep = "" if host.endswith("@") else "/"
        return f"https://{host}{sep}{user}", "composed"

    def ip(self, loc: str):
        if self.coin(0.5):
            return self.fk[loc].ipv4(), "faker"
        return self.mi.ip_v4(), "mimesis"

    def birth_date(self):
        if self.coin(0.5):
            return self.fk["en_US"].date_between_dates(dt.date(1940, 1, 1), dt.date(2006, 12, 31)), "faker"
        return self.mdt.date(1940, 2006), "mimesis"

    def fmt_date(self, d: dt.date, loc: str, allow_no_year=False) -> str:
        months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        mon, mab = months[d.month - 1], months[d.month - 1][:3]
        if loc == "zh_CN":
            forms = [f"{d.year}年{d.month}月{d.day}日", f"{d.year}年{d.month:02d}月{d.day:02d}日", f"{d:%Y-%m-%d}",
                     f"{d.year}/{d.month}/{d.day}", f"{d:%Y/%m/%d}", f"{d.year}.{d.month}.{d.day}"]
            if allow_no_year:
                forms += [f"{d.month}月{d.day}日", f"{d.month}月{d.day}号"]
        elif loc == "en_US":
            forms = [f"{mon} {d.day}, {d.year}", f"{mab}. {d.day}, {d.year}", f"{mab} {d.day}, {d.year}", f"{d:%m/%d/%Y}",
                     f"{d.month}/{d.day}/{d.year}", f"{d:%Y-%m-%d}"]
            if allow_no_year:
                forms += [f"{mon} {d.day}", f"{d:%A}, {mon} {d.day}"]
        else:
            day = d.day
            ords = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
            forms = [f"{day} {mon} {d.year}", f"{d:%d/%m/%Y}", f"{day}{ords} {mon} {d.year}", f"{d:%Y-%m-%d}",
                     f"{mon} {day}, {d.year}", f"{day} {mab} {d.year}"]
            if allow_no_year:
                forms += [f"{day} {mon}", f"{d:%A} {day} {mon}"]
        return self.pick(forms)

    def dob(self, loc: str):
        d, src = self.birth_date()
        return self.fmt_date(d, loc), src

    def cn_id(self, loc: str):
        v = self.fk["zh_CN"].ssn()
        if self.coin(0.08):
            v = f"{v[:6]} {v[6:14]} {v[14:]}"
        return v, "faker"

    def bank_card(self, loc: str):
        if self.coin(0.6):
            return self.fk[loc].credit_card_number(), "faker"
        return self.mpay.credit_card_number(), "mimesis"

    def passport(self, loc: str):
        return self.fk[loc].passport_number(), "faker"

    def us_ssn(self, loc: str):
        return self.fk["en_US"].ssn(), "faker"

    def iban(self, loc: str):
        v = self.fk["en_GB"].iban()
        if self.coin(0.35):
            v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        return v, "faker"

    def plate(self, loc: str):
        v = self.fk["zh_CN"].license_plate()
        r = self.rng.random()
        if r < 0.35:
            v = v.replace("-", "")
        elif r < 0.5:
            v = v.replace("-", "·")
        return v, "faker"

    def entity(self, ph: str, loc: str):
        if ph.startswith("PERSON"):
            form = ph.split(":")[1] if ":" in ph else "full"
            return self.person(loc, form)
        return {
            "ADDRESS": self.address, "PHONE": self.phone, "EMAIL": self.email, "URL": self.url,
            "IP_ADDRESS": self.ip, "DOB": self.dob, "CN_ID_CARD": self.cn_id, "BANK_CARD": self.bank_card,
            "PASSPORT": self.passport, "US_SSN": self.us_ssn, "IBAN": self.iban, "CN_LICENSE_PLATE": self.plate,
        }[ph](loc)

    # -- negatives: (text to insert, value to check)
    def negative(self, kind: str, loc: str):
        zh = loc == "zh_CN"
        if kind == "company":
            if zh:
                v = self.fk["zh_CN"].company() if self.coin(0.6) else self.mf["zh_CN"].company()
            elif self.coin(0.5):
                v = self.mf[loc].company()
            else:
                # Faker's "X-Y" and "X, Y and Z" shapes read as people; keep suffixed shapes.
                while True:
                    v = self.fk[loc].company()
                    if "," not in v and "-" not in v:
                        break
            return v, v
        if kind == "product":
            if zh:
                v = self.pick(ZH_PRODUCTS) if self.coin(0.75) else self.mhw.phone_model()
            else:
                v = self.pick(EN_PRODUCTS) if self.coin(0.5) else self.pick([self.mhw.phone_model, self.mhw.graphics])()
            return v, v
        if kind == "place":
            if zh:
                r = self.rng.random()
                if r < 0.45:
                    v = self.fk["zh_CN"].city_name()
                elif r < 0.7:
                    v = self.ma["zh_CN"].city().strip()
                else:
                    v = self.fk["zh_CN"].province() if self.coin(0.5) else self.ma["zh_CN"].state().strip()
            elif loc == "en_US":
                v = self.ma["en_US"].city() if self.coin(0.65) else self.fk["en_US"].state()
            else:
                v = self.ma["en_GB"].city() if self.coin(0.7) else self.ma["en_GB"].state()
            return v, v
        if kind == "surname_word":
            clause, word = self.pick(ZH_SURNAME_WORDS if zh else EN_SURNAME_WORDS)
            return clause, word
        if kind == "date":
            if self.coin(0.5):
                d = self.fk["en_US"].date_between_dates(dt.date(2018, 1, 1), dt.date(2026, 12, 31))
            else:
                d = self.mdt.date(2018, 2026)
            v = self.fmt_date(d, loc, allow_no_year=True)
            return v, v
        if kind == "order_no":
            v = self.order_no(zh)
            return v, v
        if kind == "tracking_no":
            v = self.tracking_no(loc)
            return v, v
        if kind == "amount":
            v = self.amount(loc)
            return v, v
        if kind == "time":
            v = self.time(loc)
            return v, v
        raise KeyError(kind)

    def digits(self, n: int) -> str:
        return "".join(str(self.rng.randint(0, 9)) for _ in range(n))

    def order_no(self, zh: bool) -> str:
        y = self.rng.randint(2019, 2025)
        md = f"{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}"
        if zh:
            forms = [lambda: f"DD{y}{md}{self.digits(6)}", lambda: f"{self.rng.randint(1, 4)}{self.digits(18)}",
                     lambda: f"{y % 100}{md}-{self.digits(15)}", lambda: f"E{y}{md}{self.digits(8)}",
                     lambda: f"NO.{y}{self.digits(6)}", lambda: f"JD{self.digits(12)}"]
        else:
            forms = [lambda: f"#{self.digits(3)}-{self.digits(7)}-{self.digits(7)}", lambda: f"ORD-{y}-{self.digits(5)}",
                     lambda: f"PO {45}{self.digits(8)}", lambda: f"INV-{self.digits(5)}", lambda: f"#{self.digits(5)}",
                     lambda: f"W{self.digits(9)}", lambda: f"SO-{self.digits(6)}-{self.pick('ABCDEFGH')}"]
        while True:
            v = self.pick(forms)()
            if not looks_personal(v):
                return v

    def tracking_no(self, loc: str) -> str:
        if loc == "zh_CN":
            forms = [lambda: f"SF{self.digits(13)}", lambda: f"YT{self.digits(13)}", lambda: f"JDVA{self.digits(11)}",
                     lambda: f"JD00{self.digits(11)}", lambda: f"75{self.digits(12)}", lambda: f"YD{self.digits(13)}",
                     lambda: f"EMS{self.digits(10)}CN"]
        else:
            alnum = "ABCDEFGHJKLMNPRSTUVWXY0123456789"
            forms = [lambda: "1Z" + "".join(self.rng.choice(alnum) for _ in range(6)) + self.pick(["01", "02", "03", "12", "42"]) + self.digits(8),
                     lambda: f"94{self.digits(20)}",
                     lambda: "9400 " + " ".join(self.digits(4) for _ in range(4)) + " " + self.digits(2),
                     lambda: f"{self.pick(['RR', 'LX', 'CP', 'AB', 'TT'])}{self.digits(9)}{'US' if loc == 'en_US' else 'GB'}",
                     lambda: self.digits(12)]
        while True:
            v = self.pick(forms)()
            if not looks_personal(v):
                return v

    def amount(self, loc: str) -> str:
        n = self.rng.choice([self.rng.randint(5, 99), self.rng.randint(100, 999), self.rng.randint(1000, 99999)])
        cents = self.rng.randint(0, 99)
        if loc == "zh_CN":
            forms = [f"¥{n:,}.{cents:02d}", f"{n}元", f"￥{n:,}.00", f"{self.rng.randint(1, 99)}.{self.rng.randint(1, 9)}万元",
                     f"人民币{n:,}元", f"{n:,}.{cents:02d}元", f"RMB {n:,}"]
        elif loc == "en_US":
            forms = [f"${n:,}.{cents:02d}", f"${n:,}", f"USD {n:,}.{cents:02d}", f"${self.rng.randint(1, 99)}k", f"{n:,} dollars"]
        else:
            forms = [f"£{n:,}.{cents:02d}", f"£{n:,}", f"GBP {n:,}.{cents:02d}", f"€{n:,}.{cents:02d}", f"£{self.rng.randint(1, 99)}k"]
        return self.pick(forms)

    def time(self, loc: str) -> str:
        h, m = self.rng.randint(0, 23), self.pick([0, 0, 15, 30, 45, self.rng.randint(0, 59)])
        if loc == "zh_CN":
            h12 = h % 12 or 12
            part = "上午" if 6 <= h < 12 else "中午" if h == 12 else "下午" if 12 < h < 18 else "晚上" if h >= 18 else "凌晨"
            forms = [f"{h:02d}:{m:02d}", f"{h}:{m:02d}", f"{part}{h12}点", f"{part}{h12}点半", f"{part}{h12}:{m:02d}", f"{h}点{m}分" if m else f"{h}点整"]
        else:
            h12 = h % 12 or 12
            ap = "AM" if h < 12 else "PM"
            forms = [f"{h12}:{m:02d} {ap}", f"{h:02d}:{m:02d}", f"{h12}{ap.lower()}", f"{h12}:{m:02d} {'a.m.' if h < 12 else 'p.m.'}",
                     f"{h12} {ap.lower()}", f"{h12}:{m:02d}{ap.lower()}"]
        return self.pick(forms)


# ---------------------------------------------------------------------------------


def load_templates(path: Path):
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            sys.exit(f"{path.name}:{lineno}: expected scenario<TAB>lang<TAB>template")
        scenario, lang, tpl = parts
        if lang not in ("zh", "en", "en_US", "en_GB"):
            sys.exit(f"{path.name}:{lineno}: unknown lang {lang!r}")
        tpl = tpl.replace("\\n", "\n").replace("\\t", "\t")
        for m in PLACEHOLDER_RE.finditer(tpl):
            name = m.group(1)
            if name.startswith("NEG:"):
                if name[4:] not in NEG_KINDS:
                    sys.exit(f"{path.name}:{lineno}: unknown negative kind {name!r}")
            elif name not in PLACEHOLDERS:
                sys.exit(f"{path.name}:{lineno}: unknown placeholder {name!r}")
        if not PLACEHOLDER_RE.search(tpl):
            sys.exit(f"{path.name}:{lineno}: no placeholder")
        out.append({"line": lineno, "scenario": scenario, "lang": lang, "template": tpl})
    return out


def fill(gen: Gen, tpl: dict):
    """Fills one template. Returns (locale, text, entities, negatives) or None if the draw
    violates a constraint (the caller redraws)."""
    lang = tpl["lang"]
    if lang == "zh":
        loc = "zh_CN"
    elif lang == "en":
        loc = "en_US" if gen.coin(0.55) else "en_GB"
    else:
        loc = lang
    entities, negatives = [], []
    pieces, pos = [], 0
    text_tpl = tpl["template"]
    for m in PLACEHOLDER_RE.finditer(text_tpl):
        pieces.append(text_tpl[pos:m.start()])
        name = m.group(1)
        if name.startswith("NEG:"):
            kind = name[4:]
            ins, val = gen.negative(kind, loc)
            negatives.append({"kind": kind, "value": val})
        else:
            ins, src = gen.entity(name, loc)
            entities.append({"type": PLACEHOLDERS[name], "value": ins, "source": src})
        pieces.append(ins)
        pos = m.end()
    pieces.append(text_tpl[pos:])
    text = "".join(pieces)
    if problems(text, entities, negatives):
        return None
    return loc, text, entities, negatives


def problems(text: str, entities: list, negatives: list) -> list[str]:
    """Constraint violations of one record (empty when fine)."""
    out = []
    spans = []
    for e in entities:
        v = e["value"]
        if not v or v != v.strip():
            out.append(f"entity {v!r} empty or padded")
            continue
        if text.count(v) != 1:
            out.append(f"entity {v!r} occurs {text.count(v)} times")
        n = nfkc(v)
        if n != v and n in text:
            out.append(f"NFKC form of {v!r} occurs in text")
        i = text.find(v)
        spans.append((i, i + len(v), "E", v))
    for ng in negatives:
        v = ng["value"]
        if not v or v != v.strip():
            out.append(f"negative {v!r} empty or padded")
            continue
        if text.count(v) != 1:
            out.append(f"negative {v!r} occurs {text.count(v)} times")
        if looks_personal(v):
            out.append(f"negative {v!r} looks like personal data")
        i = text.find(v)
        spans.append((i, i + len(v), "N", v))
    values = [s[3] for s in spans]
    for a in range(len(values)):
        for b in range(len(values)):
            if a != b and values[a] in values[b]:
                out.append(f"{values[a]!r} is inside {values[b]!r}")
    spans.sort()
    for x, y in zip(spans, spans[1:]):
        if y[0] < x[1]:
            out.append(f"{x[3]!r} overlaps {y[3]!r}")
    return out


def build_half(half: str, path: Path, seed: int) -> list[dict]:
    gen = Gen(seed)
    templates = load_templates(path)
    # Near-uniform template use: shuffled rounds over all templates.
    order = []
    while len(order) < RECORDS_PER_HALF:
        rnd = list(range(len(templates)))
        gen.rng.shuffle(rnd)
        order.extend(rnd)
    order = order[:RECORDS_PER_HALF]
    records = []
    for i, t in enumerate(order, start=1):
        tpl = templates[t]
        for _attempt in range(200):
            got = fill(gen, tpl)
            if got:
                break
        else:
            sys.exit(f"{half}: template line {tpl['line']} cannot be filled without conflicts")
        loc, text, ents, negs = got
        records.append({
            "id": f"{half}-{i:05d}",
            "half": half,
            "lang": "zh" if loc == "zh_CN" else "en",
            "locale": loc,
            "scenario": tpl["scenario"],
            "template": tpl["line"],
            "text": text,
            "entities": ents,
            "negatives": negs,
        })
    return records


def check(records: list[dict], half: str) -> None:
    """Sanity check of a half: values verbatim, ids unique, no overlaps; prints counts."""
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"{half}: duplicate ids"
    by_type = collections.Counter()
    by_src = collections.Counter()
    negs = collections.Counter()
    langs = collections.Counter()
    for r in records:
        assert r["half"] == half
        assert r["lang"] in ("zh", "en") and r["locale"] in ("zh_CN", "en_US", "en_GB")
        text = r["text"]
        for e in r["entities"]:
            assert e["type"] in ENTITY_TYPES, e
            assert e["source"] in ("faker", "mimesis", "composed"), e
            assert e["value"] in text, (r["id"], e)
            by_type[(e["type"], r["lang"])] += 1
            by_src[(e["type"], e["source"])] += 1
        for n in r["negatives"]:
            assert n["kind"] in NEG_KINDS, n
            assert n["value"] in text, (r["id"], n)
            negs[(n["kind"], r["lang"])] += 1
        bad = problems(text, r["entities"], r["negatives"])
        assert not bad, (r["id"], bad)
        langs[(r["lang"], r["locale"])] += 1
    total = sum(by_type.values())
    pap = sum(v for (t, _), v in by_type.items() if t in ("PERSON", "ADDRESS", "PHONE"))
    print(f"== {half}: {len(records)} records, {total} entities "
          f"(PERSON+ADDRESS+PHONE {pap} = {pap / total:.1%}), {sum(negs.values())} negatives")
    print("   records by lang/locale: " + ", ".join(f"{l}/{loc} {n}" for (l, loc), n in sorted(langs.items())))
    print(f"   {'type':<18}{'zh':>6}{'en':>6}{'all':>6}   sources")
    for t in ENTITY_TYPES:
        zh, en = by_type[(t, "zh")], by_type[(t, "en")]
        if zh + en == 0:
            continue
        srcs = ", ".join(f"{s} {by_src[(t, s)]}" for s in ("faker", "mimesis", "composed") if by_src[(t, s)])
        print(f"   {t:<18}{zh:>6}{en:>6}{zh + en:>6}   {srcs}")
    print(f"   {'negative':<18}{'zh':>6}{'en':>6}{'all':>6}")
    for k in NEG_KINDS:
        zh, en = negs[(k, "zh")], negs[(k, "en")]
        print(f"   {k:<18}{zh:>6}{en:>6}{zh + en:>6}")


def write_jsonl(records: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the committed JSONL files")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = ap.parse_args()
    if args.check:
        for half in HALVES:
            check(read_jsonl(args.out / f"{half}.jsonl"), half)
        return
    for name, want in EXPECTED_VERSIONS.items():
        got = {"faker": faker.VERSION, "mimesis": mimesis.__version__}[name]
        if got != want:
            sys.exit(f"{name} {got} installed, the corpus is pinned to {want} (see requirements.txt)")
    _pin_faker_today()
    args.out.mkdir(parents=True, exist_ok=True)
    for half, (path, seed) in HALVES.items():
        records = build_half(half, path, seed)
        check(records, half)
        write_jsonl(records, args.out / f"{half}.jsonl")
        print(f"   wrote {args.out / (half + '.jsonl')}")


if __name__ == "__main__":
    main()
