//! A deterministic, labelled PII corpus for grading the `deidentify` stage, and its
//! scorer. Used by `tests/deid_quality.rs` (`#[path = "support/pii_eval.rs"] mod
//! pii_eval;`).
//!
//! Records are `{"id": "e000001", "text": "..."}`, about 60 % Chinese and 40 % English
//! customer-service / HR messages: natural filler sentences, 0–3 planted entities of the
//! 14 built-in types in the surface forms such texts use, and 0–2 *hard negatives*
//! (order numbers, wrong-check-digit IDs, 11-digit codes, versions, prices, dates
//! without birth context, times, tracking numbers) that must survive untouched.
//!
//! Every check digit (GB 11643, Luhn, GB 11714, GB 32100, ISO 13616 mod 97) is computed
//! here, independently of the crate, so that the test does not grade the detector with
//! its own validators.
//!
//! Scoring (`score`):
//! - an entity is *removed* (a true positive) when neither its value nor the NFKC form
//!   of its value occurs in the output text any more (a partial replacement that breaks
//!   the value counts as removed: the metric is survival, not span exactness);
//! - a hard negative is *kept* when its value still occurs unchanged in the output;
//! - precision cannot be measured by survival, so it is approximated from the tags (the
//!   test runs with `action = "tag"`): for a type T, `spurious_T` sums, over records,
//!   the number of `<T>` tags beyond the number of values of type T planted in the
//!   record (for a record with no T planted, every `<T>` tag is spurious), and
//!   `precision_T = TP_T / (TP_T + spurious_T)`. A planted value replaced by two tags
//!   therefore also costs precision, as it should;
//! - `typed` (printed, not asserted) is Σ min(`<T>` tags, planted T) / n: the share of
//!   values replaced by a tag of their own type. A value hidden under another type's tag
//!   (a US city read as a PERSON inside an address) is removed but not typed;
//! - `partial` (printed, not asserted) counts removed values of which a head or tail of
//!   at least 4 characters (and a third of the value) is still glued to a tag: the span
//!   was cut short and part of the value leaks (`[ADDRESS]公寓18号楼603`).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

/// The 14 built-in entity types, in report order.
pub const TYPES: [&str; 14] = [
    "CN_ID_CARD",
    "PHONE",
    "BANK_CARD",
    "EMAIL",
    "URL",
    "IP_ADDRESS",
    "CN_USCC",
    "CN_LICENSE_PLATE",
    "PASSPORT",
    "US_SSN",
    "IBAN",
    "DATE_OF_BIRTH",
    "PERSON",
    "ADDRESS",
];

/// Hard-negative kinds, in report order.
pub const NEG_KINDS: [&str; 8] = [
    "luhn_invalid_order",
    "wrong_check_id",
    "non_mobile_11",
    "version",
    "price",
    "date_no_birth",
    "time",
    "tracking",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negative {
    pub kind: &'static str,
    pub value: String,
}

/// What was planted in one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub id: String,
    pub entities: Vec<Entity>,
    pub negatives: Vec<Negative>,
}

impl Truth {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "entities": self.entities.iter().map(|e| json!({"type": e.kind, "value": e.value})).collect::<Vec<_>>(),
            "negatives": self.negatives.iter().map(|n| json!({"kind": n.kind, "value": n.value})).collect::<Vec<_>>(),
        })
    }
}

// ---------------------------------------------------------------------------------
// Check digits, implemented here on purpose (independent of the crate).

/// Luhn check digit for `prefix` (the digit to append).
pub fn luhn_digit(prefix: &str) -> u8 {
    let mut sum = 0u32;
    for (i, c) in prefix.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    ((10 - sum % 10) % 10) as u8
}

pub fn luhn_ok(digits: &str) -> bool {
    let (p, last) = digits.split_at(digits.len() - 1);
    luhn_digit(p) == last.as_bytes()[0] - b'0'
}

/// GB 11643 (ISO 7064 MOD 11-2) check character of the first 17 digits.
pub fn gb11643_char(first17: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

/// GB 11714 check character of an 8-character organization code body.
pub fn gb11714_char(body: &str) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(c, w)| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                u32::from(c - b'A') + 10
            };
            v * w
        })
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from(b'0' + d as u8),
    }
}

const USCC_ALPHA: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// GB 32100 check character of the first 17 characters of a USCC.
pub fn gb32100_char(first17: &str) -> char {
    const W: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(c, w)| USCC_ALPHA.iter().position(|&a| a == c).unwrap() as u32 * w)
        .sum();
    USCC_ALPHA[((31 - sum % 31) % 31) as usize] as char
}

/// ISO 13616 remainder of `s` (digits and upper-case letters) mod 97.
fn mod97(s: &str) -> u32 {
    let mut r = 0u32;
    for c in s.bytes() {
        r = if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    r
}

/// A full IBAN (compact) for `country` and `bban`.
pub fn make_iban(country: &str, bban: &str) -> String {
    let check = 98 - mod97(&format!("{bban}{country}00"));
    format!("{country}{check:02}{bban}")
}

pub fn iban_ok(iban: &str) -> bool {
    mod97(&format!("{}{}", &iban[4..], &iban[..4])) == 1
}

fn days_in(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// ---------------------------------------------------------------------------------
// Value generators.

fn digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn pick<'a>(rng: &mut ChaCha8Rng, v: &[&'a str]) -> &'a str {
    v.choose(rng).unwrap()
}

/// A birth date (y, m, d) between 1950 and 2005.
fn birth(rng: &mut ChaCha8Rng) -> (u32, u32, u32) {
    let y = rng.random_range(1950..=2005);
    let m = rng.random_range(1..=12);
    let d = rng.random_range(1..=days_in(y, m));
    (y, m, d)
}

const REGIONS: &[&str] = &[
    "110105", "110108", "310104", "310115", "440106", "440305", "320102", "330106", "510104",
    "420106", "370102", "610113", "500103", "120101", "210102", "350203", "430104", "410105",
    "130102", "450103", "530102", "360102", "340104", "220102",
];

fn cn_id(rng: &mut ChaCha8Rng) -> String {
    let (y, m, d) = birth(rng);
    let body = format!("{}{y:04}{m:02}{d:02}{}", pick(rng, REGIONS), digits(rng, 3));
    let c = gb11643_char(&body);
    format!("{body}{c}")
}

const MOBILE_PREFIX: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
];

fn mobile(rng: &mut ChaCha8Rng) -> (String, String, String) {
    (
        pick(rng, MOBILE_PREFIX).to_string(),
        digits(rng, 4),
        digits(rng, 4),
    )
}

fn local_number(rng: &mut ChaCha8Rng, n: usize) -> String {
    format!("{}{}", rng.random_range(2..=8), digits(rng, n - 1))
}

fn card(rng: &mut ChaCha8Rng) -> String {
    let prefix = match rng.random_range(0..10) {
        0..=4 => format!(
            "{}{}",
            pick(
                rng,
                &["622202", "622848", "621700", "622588", "623668", "622609"]
            ),
            digits(rng, 12)
        ),
        5 => format!(
            "{}{}",
            pick(rng, &["622202", "621226", "622848"]),
            digits(rng, 9)
        ),
        6..=7 => format!("4{}", digits(rng, 14)),
        _ => format!("5{}{}", rng.random_range(1..=5), digits(rng, 13)),
    };
    let c = luhn_digit(&prefix);
    format!("{prefix}{c}")
}

fn group4(s: &str, sep: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(sep)
}

fn uscc(rng: &mut ChaCha8Rng) -> String {
    let body: String = if rng.random_bool(0.6) {
        let tail: String = (0..6)
            .map(|_| char::from(*USCC_ALPHA.choose(rng).unwrap()))
            .collect();
        format!("MA{tail}")
    } else {
        digits(rng, 8)
    };
    let org = format!("{body}{}", gb11714_char(&body));
    let first = format!(
        "{}{}{}",
        pick(rng, &["91", "91", "91", "92", "12", "52"]),
        pick(rng, REGIONS),
        org
    );
    format!("{first}{}", gb32100_char(&first))
}

const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
const PLATE_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

fn plate(rng: &mut ChaCha8Rng) -> String {
    let prov: Vec<char> = PROVINCES.chars().collect();
    let p = *prov.choose(rng).unwrap();
    let auth = char::from(*PLATE_LETTERS[..12].choose(rng).unwrap());
    let letter = |rng: &mut ChaCha8Rng| char::from(*PLATE_LETTERS.choose(rng).unwrap());
    let serial: String = match rng.random_range(0..10) {
        // New-energy small car: D/F, a letter or digit, four digits.
        0..=1 => {
            let second = if rng.random_bool(0.5) {
                letter(rng)
            } else {
                char::from(b'0' + rng.random_range(0..10u8))
            };
            format!("{}{second}{}", pick(rng, &["D", "F"]), digits(rng, 4))
        }
        // New-energy large vehicle: five digits, then D/F.
        2 => format!("{}{}", digits(rng, 5), pick(rng, &["D", "F"])),
        // Ordinary: five characters, at most two letters.
        _ => {
            let mut s: Vec<char> = digits(rng, 5).chars().collect();
            for _ in 0..rng.random_range(0..=2) {
                let i = rng.random_range(0..5);
                s[i] = letter(rng);
            }
            s.into_iter().collect()
        }
    };
    let sep = if rng.random_bool(0.3) { "·" } else { "" };
    format!("{p}{auth}{sep}{serial}")
}

fn passport(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..3) {
        0 => format!("G{}", digits(rng, 8)),
        1 => format!("E{}", digits(rng, 8)),
        _ => format!(
            "E{}{}",
            char::from(*PLATE_LETTERS.choose(rng).unwrap()),
            digits(rng, 7)
        ),
    }
}

fn ssn(rng: &mut ChaCha8Rng) -> (String, String, String) {
    loop {
        let area = rng.random_range(1..=899u32);
        if area == 666 {
            continue;
        }
        let group = rng.random_range(1..=99u32);
        let serial = rng.random_range(1..=9999u32);
        let s = format!("{area:03}{group:02}{serial:04}");
        if s.bytes().all(|c| c == s.as_bytes()[0]) || s == "123456789" {
            continue;
        }
        return (
            format!("{area:03}"),
            format!("{group:02}"),
            format!("{serial:04}"),
        );
    }
}

fn iban(rng: &mut ChaCha8Rng) -> String {
    let (country, bban) = match rng.random_range(0..6) {
        0 | 1 => ("DE", digits(rng, 18)),
        2 => (
            "GB",
            format!(
                "{}{}",
                pick(rng, &["NWBK", "BARC", "HBUK", "LOYD", "MIDL"]),
                digits(rng, 14)
            ),
        ),
        3 => ("FR", digits(rng, 23)),
        4 => (
            "NL",
            format!(
                "{}{}",
                pick(rng, &["ABNA", "RABO", "INGB"]),
                digits(rng, 10)
            ),
        ),
        _ => ("ES", digits(rng, 20)),
    };
    make_iban(country, &bban)
}

const ZH_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "沈",
    "欧阳", "司马", "上官",
];
const ZH_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "霞", "平", "刚", "桂", "兰", "玲", "华", "飞", "鹏", "辉", "玉", "萍", "红",
    "建", "国", "文", "浩", "宇", "轩", "子", "涵", "梓", "欣", "怡", "雨", "萱", "晨", "博", "思",
    "佳", "俊", "雪", "琳", "晓", "海", "凯", "婷", "志", "斌", "宁", "波", "慧", "颖", "鑫", "中",
];
const EN_FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Daniel",
    "Karen",
    "Emily",
    "Oliver",
    "Sophie",
    "Harry",
    "Chloe",
    "Kevin",
    "Laura",
];
const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
    "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Evans", "O'Brien", "McDonald",
    "Hughes",
];

fn zh_name(rng: &mut ChaCha8Rng) -> String {
    let n = if rng.random_bool(0.55) { 2 } else { 1 };
    let mut s = pick(rng, ZH_SURNAMES).to_string();
    // 小 is a common first given-name character (李小明), never a last one.
    if n == 2 && rng.random_bool(0.06) {
        s.push('小');
        s.push_str(pick(rng, ZH_GIVEN));
        return s;
    }
    for _ in 0..n {
        s.push_str(pick(rng, ZH_GIVEN));
    }
    s
}

fn zh_address(rng: &mut ChaCha8Rng) -> String {
    const CITIES: &[(&str, &str, &[&str])] = &[
        ("", "北京市", &["朝阳区", "海淀区", "东城区", "丰台区"]),
        ("", "上海市", &["浦东新区", "徐汇区", "静安区", "闵行区"]),
        ("广东省", "广州市", &["天河区", "越秀区", "番禺区"]),
        ("广东省", "深圳市", &["南山区", "福田区", "宝安区"]),
        ("浙江省", "杭州市", &["西湖区", "滨江区", "余杭区"]),
        ("江苏省", "南京市", &["鼓楼区", "玄武区", "江宁区"]),
        ("四川省", "成都市", &["武侯区", "锦江区", "高新区"]),
        ("湖北省", "武汉市", &["洪山区", "武昌区", "江汉区"]),
        ("山东省", "青岛市", &["崂山区", "市南区", "黄岛区"]),
        ("陕西省", "西安市", &["雁塔区", "碑林区", "未央区"]),
    ];
    const ROADS: &[&str] = &[
        "中山路",
        "人民路",
        "解放路",
        "建设路",
        "和平路",
        "文三路",
        "科技园路",
        "新华路",
        "长江路",
        "光明大道",
        "东风路",
        "学院路",
        "振兴街",
        "建国路",
        "珠江路",
    ];
    const ESTATES: &[&str] = &[
        "阳光花园",
        "翠湖小区",
        "万科城",
        "金色家园",
        "锦绣花园",
        "华府公寓",
        "碧桂园",
        "幸福里",
        "绿地中心",
        "滨江花园",
    ];
    let (prov, city, districts) = CITIES.choose(rng).unwrap();
    let with_prov = !prov.is_empty() && rng.random_bool(0.5);
    let with_city = with_prov || rng.random_bool(0.85);
    let mut s = String::new();
    if with_prov {
        s.push_str(prov);
    }
    if with_city {
        s.push_str(city);
    }
    s.push_str(pick(rng, districts));
    s.push_str(pick(rng, ROADS));
    // Shanghai lane addresses: road, lane (弄), house number.
    if *city == "上海市" && rng.random_bool(0.4) {
        let _ = write!(
            s,
            "{}弄{}号{}室",
            rng.random_range(1..=999),
            rng.random_range(1..=60),
            rng.random_range(1..=30) * 100 + rng.random_range(1..=6)
        );
        return s;
    }
    let _ = write!(s, "{}号", rng.random_range(1..=999));
    match rng.random_range(0..8) {
        0 | 6 => {}
        // Office tower with a lettered block.
        4 => {
            let _ = write!(
                s,
                "{}{}座{}室",
                pick(
                    rng,
                    &["国贸大厦", "财富中心", "维多利广场", "环球中心", "科技大厦"]
                ),
                pick(rng, &["A", "B", "C"]),
                rng.random_range(5..=40) * 100 + rng.random_range(1..=20)
            );
        }
        // Building and flat number without 室, as people type it.
        5 => {
            let _ = write!(
                s,
                "{}{}号楼{}",
                pick(rng, ESTATES),
                rng.random_range(1..=20),
                rng.random_range(1..=28) * 100 + rng.random_range(1..=6)
            );
        }
        1 => {
            let _ = write!(
                s,
                "{}{}栋{}单元{}室",
                pick(rng, ESTATES),
                rng.random_range(1..=30),
                rng.random_range(1..=6),
                rng.random_range(1..=33) * 100 + rng.random_range(1..=6)
            );
        }
        2 => {
            let _ = write!(
                s,
                "{}号楼{}室",
                rng.random_range(1..=20),
                rng.random_range(1..=28) * 100 + rng.random_range(1..=12)
            );
        }
        _ => {
            // 3 and 7: estate, building, room.
            let _ = write!(
                s,
                "{}{}栋{}室",
                pick(rng, ESTATES),
                rng.random_range(1..=30),
                rng.random_range(1..=33) * 100 + rng.random_range(1..=6)
            );
        }
    }
    s
}

fn en_address(rng: &mut ChaCha8Rng) -> String {
    const STREETS: &[&str] = &[
        "Oak",
        "Maple",
        "Cedar",
        "Elm",
        "Pine",
        "Washington",
        "Lincoln",
        "Sunset",
        "Lake",
        "Church",
        "High",
        "Station",
        "Victoria",
        "King",
        "Mill",
        "Park View",
        "Spring",
    ];
    const US_SUFFIX: &[&str] = &[
        "Street", "St", "Avenue", "Ave", "Road", "Rd", "Drive", "Dr", "Lane", "Blvd", "Way",
        "Court",
    ];
    const US_CITIES: &[(&str, &str)] = &[
        ("Springfield", "IL"),
        ("Austin", "TX"),
        ("Brooklyn", "NY"),
        ("Seattle", "WA"),
        ("San Jose", "CA"),
        ("Denver", "CO"),
        ("Portland", "OR"),
        ("Boston", "MA"),
    ];
    const UK: &[(&str, &str)] = &[
        ("London", "SW1A 1AA"),
        ("Leeds", "LS1 8DE"),
        ("Oxford", "OX1 2JD"),
        ("Manchester", "M1 4BT"),
        ("Bristol", "BS1 5TR"),
        ("Edinburgh", "EH1 1YZ"),
    ];
    let n = rng.random_range(1..=9999);
    let street = pick(rng, STREETS);
    if rng.random_bool(0.65) {
        let (city, st) = US_CITIES.choose(rng).unwrap();
        let apt = if rng.random_bool(0.2) {
            format!("Apt {}, ", rng.random_range(1..=40))
        } else {
            String::new()
        };
        let zip = rng.random_range(10000..=99999);
        format!(
            "{apt}{n} {street} {}, {city}, {st} {zip}",
            pick(rng, US_SUFFIX)
        )
    } else {
        let (city, pc) = UK.choose(rng).unwrap();
        let flat = if rng.random_bool(0.3) {
            format!("Flat {}, ", rng.random_range(1..=30))
        } else {
            String::new()
        };
        let suffix = pick(
            rng,
            &["Road", "Street", "Lane", "Avenue", "Close", "Gardens"],
        );
        format!("{flat}{} {street} {suffix}, {city} {pc}", n % 300 + 1)
    }
}

fn zh_date(rng: &mut ChaCha8Rng, y: u32, m: u32, d: u32) -> String {
    match rng.random_range(0..4) {
        0 | 1 => format!("{y}年{m}月{d}日"),
        2 => format!("{y}-{m:02}-{d:02}"),
        _ => format!("{y}/{m}/{d}"),
    }
}

fn en_date(rng: &mut ChaCha8Rng, y: u32, m: u32, d: u32) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[(m - 1) as usize];
    match rng.random_range(0..5) {
        0 => format!("{m:02}/{d:02}/{y}"),
        1 => format!("{month} {d}, {y}"),
        2 => format!("{d} {month} {y}"),
        3 => format!("{y}-{m:02}-{d:02}"),
        _ => format!("{} {d}, {y}", &month[..3]),
    }
}

fn pinyin_local(rng: &mut ChaCha8Rng) -> String {
    const P: &[&str] = &[
        "zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun",
        "ma", "zhu", "hu", "guo", "lin", "luo",
    ];
    const G: &[&str] = &[
        "wei", "fang", "na", "min", "jing", "lei", "jun", "yang", "jie", "tao", "ming", "hua",
        "xin", "yu", "hao", "chen", "bo", "jia",
    ];
    match rng.random_range(0..4) {
        0 => format!("{}.{}", pick(rng, P), pick(rng, G)),
        1 => format!(
            "{}{}{}",
            pick(rng, P),
            pick(rng, G),
            rng.random_range(1..99)
        ),
        2 => format!("{}_{}", pick(rng, G), pick(rng, P)),
        _ => format!("{}{}", pick(rng, P), pick(rng, G)),
    }
}

fn email(rng: &mut ChaCha8Rng, zh: bool) -> String {
    let local = if zh || rng.random_bool(0.3) {
        pinyin_local(rng)
    } else {
        format!(
            "{}.{}",
            pick(rng, EN_FIRST).to_lowercase(),
            pick(rng, EN_LAST).to_lowercase().replace('\'', "")
        )
    };
    let domain = if zh {
        pick(
            rng,
            &[
                "163.com",
                "qq.com",
                "126.com",
                "sina.com",
                "example.com",
                "company.com.cn",
                "foxmail.com",
            ],
        )
    } else {
        pick(
            rng,
            &[
                "gmail.com",
                "outlook.com",
                "yahoo.com",
                "example.com",
                "acme.co.uk",
                "mail.example.org",
            ],
        )
    };
    format!("{local}@{domain}")
}

fn url(rng: &mut ChaCha8Rng) -> String {
    let host = pick(
        rng,
        &[
            "www.example.com",
            "shop.example.cn",
            "docs.acme.io",
            "www.taobao.com",
            "item.jd.com",
            "portal.company.com.cn",
            "github.com",
            "drive.example.org",
        ],
    );
    match rng.random_range(0..4) {
        0 => format!("https://{host}/order?id={}", digits(rng, 8)),
        1 => format!("https://{host}/u/{}", pinyin_local(rng).replace('.', "")),
        2 => format!("http://{host}/item/{}.html", digits(rng, 6)),
        _ => format!("https://{host}/s/{}", digits(rng, 5)),
    }
}

fn ipv4(rng: &mut ChaCha8Rng) -> String {
    let first = *[
        117u32, 220, 183, 36, 58, 112, 61, 203, 192, 10, 172, 101, 223, 114,
    ]
    .choose(rng)
    .unwrap();
    format!(
        "{first}.{}.{}.{}",
        rng.random_range(0..=255),
        rng.random_range(0..=255),
        rng.random_range(1..=254)
    )
}

fn ipv6(rng: &mut ChaCha8Rng) -> String {
    let h = |rng: &mut ChaCha8Rng| format!("{:x}", rng.random_range(1..=0xffffu32));
    match rng.random_range(0..3) {
        0 => format!(
            "2001:db8:{}:{}::{}",
            h(rng),
            h(rng),
            rng.random_range(1..=99)
        ),
        1 => format!(
            "240e:{}:{}:{}:{}:{}:{}:{}",
            h(rng),
            h(rng),
            h(rng),
            h(rng),
            h(rng),
            h(rng),
            h(rng)
        ),
        _ => format!("fe80::{}:{}:{}:{}", h(rng), h(rng), h(rng), h(rng)),
    }
}

// ---------------------------------------------------------------------------------
// Sentences with a planted entity: (sentence, value).

fn fill(t: &str, v: &str) -> String {
    t.replace("{}", v)
}

fn entity_sentence(rng: &mut ChaCha8Rng, kind: &str, zh: bool) -> (String, String) {
    let (tpl, value): (&str, String) = match kind {
        "CN_ID_CARD" => {
            let id = cn_id(rng);
            let v = match rng.random_range(0..10) {
                0 | 1 => format!("{} {} {}", &id[..6], &id[6..14], &id[14..]),
                2 if id.ends_with('X') => id.replace('X', "x"),
                _ => id,
            };
            let t = if zh {
                pick(
                    rng,
                    &[
                        "我的身份证号是{}，请帮忙核实。",
                        "身份证号码：{}。",
                        "证件号{}已经提交了。",
                        "客户身份证{}，办理开户。",
                        "请核对身份证号码{}是否正确。",
                        "入职登记表上的身份证号填的是{}。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &[
                        "My ID card number is {}.",
                        "Chinese ID no. {} was attached to the form.",
                        "Resident ID: {}.",
                    ],
                )
            };
            (t, v)
        }
        "PHONE" => {
            let (a, b, c) = mobile(rng);
            let cn_mobile = match rng.random_range(0..9) {
                0..=2 => format!("{a}{b}{c}"),
                8 => format!("0086 {a}{b}{c}"),
                3 => format!("{a} {b} {c}"),
                4 => format!("{a}-{b}-{c}"),
                5 => format!("+86 {a}{b}{c}"),
                6 => format!("+86 {a} {b} {c}"),
                _ => format!("+86-{a}-{b}-{c}"),
            };
            if zh {
                let v = if rng.random_bool(0.7) {
                    cn_mobile
                } else {
                    let (area, n) = *[
                        ("010", 8),
                        ("020", 8),
                        ("021", 8),
                        ("022", 8),
                        ("025", 8),
                        ("027", 8),
                        ("028", 8),
                        ("029", 8),
                        ("0755", 8),
                        ("0571", 8),
                        ("0512", 8),
                        ("0532", 8),
                        ("0731", 7),
                        ("0991", 7),
                    ]
                    .choose(rng)
                    .unwrap();
                    let local = local_number(rng, n);
                    if rng.random_bool(0.15) {
                        // An extension after 转 is not part of the value.
                        let v = format!("{area}-{local}");
                        let ext = rng.random_range(100..9000);
                        return (format!("座机{v}转{ext}，找行政部。"), v);
                    }
                    match rng.random_range(0..4) {
                        0 | 1 => format!("{area}-{local}"),
                        2 => format!("({area}){local}"),
                        _ => format!("（{area}）{local}"),
                    }
                };
                let t = pick(
                    rng,
                    &[
                        "我的手机号是{}，有问题随时联系。",
                        "联系电话：{}。",
                        "请拨打{}找前台。",
                        "电话{}，工作日都在。",
                        "麻烦回电{}，谢谢。",
                        "手机{}（微信同号）。",
                        "办公室座机{}。",
                    ],
                );
                (t, v)
            } else {
                let v = match rng.random_range(0..8) {
                    0 => format!(
                        "({}) {}-{}",
                        local_number(rng, 3),
                        local_number(rng, 3),
                        digits(rng, 4)
                    ),
                    1 => format!(
                        "{}-{}-{}",
                        local_number(rng, 3),
                        local_number(rng, 3),
                        digits(rng, 4)
                    ),
                    2 => format!(
                        "+1 {} {} {}",
                        local_number(rng, 3),
                        local_number(rng, 3),
                        digits(rng, 4)
                    ),
                    3 => format!("+44 20 7{} {}", digits(rng, 3), digits(rng, 4)),
                    4 => format!("+44 7{} {}", digits(rng, 3), digits(rng, 6)),
                    5 => format!("020 7{} {}", digits(rng, 3), digits(rng, 4)),
                    _ => cn_mobile,
                };
                let t = pick(
                    rng,
                    &[
                        "You can reach me at {}.",
                        "My phone number is {} if anything comes up.",
                        "Please call {} after 5pm.",
                        "Mobile: {}.",
                        "Contact number {} (office hours only).",
                    ],
                );
                (t, v)
            }
        }
        "BANK_CARD" => {
            let c = card(rng);
            let v = if rng.random_bool(0.3) {
                group4(&c, " ")
            } else if c.len() == 16 && rng.random_bool(0.1) {
                group4(&c, "-")
            } else {
                c
            };
            let t = if zh {
                pick(
                    rng,
                    &[
                        "退款请打到我的银行卡{}。",
                        "工资卡卡号：{}，开户行招商银行。",
                        "我用信用卡{}付的款。",
                        "收款账号{}，户主本人。",
                        "卡号{}已经挂失了。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &[
                        "Please refund to card {}.",
                        "I paid with my credit card {} yesterday.",
                        "Card number: {}.",
                        "The charge on {} was duplicated.",
                    ],
                )
            };
            (t, v)
        }
        "EMAIL" => {
            let v = email(rng, zh);
            let t = if zh {
                pick(
                    rng,
                    &[
                        "邮箱{}，请把合同发过来。",
                        "简历已发送至{}。",
                        "我的邮箱是{}。",
                        "有问题请发邮件到{}，谢谢。",
                        "联系邮箱：{}。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &[
                        "Please email me at {}.",
                        "My email is {}, thanks.",
                        "Send the invoice to {} by Friday.",
                        "(email: {})",
                    ],
                )
            };
            (t, v)
        }
        "URL" => {
            let v = url(rng);
            let t = if zh {
                pick(
                    rng,
                    &[
                        "商品链接{}，麻烦看一下。",
                        "请访问{}查看订单详情。",
                        "这是我的个人主页：{}。",
                        "下载地址{} 。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &[
                        "See {} for the details.",
                        "My profile is at {}.",
                        "The link {} no longer works.",
                    ],
                )
            };
            (t, v)
        }
        "IP_ADDRESS" => {
            let v = if rng.random_bool(0.8) {
                ipv4(rng)
            } else {
                ipv6(rng)
            };
            if v.contains('.') && rng.random_bool(0.15) {
                // host:port; the port is not part of the value.
                let port = pick(rng, &["8080", "443", "3306", "22"]);
                let t = if zh {
                    format!("后台{v}:{port}打不开。")
                } else {
                    format!("The service at {v}:{port} is down.")
                };
                return (t, v);
            }
            let t = if zh {
                pick(
                    rng,
                    &[
                        "登录IP为{}。",
                        "异常登录来自IP地址{}，请确认是否本人操作。",
                        "服务器地址：{}。",
                        "我家宽带的IP是{}，一直连不上。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &[
                        "The login came from IP {}.",
                        "Our VPN gateway is {}.",
                        "Blocked address: {}.",
                    ],
                )
            };
            (t, v)
        }
        "CN_USCC" => {
            let v = uscc(rng);
            let t = pick(
                rng,
                &[
                    "公司统一社会信用代码：{}。",
                    "发票抬头的税号是{}。",
                    "开票信息：纳税人识别号{}。",
                    "供应商信用代码{}，请核对。",
                ],
            );
            (t, v)
        }
        "CN_LICENSE_PLATE" => {
            let v = plate(rng);
            let t = pick(
                rng,
                &[
                    "车牌号{}，停在B2层。",
                    "我的车牌是{}。",
                    "车牌号码：{}。",
                    "{}的车主请尽快挪车。",
                    "违章车辆{}已登记。",
                ],
            );
            (t, v)
        }
        "PASSPORT" => {
            let v = passport(rng);
            let t = if zh {
                pick(
                    rng,
                    &[
                        "护照号{}，下个月到期。",
                        "护照号码：{}。",
                        "我的护照是{}，签证还在办。",
                        "出行人护照{}已录入。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &[
                        "Passport no. {} expires next year.",
                        "My passport number is {}.",
                        "Passport: {}.",
                    ],
                )
            };
            (t, v)
        }
        "US_SSN" => {
            let (a, g, s) = ssn(rng);
            let v = match rng.random_range(0..10) {
                0..=6 => format!("{a}-{g}-{s}"),
                7 | 8 => format!("{a} {g} {s}"),
                _ => format!("{a}{g}{s}"),
            };
            let t = if zh {
                pick(rng, &["员工的SSN是{}。", "美国社会安全号（SSN）：{}。"])
            } else {
                pick(
                    rng,
                    &[
                        "My SSN is {}.",
                        "SSN: {}.",
                        "Social Security number {} on the W-4.",
                        "Employee SSN {} needs to be corrected.",
                    ],
                )
            };
            (t, v)
        }
        "IBAN" => {
            let i = iban(rng);
            let v = if rng.random_bool(0.5) {
                group4(&i, " ")
            } else {
                i
            };
            let t = if zh {
                pick(
                    rng,
                    &[
                        "境外收款账户IBAN：{}。",
                        "请汇款至{}，户名同上。",
                        "IBAN {}，SWIFT码另附。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &[
                        "IBAN: {}.",
                        "Please transfer to {} by Monday.",
                        "My IBAN is {}.",
                    ],
                )
            };
            (t, v)
        }
        "DATE_OF_BIRTH" => {
            let (y, m, d) = birth(rng);
            if zh && rng.random_bool(0.1) {
                // HR forms (简历/登记表) give the year and month only.
                let v = if rng.random_bool(0.5) {
                    format!("{y}年{m}月")
                } else {
                    format!("{y}.{m:02}")
                };
                ("出生年月：{}，籍贯湖南。", v)
            } else if zh {
                let v = zh_date(rng, y, m, d);
                let t = pick(
                    rng,
                    &[
                        "出生日期：{}。",
                        "我的生日是{}。",
                        "本人出生于{}，籍贯湖南。",
                        "员工生日{}，记得准备蛋糕。",
                    ],
                );
                (t, v)
            } else {
                let v = en_date(rng, y, m, d);
                let t = pick(
                    rng,
                    &[
                        "DOB: {}.",
                        "D.O.B. {}.",
                        "Date of birth: {}.",
                        "I was born on {}.",
                        "Birthday {}, please update the record.",
                    ],
                );
                (t, v)
            }
        }
        "PERSON" => {
            if zh {
                let v = zh_name(rng);
                let t = pick(
                    rng,
                    &[
                        "联系人：{}。",
                        "收件人{}，电话已留。",
                        "您好，我叫{}，想咨询一下。",
                        "客户{}反映商品有质量问题。",
                        "请转告{}明天来面试。",
                        "{}先生您好，您的快递已到。",
                        "{}女士，感谢您的耐心等待。",
                        "负责人：{}。",
                        "持卡人姓名：{}。",
                        "姓名：{}，性别男。",
                    ],
                );
                (t, v)
            } else {
                let first = pick(rng, EN_FIRST);
                let last = pick(rng, EN_LAST);
                let full = format!("{first} {last}");
                match rng.random_range(0..9) {
                    7 => return (format!("Hi {full}, thanks for reaching out."), full),
                    8 => {
                        let initial = char::from(*PLATE_LETTERS.choose(rng).unwrap());
                        let v = format!("{first} {initial}. {last}");
                        return (format!("Please contact {v} for the keys."), v);
                    }
                    0 => ("My name is {} and I placed the order.", full),
                    1 => ("Dear {},", full),
                    2 => ("Please contact {} for the keys.", full),
                    3 => ("Customer {} called about a refund.", full),
                    4 => ("Regards, {}", full),
                    5 => ("Dear Mr. {},", last.to_string()),
                    _ => ("Ms. {} will join on Monday.", full),
                }
            }
        }
        "ADDRESS" => {
            if zh {
                let v = zh_address(rng);
                let t = pick(
                    rng,
                    &[
                        "收货地址：{}。",
                        "麻烦寄到{}，谢谢。",
                        "我家住在{}。",
                        "公司地址是{}，欢迎来访。",
                        "地址{}，请按门铃。",
                    ],
                );
                (t, v)
            } else {
                let v = en_address(rng);
                let t = pick(
                    rng,
                    &[
                        "Please ship it to {}.",
                        "My address is {}.",
                        "I moved to {} last month.",
                        "Mailing address: {}.",
                    ],
                );
                (t, v)
            }
        }
        other => unreachable!("unknown type {other}"),
    };
    (fill(tpl, &value), value)
}

/// Types planted in each language (plates and USCC only in Chinese text, where they
/// occur in practice).
const ZH_TYPES: &[&str] = &TYPES;
const EN_TYPES: &[&str] = &[
    "CN_ID_CARD",
    "PHONE",
    "BANK_CARD",
    "EMAIL",
    "URL",
    "IP_ADDRESS",
    "PASSPORT",
    "US_SSN",
    "IBAN",
    "DATE_OF_BIRTH",
    "PERSON",
    "ADDRESS",
];

// ---------------------------------------------------------------------------------
// Hard negatives: (sentence, value).

fn negative_sentence(rng: &mut ChaCha8Rng, kind: &str, zh: bool) -> (String, String) {
    let (tpl, value): (&str, String) = match kind {
        "luhn_invalid_order" => {
            let v = loop {
                let n = if rng.random_bool(0.5) {
                    format!(
                        "{}{}",
                        pick(rng, &["6222", "6228", "6217"]),
                        digits(rng, 15)
                    )
                } else {
                    format!("4000{}", digits(rng, 12))
                };
                if !luhn_ok(&n) {
                    break n;
                }
            };
            let t = if zh {
                pick(
                    rng,
                    &[
                        "订单号{}，请尽快发货。",
                        "您的订单{}已签收。",
                        "售后单号：{}。",
                    ],
                )
            } else {
                pick(rng, &["Order {} has shipped.", "Reference number {}."])
            };
            (t, v)
        }
        "wrong_check_id" => {
            // 18 digits shaped like an ID (region, date, sequence), with a wrong check
            // digit and not Luhn-valid either (an 18-digit Luhn-valid number is a
            // legitimate card reading).
            let v = loop {
                let id = cn_id(rng);
                let body = &id[..17];
                let good = gb11643_char(body);
                let bad = char::from(b'0' + rng.random_range(0..10u8));
                if bad == good {
                    continue;
                }
                let n = format!("{body}{bad}");
                if !luhn_ok(&n) {
                    break n;
                }
            };
            let t = if zh {
                pick(
                    rng,
                    &["交易流水号{}。", "流水号{}，金额已到账。", "批次号：{}。"],
                )
            } else {
                pick(rng, &["Transaction ref {}.", "Batch {} was processed."])
            };
            (t, v)
        }
        "non_mobile_11" => {
            let v = format!("{}{}", rng.random_range(2..=9), digits(rng, 10));
            let t = if zh {
                pick(
                    rng,
                    &["编号{}。", "资产编号{}的设备需要维修。", "工单{}已关闭。"],
                )
            } else {
                pick(rng, &["Ticket {} is closed.", "Asset tag {} needs repair."])
            };
            (t, v)
        }
        "version" => {
            let v = match rng.random_range(0..4) {
                0 => format!(
                    "v{}.{}.{}.{}.{}",
                    rng.random_range(1..10),
                    rng.random_range(0..20),
                    rng.random_range(0..20),
                    rng.random_range(0..10),
                    rng.random_range(0..100)
                ),
                1 => format!(
                    "{}.{}.{}",
                    rng.random_range(1..10),
                    rng.random_range(0..20),
                    rng.random_range(0..30)
                ),
                2 => format!(
                    "V{}.{}.{}.{}",
                    rng.random_range(1..10),
                    rng.random_range(0..10),
                    rng.random_range(0..10),
                    rng.random_range(0..1000)
                ),
                _ => format!(
                    "v{}.{}.{}",
                    rng.random_range(1..10),
                    rng.random_range(0..20),
                    rng.random_range(0..30)
                ),
            };
            let t = if zh {
                pick(
                    rng,
                    &[
                        "App版本{}，还是闪退。",
                        "固件升级到{}后恢复正常。",
                        "当前版本：{}。",
                    ],
                )
            } else {
                pick(
                    rng,
                    &["I'm on version {} of the app.", "Firmware {} fixed it."],
                )
            };
            (t, v)
        }
        "price" => {
            let v = match rng.random_range(0..4) {
                0 => format!(
                    "¥{},{:03}.00",
                    rng.random_range(1..10),
                    rng.random_range(0..1000)
                ),
                1 => format!(
                    "${},{:03}.99",
                    rng.random_range(1..10),
                    rng.random_range(0..1000)
                ),
                2 => format!(
                    "￥{}.{:02}",
                    rng.random_range(10..1000),
                    rng.random_range(0..100)
                ),
                _ => format!(
                    "€{}.{:02}",
                    rng.random_range(10..1000),
                    rng.random_range(0..100)
                ),
            };
            let t = if zh {
                pick(
                    rng,
                    &[
                        "实付{}，没用优惠券。",
                        "价格{}，比上周贵了。",
                        "退款金额{}。",
                    ],
                )
            } else {
                pick(rng, &["It cost {} in total.", "I was charged {} twice."])
            };
            (t, v)
        }
        "date_no_birth" => {
            let y = rng.random_range(2019..=2025);
            let m = rng.random_range(1..=12);
            let d = rng.random_range(1..=days_in(y, m));
            let (t, v) = if zh {
                let v = if rng.random_bool(0.6) {
                    format!("{y}-{m:02}-{d:02}")
                } else {
                    format!("{y}年{m}月{d}日")
                };
                (
                    pick(rng, &["订单日期{}。", "我在{}下的单。", "合同于{}到期。"]),
                    v,
                )
            } else {
                let v = if rng.random_bool(0.6) {
                    format!("{y}-{m:02}-{d:02}")
                } else {
                    format!("{m:02}/{d:02}/{y}")
                };
                (
                    pick(rng, &["The order was placed on {}.", "Invoice dated {}."]),
                    v,
                )
            };
            (t, v)
        }
        "time" => {
            let v = if rng.random_bool(0.5) {
                format!(
                    "{:02}:{:02}",
                    rng.random_range(0..24),
                    rng.random_range(0..60)
                )
            } else {
                format!(
                    "{:02}:{:02}:{:02}",
                    rng.random_range(0..24),
                    rng.random_range(0..60),
                    rng.random_range(0..60)
                )
            };
            let t = if zh {
                pick(rng, &["我们约在{}见面。", "系统在{}自动重启了。"])
            } else {
                pick(
                    rng,
                    &["The meeting starts at {}.", "It crashed at {} again."],
                )
            };
            (t, v)
        }
        "tracking" => {
            let v = match rng.random_range(0..4) {
                0 => format!("SF{}", digits(rng, 13)),
                1 => format!("YT{}", digits(rng, 13)),
                2 => format!("JDV{}", digits(rng, 12)),
                _ => format!("75{}", digits(rng, 10)),
            };
            let t = if zh {
                pick(rng, &["快递单号{}，还没更新物流。", "运单号：{}。"])
            } else {
                pick(rng, &["Tracking number {}.", "The parcel {} is stuck."])
            };
            (t, v)
        }
        other => unreachable!("unknown negative kind {other}"),
    };
    (fill(tpl, &value), value)
}

const ZH_FILLER: &[&str] = &[
    "您好，我想咨询一下退货流程。",
    "商品已经收到了，但是包装有破损。",
    "麻烦尽快帮我处理，谢谢！",
    "请问什么时候可以发货？",
    "我们部门下周一开会讨论这个问题。",
    "这是我第一次在你们店里买东西。",
    "新员工入职手续已经办完了。",
    "附件是填写好的登记表，请查收。",
    "系统一直提示网络错误。",
    "希望能换一个新的，不想退款。",
    "上次客服说三天内回复，到现在还没消息。",
    "好的，已经记录下来了。",
    "劳动合同一式两份，请签字后寄回。",
    "这个问题我们会在24小时内答复。",
    "感谢您的反馈，祝您生活愉快。",
];
const EN_FILLER: &[&str] = &[
    "Hi, I'm writing about my recent order.",
    "The package arrived damaged.",
    "Thanks for your help with this.",
    "Could you let me know when it will ship?",
    "The onboarding paperwork is complete.",
    "Please find the signed contract attached.",
    "I would prefer a replacement rather than a refund.",
    "We will get back to you within 24 hours.",
    "The app keeps showing a network error.",
    "Let me know if you need anything else.",
    "Our team reviewed the request this morning.",
];

/// `n` labelled records, a pure function of `(n, seed)`.
pub fn generate(n: usize, seed: u64) -> Vec<(Value, Truth)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let zh = rng.random_bool(0.6);
        let id = format!("e{:06}", i + 1);
        let mut parts: Vec<String> = Vec::new();
        let mut entities = Vec::new();
        let mut negatives = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let f = if zh { ZH_FILLER } else { EN_FILLER };
            parts.push(pick(&mut rng, f).to_string());
        }
        let n_ent = *[0, 1, 1, 2, 2, 2, 3, 3].choose(&mut rng).unwrap();
        for _ in 0..n_ent {
            let kind = pick(&mut rng, if zh { ZH_TYPES } else { EN_TYPES });
            let (s, v) = entity_sentence(&mut rng, kind, zh);
            parts.push(s);
            entities.push(Entity {
                kind: TYPES.iter().find(|t| **t == kind).unwrap(),
                value: v,
            });
        }
        let n_neg = *[0, 0, 1, 1, 2].choose(&mut rng).unwrap();
        for _ in 0..n_neg {
            let kind = pick(&mut rng, &NEG_KINDS);
            let (s, v) = negative_sentence(&mut rng, kind, zh);
            parts.push(s);
            negatives.push(Negative {
                kind: NEG_KINDS.iter().find(|k| **k == kind).unwrap(),
                value: v,
            });
        }
        parts.shuffle(&mut rng);
        // A salutation opens a letter and a sign-off closes it.
        if let Some(i) = parts.iter().position(|p| p.starts_with("Dear ")) {
            let p = parts.remove(i);
            parts.insert(0, p);
        }
        if let Some(i) = parts.iter().position(|p| p.starts_with("Regards, ")) {
            let p = parts.remove(i);
            parts.push(p);
        }
        let text = parts.join(if zh { "" } else { " " });
        out.push((
            json!({"id": id, "text": text}),
            Truth {
                id,
                entities,
                negatives,
            },
        ));
    }
    out
}

/// The records as JSONL.
pub fn to_jsonl(records: &[(Value, Truth)]) -> String {
    records.iter().map(|(r, _)| format!("{r}\n")).collect()
}

// ---------------------------------------------------------------------------------
// Scoring.

#[derive(Debug, Clone, Default)]
pub struct TypeScore {
    /// Planted values.
    pub n: usize,
    /// Planted values no longer in the output.
    pub removed: usize,
    /// `<T>` tags beyond the planted count, summed over records.
    pub spurious: usize,
    /// Σ over records of min(`<T>` tags, planted T): how many planted values got a tag
    /// of their own type (informational; a value hidden under another type's tag counts
    /// as removed but not as typed).
    pub typed: usize,
    /// Removed values of which a part of at least 4 characters (and a third of the
    /// value) is still glued to a tag: a span cut short (informational).
    pub partial: usize,
    /// A few (value, leaked part) pairs of partial removals.
    pub partial_examples: Vec<(String, String)>,
    /// A few (value, output text) pairs of values that survived.
    pub missed: Vec<(String, String)>,
    /// A few output texts with spurious tags.
    pub spurious_examples: Vec<String>,
    /// A few output texts with fewer `<T>` tags than planted values of T.
    pub untyped_examples: Vec<String>,
}

impl TypeScore {
    pub fn recall(&self) -> f64 {
        if self.n == 0 {
            1.0
        } else {
            self.removed as f64 / self.n as f64
        }
    }
    pub fn precision(&self) -> f64 {
        if self.removed + self.spurious == 0 {
            1.0
        } else {
            self.removed as f64 / (self.removed + self.spurious) as f64
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NegScore {
    pub n: usize,
    pub kept: usize,
    /// A few (value, output text) pairs of negatives that were changed.
    pub lost: Vec<(String, String)>,
}

impl NegScore {
    pub fn kept_rate(&self) -> f64 {
        if self.n == 0 {
            1.0
        } else {
            self.kept as f64 / self.n as f64
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub types: BTreeMap<&'static str, TypeScore>,
    pub negatives: BTreeMap<&'static str, NegScore>,
    /// Records with no output (missing id).
    pub missing: usize,
}

const EXAMPLES: usize = 8;

impl Report {
    pub fn entities_total(&self) -> (usize, usize) {
        self.types
            .values()
            .fold((0, 0), |(n, r), t| (n + t.n, r + t.removed))
    }
    pub fn negatives_total(&self) -> (usize, usize) {
        self.negatives
            .values()
            .fold((0, 0), |(n, k), t| (n + t.n, k + t.kept))
    }
    pub fn negatives_kept_rate(&self) -> f64 {
        let (n, k) = self.negatives_total();
        if n == 0 {
            1.0
        } else {
            k as f64 / n as f64
        }
    }

    /// A printable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<18} {:>6} {:>8} {:>9} {:>9} {:>10} {:>8} {:>8}",
            "type", "n", "removed", "recall", "spurious", "precision", "typed", "partial"
        );
        for t in TYPES {
            let x = &self.types[t];
            let _ = writeln!(
                s,
                "{:<18} {:>6} {:>8} {:>9.4} {:>9} {:>10.4} {:>8.4} {:>8}",
                t,
                x.n,
                x.removed,
                x.recall(),
                x.spurious,
                x.precision(),
                x.typed as f64 / x.n.max(1) as f64,
                x.partial
            );
        }
        let (n, r) = self.entities_total();
        let sp: usize = self.types.values().map(|t| t.spurious).sum();
        let _ = writeln!(
            s,
            "{:<18} {:>6} {:>8} {:>9.4} {:>9} {:>10.4}",
            "ALL",
            n,
            r,
            r as f64 / n.max(1) as f64,
            sp,
            r as f64 / (r + sp).max(1) as f64
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<18} {:>6} {:>8} {:>9}",
            "negative", "n", "kept", "rate"
        );
        for k in NEG_KINDS {
            let x = &self.negatives[k];
            let _ = writeln!(
                s,
                "{:<18} {:>6} {:>8} {:>9.4}",
                k,
                x.n,
                x.kept,
                x.kept_rate()
            );
        }
        let (n, k) = self.negatives_total();
        let _ = writeln!(
            s,
            "{:<18} {:>6} {:>8} {:>9.4}",
            "ALL",
            n,
            k,
            self.negatives_kept_rate()
        );
        if self.missing > 0 {
            let _ = writeln!(s, "records missing from the output: {}", self.missing);
        }
        s
    }

    /// The misses, spurious tags and lost negatives, with examples.
    pub fn failures(&self) -> String {
        let mut s = String::new();
        for t in TYPES {
            let x = &self.types[t];
            for (v, out) in &x.missed {
                let _ = writeln!(s, "MISSED {t}: {v:?}\n    in: {out}");
            }
            for out in &x.spurious_examples {
                let _ = writeln!(s, "SPURIOUS <{t}>: {out}");
            }
            for (v, part) in &x.partial_examples {
                let _ = writeln!(s, "PARTIAL {t}: {v:?} left {part:?} next to a tag");
            }
            for out in &x.untyped_examples {
                let _ = writeln!(s, "UNTYPED {t} (fewer <{t}> tags than planted): {out}");
            }
        }
        for k in NEG_KINDS {
            for (v, out) in &self.negatives[k].lost {
                let _ = writeln!(s, "LOST negative {k}: {v:?}\n    in: {out}");
            }
        }
        s
    }
}

/// The longest head or tail of `value` (at least 4 characters and a third of it, not
/// all of it) that is still in `out` right before or after a tag.
fn partial_leak(value: &str, out: &str) -> Option<String> {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let min = 4.max(n.div_ceil(3));
    for k in (min..n).rev() {
        let head: String = chars[..k].iter().collect();
        let tail: String = chars[n - k..].iter().collect();
        if out.contains(&format!("{head}[")) {
            return Some(head);
        }
        if out.contains(&format!("]{tail}")) {
            return Some(tail);
        }
    }
    None
}

/// Grades the output texts (by record id) against the truth. See the module docs for
/// the definitions.
pub fn score(truth: &[Truth], outputs: &HashMap<String, String>) -> Report {
    let mut rep = Report::default();
    for t in TYPES {
        rep.types.insert(t, TypeScore::default());
    }
    for k in NEG_KINDS {
        rep.negatives.insert(k, NegScore::default());
    }
    for tr in truth {
        let Some(out) = outputs.get(&tr.id) else {
            rep.missing += 1;
            continue;
        };
        let mut planted: HashMap<&str, usize> = HashMap::new();
        for e in &tr.entities {
            *planted.entry(e.kind).or_default() += 1;
            let nfkc: String = e.value.nfkc().collect();
            let survived = out.contains(&e.value) || out.contains(&nfkc);
            let ts = rep.types.get_mut(e.kind).unwrap();
            ts.n += 1;
            if survived {
                if ts.missed.len() < EXAMPLES {
                    ts.missed.push((e.value.clone(), out.clone()));
                }
            } else {
                ts.removed += 1;
                if let Some(part) = partial_leak(&e.value, out) {
                    ts.partial += 1;
                    if ts.partial_examples.len() < EXAMPLES {
                        ts.partial_examples.push((e.value.clone(), part));
                    }
                }
            }
        }
        for t in TYPES {
            let tags = out.matches(&format!("<{t}>")).count();
            let p = planted.get(t).copied().unwrap_or(0);
            let extra = tags.saturating_sub(p);
            let ts = rep.types.get_mut(t).unwrap();
            ts.typed += tags.min(p);
            if tags < p && ts.untyped_examples.len() < EXAMPLES {
                ts.untyped_examples.push(out.clone());
            }
            if extra > 0 {
                ts.spurious += extra;
                if ts.spurious_examples.len() < EXAMPLES {
                    ts.spurious_examples.push(out.clone());
                }
            }
        }
        for ng in &tr.negatives {
            let ns = rep.negatives.get_mut(ng.kind).unwrap();
            ns.n += 1;
            if out.contains(&ng.value) {
                ns.kept += 1;
            } else if ns.lost.len() < EXAMPLES {
                ns.lost.push((ng.value.clone(), out.clone()));
            }
        }
    }
    rep
}

#[cfg(test)]
mod self_checks {
    use super::*;

    #[test]
    fn check_digits_match_known_values() {
        assert_eq!(gb11643_char("11010519491231002"), 'X');
        assert!(luhn_ok("4012888888881881"));
        assert!(!luhn_ok("4012888888881882"));
        assert!(iban_ok("DE89370400440532013000"));
        assert!(iban_ok("GB29NWBK60161331926819"));
        assert_eq!(
            make_iban("DE", "370400440532013000"),
            "DE89370400440532013000"
        );
        assert_eq!(gb32100_char("91350100M000100Y4"), '3');
    }
}
