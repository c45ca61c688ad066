//! Deterministic synthetic-corpus generator for datacustoms benchmarks and tests.
//!
//! Two outputs, both made only of synthetic data:
//!
//! * `chat` writes JSONL chat / customer-service records (about 60% Chinese, 30%
//!   English, 10% mixed). They contain planted, checksum-valid PII (ID cards, phones,
//!   e-mails, bank cards, IPs, names, addresses, plates, passports, USCCs, SSNs, IBANs,
//!   dates of birth), exact and near duplicates, Unicode normalization bait and
//!   irregular JSON shapes (null or missing `meta` / `rating`, empty `tags`).
//!   `--truth` writes one ground-truth line per record: entity spans as Unicode
//!   *character* offsets into the final field string, and duplicate links.
//!   `--bytes` keeps generating until the file reaches the given size. It is meant
//!   for 1–4 GB throughput inputs and writes no truth file.
//! * `orders` writes one zstd-compressed Parquet file of e-commerce orders. Users
//!   recur with a heavy tail and keep the same personal attributes on every order.
//!
//! Run it from the datacustoms checkout:
//!
//! ```text
//! cargo run --release --example gen_corpus -- chat --out chat.jsonl --records 2000 --truth truth.jsonl
//! cargo run --release --example gen_corpus -- chat --out bench.jsonl --bytes 1G
//! cargo run --release --example gen_corpus -- orders --out orders.parquet --rows 20000
//! ```
//!
//! Determinism: all randomness comes from `ChaCha8Rng::seed_from_u64(--seed)`, which
//! is portable. The same arguments therefore give byte-identical output. `chat`
//! samples with integer arithmetic only, so its output does not depend on the
//! platform's floating-point maths. `orders` draws log-normal and Pareto samples
//! through `rand_distr`, so it is byte-identical on the same platform and toolchain.
//!
//! Truth conventions: an entity's `value` is exactly the characters at
//! `[start, end)` of its field. Zero-width, control and whitespace bait is never
//! placed inside an entity. In bait records, however, a whole `CN_ID_CARD` or
//! `PHONE` may be written in full-width forms; its `value` is then the full-width
//! string (NFKC folds it back to ASCII). Duplicates always point at the original
//! record (`dup_of`), never at another duplicate.

use std::collections::HashSet;
use std::error::Error;
use std::fmt::Display;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, Field as ArrowField, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use clap::{Args, Parser, Subcommand};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Pareto};
use serde_json::json;

type Rng8 = ChaCha8Rng;
type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

const DEFAULT_SEED: u64 = 20261122;
const DEFAULT_CHAT_RECORDS: u64 = 10_000;

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

#[derive(Parser)]
#[command(
    name = "gen_corpus",
    version,
    about = "Deterministic synthetic corpus generator for datacustoms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// JSONL chat records with planted PII, duplicates and normalization bait.
    Chat(ChatArgs),
    /// Parquet order table whose users recur with consistent attributes.
    Orders(OrdersArgs),
}

#[derive(Args)]
struct ChatArgs {
    /// Output JSONL path.
    #[arg(long)]
    out: PathBuf,
    /// Number of records [default: 10000 unless --bytes is given].
    #[arg(long, conflicts_with = "bytes")]
    records: Option<u64>,
    /// Keep generating until the file reaches SIZE (e.g. 512M, 1G, 4G; powers of 1024).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, conflicts_with = "truth")]
    bytes: Option<u64>,
    /// RNG seed; the same seed and arguments give byte-identical output.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Also write ground truth (entity spans, duplicate links) as JSONL here.
    #[arg(long)]
    truth: Option<PathBuf>,
}

#[derive(Args)]
struct OrdersArgs {
    /// Output Parquet path.
    #[arg(long)]
    out: PathBuf,
    /// Number of order rows.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// RNG seed; the same seed and arguments give byte-identical output.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
}

/// Parses `1024`, `64K`, `512M`, `1G`, `4GiB`, ... (binary multiples).
fn parse_size(s: &str) -> Result<u64, String> {
    let upper = s.trim().to_ascii_uppercase();
    let body = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (num, shift) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 10),
        Some('M') => (&body[..body.len() - 1], 20),
        Some('G') => (&body[..body.len() - 1], 30),
        Some('T') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected e.g. 512M, 1G or 4G"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Adds a human-readable "while doing X" prefix to errors from I/O and libraries.
trait Context<T> {
    fn context<C: Display>(self, what: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context<C: Display>(self, what: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| format!("{}: {e}", what()).into())
    }
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Chat(args) => run_chat(&args),
        Command::Orders(args) => run_orders(&args),
    }
}

// ---------------------------------------------------------------------------
// Small formatting and sampling helpers
// ---------------------------------------------------------------------------

fn pick<'a, T>(rng: &mut Rng8, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

fn pick_str(rng: &mut Rng8, xs: &[&'static str]) -> &'static str {
    xs[rng.random_range(0..xs.len())]
}

/// Integer-only Bernoulli draw, so chat output never depends on float maths.
fn chance(rng: &mut Rng8, per_mille: u32) -> bool {
    rng.random_range(0..1000u32) < per_mille
}

fn push_padded(s: &mut String, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let digits = format_digits(&mut buf, n);
    for _ in digits.len()..width {
        s.push('0');
    }
    for &b in digits {
        s.push(char::from(b));
    }
}

fn push_padded_bytes(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let digits = format_digits(&mut buf, n);
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

fn format_digits(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn push_num(s: &mut String, n: u64) {
    push_padded(s, n, 1);
}

fn push_digit(s: &mut String, d: u8) {
    s.push(char::from(b'0' + d));
}

fn push_rand_digits(rng: &mut Rng8, s: &mut String, count: usize) {
    for _ in 0..count {
        push_digit(s, rng.random_range(0..10u8));
    }
}

fn push_hex(s: &mut String, v: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nib = (v >> shift) & 0xf;
        if nib != 0 || started || shift == 0 {
            s.push(char::from(HEX[usize::from(nib)]));
            started = true;
        }
    }
}

/// Maps ASCII letters and digits to their full-width forms (U+FF10.., U+FF21.., U+FF41..).
fn push_fullwidth(dst: &mut String, src: &str) {
    for c in src.chars() {
        if c.is_ascii_alphanumeric() {
            dst.push(char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c));
        } else {
            dst.push(c);
        }
    }
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn rand_date(rng: &mut Rng8, first_year: u32, last_year: u32) -> (u32, u32, u32) {
    let y = rng.random_range(first_year..=last_year);
    let m = rng.random_range(1..=12u32);
    let d = rng.random_range(1..=days_in_month(y, m));
    (y, m, d)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); H. Hinnant's algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn push_ts(out: &mut Vec<u8>, secs: u64) {
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    push_padded_bytes(out, y, 4);
    out.push(b'-');
    push_padded_bytes(out, m, 2);
    out.push(b'-');
    push_padded_bytes(out, d, 2);
    out.push(b'T');
    push_padded_bytes(out, rem / 3600, 2);
    out.push(b':');
    push_padded_bytes(out, rem / 60 % 60, 2);
    out.push(b':');
    push_padded_bytes(out, rem % 60, 2);
    out.push(b'Z');
}

// ---------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------

/// Real GB/T 2260 district codes, used as ID-card and USCC region prefixes.
const CN_REGIONS: &[u32] = &[
    110101, 110105, 110108, 120101, 130102, 310104, 310115, 320102, 330106, 350102, 370102, 410105,
    420106, 430104, 440106, 440304, 440305, 500103, 510107, 610113,
];

struct Province {
    name: &'static str,
    /// Rough population in millions; drives how often the province is drawn.
    weight: u32,
    region: u32,
    cities: &'static [&'static str],
}

#[rustfmt::skip]
const PROVINCES: &[Province] = &[
    Province { name: "北京市", weight: 22, region: 110105, cities: &["北京市"] },
    Province { name: "天津市", weight: 14, region: 120101, cities: &["天津市"] },
    Province { name: "河北省", weight: 74, region: 130102, cities: &["石家庄市", "唐山市", "保定市", "邯郸市"] },
    Province { name: "山西省", weight: 35, region: 140105, cities: &["太原市", "大同市", "运城市"] },
    Province { name: "内蒙古自治区", weight: 24, region: 150102, cities: &["呼和浩特市", "包头市", "鄂尔多斯市"] },
    Province { name: "辽宁省", weight: 42, region: 210102, cities: &["沈阳市", "大连市", "鞍山市"] },
    Province { name: "吉林省", weight: 24, region: 220102, cities: &["长春市", "吉林市"] },
    Province { name: "黑龙江省", weight: 31, region: 230102, cities: &["哈尔滨市", "大庆市", "齐齐哈尔市"] },
    Province { name: "上海市", weight: 25, region: 310104, cities: &["上海市"] },
    Province { name: "江苏省", weight: 85, region: 320102, cities: &["南京市", "苏州市", "无锡市", "常州市", "南通市"] },
    Province { name: "浙江省", weight: 66, region: 330106, cities: &["杭州市", "宁波市", "温州市", "嘉兴市", "金华市"] },
    Province { name: "安徽省", weight: 61, region: 340104, cities: &["合肥市", "芜湖市", "阜阳市"] },
    Province { name: "福建省", weight: 42, region: 350102, cities: &["福州市", "厦门市", "泉州市"] },
    Province { name: "江西省", weight: 45, region: 360102, cities: &["南昌市", "赣州市", "九江市"] },
    Province { name: "山东省", weight: 102, region: 370102, cities: &["济南市", "青岛市", "烟台市", "潍坊市", "临沂市"] },
    Province { name: "河南省", weight: 99, region: 410105, cities: &["郑州市", "洛阳市", "南阳市", "新乡市"] },
    Province { name: "湖北省", weight: 58, region: 420106, cities: &["武汉市", "宜昌市", "襄阳市"] },
    Province { name: "湖南省", weight: 66, region: 430104, cities: &["长沙市", "株洲市", "衡阳市"] },
    Province { name: "广东省", weight: 127, region: 440305, cities: &["广州市", "深圳市", "东莞市", "佛山市", "珠海市"] },
    Province { name: "广西壮族自治区", weight: 50, region: 450103, cities: &["南宁市", "桂林市", "柳州市"] },
    Province { name: "海南省", weight: 10, region: 460105, cities: &["海口市", "三亚市"] },
    Province { name: "重庆市", weight: 32, region: 500103, cities: &["重庆市"] },
    Province { name: "四川省", weight: 84, region: 510107, cities: &["成都市", "绵阳市", "宜宾市"] },
    Province { name: "贵州省", weight: 39, region: 520102, cities: &["贵阳市", "遵义市"] },
    Province { name: "云南省", weight: 47, region: 530102, cities: &["昆明市", "曲靖市", "大理白族自治州"] },
    Province { name: "西藏自治区", weight: 4, region: 540102, cities: &["拉萨市", "日喀则市"] },
    Province { name: "陕西省", weight: 40, region: 610113, cities: &["西安市", "咸阳市", "宝鸡市"] },
    Province { name: "甘肃省", weight: 25, region: 620102, cities: &["兰州市", "天水市"] },
    Province { name: "青海省", weight: 6, region: 630102, cities: &["西宁市", "海东市"] },
    Province { name: "宁夏回族自治区", weight: 7, region: 640104, cities: &["银川市", "石嘴山市"] },
    Province { name: "新疆维吾尔自治区", weight: 26, region: 650102, cities: &["乌鲁木齐市", "克拉玛依市", "喀什地区"] },
];

struct CnCity {
    province: &'static str,
    city: &'static str,
    districts: &'static [&'static str],
    roads: &'static [&'static str],
}

#[rustfmt::skip]
const CN_CITIES: &[CnCity] = &[
    CnCity { province: "北京市", city: "北京市", districts: &["朝阳区", "海淀区", "东城区", "西城区", "丰台区"], roads: &["建国路", "中关村大街", "学院路", "望京西路", "东三环中路"] },
    CnCity { province: "上海市", city: "上海市", districts: &["徐汇区", "浦东新区", "静安区", "黄浦区", "闵行区"], roads: &["漕溪北路", "世纪大道", "南京西路", "淮海中路", "张江路"] },
    CnCity { province: "天津市", city: "天津市", districts: &["和平区", "南开区", "河西区"], roads: &["南京路", "卫津路", "友谊路"] },
    CnCity { province: "重庆市", city: "重庆市", districts: &["渝中区", "江北区", "南岸区"], roads: &["民族路", "建新北路", "南坪西路"] },
    CnCity { province: "广东省", city: "深圳市", districts: &["南山区", "福田区", "宝安区", "龙岗区"], roads: &["科技园路", "深南大道", "华强北路", "宝安大道"] },
    CnCity { province: "广东省", city: "广州市", districts: &["天河区", "越秀区", "海珠区", "番禺区"], roads: &["天河路", "中山五路", "江南大道", "黄埔大道"] },
    CnCity { province: "浙江省", city: "杭州市", districts: &["西湖区", "滨江区", "上城区", "余杭区"], roads: &["文三路", "江南大道", "延安路", "文一西路"] },
    CnCity { province: "江苏省", city: "南京市", districts: &["玄武区", "鼓楼区", "建邺区"], roads: &["中山路", "珠江路", "江东中路"] },
    CnCity { province: "四川省", city: "成都市", districts: &["武侯区", "锦江区", "青羊区", "成华区"], roads: &["天府大道", "人民南路", "春熙路", "蜀汉路"] },
    CnCity { province: "湖北省", city: "武汉市", districts: &["武昌区", "洪山区", "江汉区"], roads: &["中南路", "珞喻路", "解放大道"] },
    CnCity { province: "陕西省", city: "西安市", districts: &["雁塔区", "碑林区", "未央区"], roads: &["长安南路", "小寨东路", "凤城八路"] },
    CnCity { province: "山东省", city: "青岛市", districts: &["市南区", "崂山区", "李沧区"], roads: &["香港中路", "海尔路", "京口路"] },
];

const GENERIC_ROADS: &[&str] = &[
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "和平路",
    "长江路",
    "新华街",
    "东大街",
    "文化路",
    "朝阳北路",
];
const COMPOUNDS: &[&str] = &[
    "阳光花园",
    "金地名苑",
    "万科城",
    "碧桂园",
    "翠湖小区",
    "幸福里",
    "锦绣家园",
    "世纪华庭",
];

/// (hanzi, pinyin); ordered roughly by real-world frequency.
const SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
    ("彭", "peng"),
    ("曾", "zeng"),
    ("肖", "xiao"),
    ("田", "tian"),
    ("董", "dong"),
    ("袁", "yuan"),
    ("潘", "pan"),
    ("于", "yu"),
    ("蒋", "jiang"),
    ("蔡", "cai"),
    ("余", "yu"),
    ("杜", "du"),
    ("叶", "ye"),
    ("程", "cheng"),
    ("苏", "su"),
    ("魏", "wei"),
    ("吕", "lv"),
    ("丁", "ding"),
    ("任", "ren"),
    ("沈", "shen"),
    ("姚", "yao"),
    ("卢", "lu"),
    ("姜", "jiang"),
    ("崔", "cui"),
    ("钟", "zhong"),
    ("谭", "tan"),
    ("陆", "lu"),
    ("汪", "wang"),
    ("范", "fan"),
    ("金", "jin"),
    ("石", "shi"),
    ("廖", "liao"),
    ("贾", "jia"),
    ("夏", "xia"),
    ("韦", "wei"),
    ("方", "fang"),
    ("白", "bai"),
    ("邹", "zou"),
    ("孟", "meng"),
    ("熊", "xiong"),
    ("秦", "qin"),
    ("邱", "qiu"),
    ("江", "jiang"),
    ("尹", "yin"),
    ("薛", "xue"),
    ("段", "duan"),
    ("雷", "lei"),
    ("侯", "hou"),
    ("龙", "long"),
    ("史", "shi"),
    ("陶", "tao"),
    ("黎", "li"),
    ("贺", "he"),
    ("顾", "gu"),
    ("毛", "mao"),
    ("郝", "hao"),
    ("龚", "gong"),
    ("邵", "shao"),
    ("万", "wan"),
    ("钱", "qian"),
    ("严", "yan"),
    ("武", "wu"),
    ("戴", "dai"),
    ("莫", "mo"),
    ("孔", "kong"),
    ("向", "xiang"),
];
const COMPOUND_SURNAMES: &[(&str, &str)] = &[
    ("欧阳", "ouyang"),
    ("司马", "sima"),
    ("诸葛", "zhuge"),
    ("上官", "shangguan"),
    ("东方", "dongfang"),
    ("慕容", "murong"),
    ("皇甫", "huangfu"),
    ("令狐", "linghu"),
    ("夏侯", "xiahou"),
    ("尉迟", "yuchi"),
    ("公孙", "gongsun"),
    ("端木", "duanmu"),
];
const GIVEN_CHARS: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("英", "ying"),
    ("华", "hua"),
    ("玉", "yu"),
    ("萍", "ping"),
    ("红", "hong"),
    ("玲", "ling"),
    ("芬", "fen"),
    ("燕", "yan"),
    ("彬", "bin"),
    ("鹏", "peng"),
    ("辉", "hui"),
    ("宇", "yu"),
    ("浩", "hao"),
    ("凯", "kai"),
    ("健", "jian"),
    ("俊", "jun"),
    ("帆", "fan"),
    ("旭", "xu"),
    ("宁", "ning"),
    ("欣", "xin"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("琳", "lin"),
    ("晨", "chen"),
    ("阳", "yang"),
    ("博", "bo"),
    ("文", "wen"),
    ("思", "si"),
    ("雨", "yu"),
    ("佳", "jia"),
    ("梓", "zi"),
    ("子", "zi"),
    ("涵", "han"),
    ("轩", "xuan"),
    ("怡", "yi"),
    ("一", "yi"),
    ("诺", "nuo"),
    ("然", "ran"),
    ("晓", "xiao"),
    ("婉", "wan"),
    ("嘉", "jia"),
    ("泽", "ze"),
    ("睿", "rui"),
    ("昊", "hao"),
    ("宏", "hong"),
    ("志", "zhi"),
    ("建", "jian"),
    ("国", "guo"),
    ("海", "hai"),
    ("云", "yun"),
    ("春", "chun"),
    ("秋", "qiu"),
    ("梅", "mei"),
    ("兰", "lan"),
    ("丹", "dan"),
    ("倩", "qian"),
    ("颖", "ying"),
    ("璐", "lu"),
    ("瑶", "yao"),
    ("悦", "yue"),
    ("彤", "tong"),
    ("鑫", "xin"),
    ("斌", "bin"),
    ("亮", "liang"),
    ("飞", "fei"),
    ("波", "bo"),
    ("峰", "feng"),
    ("琪", "qi"),
    ("雅", "ya"),
    ("慧", "hui"),
    ("德", "de"),
    ("成", "cheng"),
    ("立", "li"),
    ("新", "xin"),
    ("安", "an"),
    ("乐", "le"),
    ("可", "ke"),
    ("心", "xin"),
    ("铭", "ming"),
    ("航", "hang"),
    ("毅", "yi"),
];

const EN_FIRST: &[&str] = &[
    "John",
    "Emily",
    "Michael",
    "Sarah",
    "David",
    "Jessica",
    "James",
    "Olivia",
    "Robert",
    "Emma",
    "William",
    "Sophia",
    "Daniel",
    "Grace",
    "Thomas",
    "Hannah",
    "Oliver",
    "Charlotte",
    "Liam",
    "Amelia",
    "George",
    "Chloe",
    "Matthew",
    "Laura",
    "Andrew",
    "Rachel",
    "Peter",
    "Megan",
];
const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor",
    "Anderson", "Thomas", "Moore", "Martin", "Jackson", "White", "Harris", "Clark", "Lewis",
    "Walker", "Hall", "Young", "King", "Wright", "O'Brien", "McDonald", "Evans", "Hughes", "Patel",
    "Nguyen", "Garcia",
];

const CN_EMAIL_DOMAINS: &[&str] = &[
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "gmail.com",
    "outlook.com",
    "example.com",
    "example.cn",
    "yeah.net",
    "139.com",
];
const EN_EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.co.uk",
    "icloud.com",
    "example.com",
    "example.org",
    "protonmail.com",
    "acme-corp.com",
];

const US_CITIES: &[(&str, &str, &str)] = &[
    ("New York", "NY", "100"),
    ("Brooklyn", "NY", "112"),
    ("San Francisco", "CA", "941"),
    ("Los Angeles", "CA", "900"),
    ("Mountain View", "CA", "940"),
    ("Austin", "TX", "787"),
    ("Seattle", "WA", "981"),
    ("Chicago", "IL", "606"),
    ("Boston", "MA", "021"),
    ("Denver", "CO", "802"),
    ("Portland", "OR", "972"),
    ("Miami", "FL", "331"),
];
const US_STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Maple",
    "Cedar",
    "Elm",
    "Pine",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Sunset",
    "Market",
    "Mission",
    "Highland",
    "Lincoln",
    "Jefferson",
];
const US_SUFFIXES: &[&str] = &[
    "Street",
    "Avenue",
    "Road",
    "Boulevard",
    "Drive",
    "Lane",
    "Parkway",
    "Court",
    "St",
    "Ave",
];
const US_FAMOUS: &[&str] = &[
    "1600 Amphitheatre Parkway, Mountain View, CA 94043",
    "1 Infinite Loop, Cupertino, CA 95014",
    "350 Fifth Avenue, New York, NY 10118",
];
const UK_PLACES: &[(&str, &[&str])] = &[
    (
        "London",
        &["NW1", "SW1A", "E1", "W1D", "SE1", "N1", "EC1A", "SW11"],
    ),
    ("Manchester", &["M1", "M4", "M20"]),
    ("Birmingham", &["B1", "B15"]),
    ("Leeds", &["LS1", "LS6"]),
    ("Edinburgh", &["EH1", "EH3"]),
    ("Bristol", &["BS1", "BS8"]),
    ("Cambridge", &["CB2"]),
    ("Oxford", &["OX1"]),
];
const UK_STREETS: &[&str] = &[
    "Baker", "High", "Church", "Station", "Victoria", "Green", "Park", "Mill", "King's", "Queen's",
    "Albert", "York",
];
const UK_SUFFIXES: &[&str] = &[
    "Street", "Road", "Lane", "Avenue", "Close", "Gardens", "Terrace",
];
const UK_FAMOUS: &[&str] = &[
    "221B Baker Street, London NW1 6XE",
    "10 Downing Street, London SW1A 2AA",
];
/// Letters allowed in the inward part of a UK postcode.
const UK_POSTCODE_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

const PLATE_PROVINCES: &[&str] = &[
    "京", "沪", "粤", "川", "浙", "苏", "鄂", "渝", "陕", "津", "鲁", "闽", "湘", "豫", "冀", "皖",
    "辽", "黑", "吉", "晋", "赣", "桂", "琼", "云", "贵", "甘", "青", "宁", "新", "藏", "蒙",
];
/// Plate serial letters: I and O are never issued.
const PLATE_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

const CARD16_PREFIXES: &[&str] = &["4", "4", "51", "52", "53", "54", "55", "436742", "622588"];
const CARD19_PREFIXES: &[&str] = &[
    "622848", "621700", "622202", "621226", "623058", "621483", "622700",
];

const US_AREA_CODES: &[&str] = &[
    "212", "646", "718", "415", "650", "310", "213", "312", "617", "206", "512", "305", "202",
    "404", "713", "303",
];
const CN_AREA3: &[&str] = &[
    "010", "020", "021", "022", "023", "024", "025", "027", "028", "029",
];
const CN_AREA4_8: &[&str] = &[
    "0755", "0571", "0512", "0731", "0591", "0531", "0532", "0411", "0898", "0371",
];
const CN_AREA4_7: &[&str] = &["0937", "0476", "0543", "0915", "0902"];

const IPV4_CN_FIRST: &[u8] = &[
    36, 39, 42, 58, 60, 61, 101, 106, 111, 112, 113, 114, 115, 116, 117, 119, 120, 121, 122, 123,
    124, 125, 180, 182, 183, 202, 203, 210, 211, 218, 219, 220, 221, 222, 223,
];
const IPV4_EN_FIRST: &[u8] = &[
    8, 12, 23, 24, 34, 35, 52, 54, 64, 66, 68, 71, 73, 76, 98, 104, 107, 108, 151, 162, 185, 198,
    199, 203, 212, 216,
];
const IPV6_CN_PREFIX: &[u16] = &[0x240e, 0x2408, 0x2409, 0x2400];
const IPV6_EN_PREFIX: &[u16] = &[0x2001, 0x2600, 0x2607, 0x2a00, 0x2a02, 0x2604];

const DE_BLZ: &[&str] = &[
    "37040044", "50010517", "10020030", "20041133", "70020270", "12030000",
];
const GB_BANKS: &[&str] = &["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "NAIA"];
const FR_BANKS: &[&str] = &["30004", "30003", "20041", "10278", "30002", "11315"];
const NL_BANKS: &[&str] = &["ABNA", "INGB", "RABO", "TRIO"];

const MONTHS_EN: &[&str] = &[
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

/// Characters used to mutate Chinese text when making near duplicates.
const CJK_EDIT_CHARS: &str = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间知世什两次使身者被高已亲其进此话常与活正感";

// Chat metadata pools. These strings are emitted into JSON without escaping, so they
// must stay free of quotes, backslashes and control characters.
const SOURCES: &[&str] = &[
    "app",
    "web",
    "wechat",
    "miniprogram",
    "call_center",
    "email",
    "forum",
    "crm_export",
];
const TAGS_ZH: &[&str] = &[
    "售后",
    "物流",
    "退款",
    "咨询",
    "投诉",
    "发票",
    "会员",
    "账号安全",
    "催单",
    "好评",
];
const TAGS_EN: &[&str] = &[
    "refund",
    "shipping",
    "billing",
    "account",
    "complaint",
    "feedback",
    "warranty",
    "vip",
    "order-status",
    "praise",
];

// Non-PII fill-ins for sentence templates.
const PROD_ZH: &[&str] = &[
    "无线耳机",
    "扫地机器人",
    "空气炸锅",
    "羽绒服",
    "运动鞋",
    "保温杯",
    "机械键盘",
    "电动牙刷",
    "护肤套装",
    "婴儿推车",
    "智能手表",
    "投影仪",
    "行李箱",
    "咖啡机",
    "显示器",
    "蓝牙音箱",
    "电饭煲",
    "加湿器",
    "登山包",
    "瑜伽垫",
];
const ISSUE_ZH: &[&str] = &[
    "充不进电",
    "有明显划痕",
    "少发了一个配件",
    "颜色和图片不一样",
    "尺码偏小",
    "开机就死机",
    "包装破损",
    "发错了型号",
    "有异味",
    "用了两天就坏了",
    "说明书是英文的",
    "噪音特别大",
];
const REQ_ZH: &[&str] = &[
    "退货",
    "换货",
    "补发配件",
    "开发票",
    "催一下物流",
    "改一下收货地址",
    "取消订单",
    "退差价",
    "安排上门维修",
    "延长保修",
];
const FEEL_ZH: &[&str] = &[
    "还不错",
    "一般般",
    "非常满意",
    "有点失望",
    "性价比很高",
    "不如预期",
    "超出预期",
];
const TOPIC_ZH: &[&str] = &[
    "会员积分",
    "优惠券",
    "分期付款",
    "以旧换新",
    "发票抬头",
    "售后政策",
    "保价服务",
    "预售定金",
];
const WHEN_ZH: &[&str] = &[
    "昨天",
    "上周三",
    "前天晚上",
    "3月5日",
    "双十一",
    "上个月",
    "今天上午",
    "周末",
];
const CITY_ZH: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆",
];
const PROD_EN: &[&str] = &[
    "wireless earbuds",
    "robot vacuum",
    "air fryer",
    "down jacket",
    "running shoes",
    "mechanical keyboard",
    "smartwatch",
    "electric toothbrush",
    "projector",
    "espresso machine",
    "4K monitor",
    "Bluetooth speaker",
    "stroller",
    "yoga mat",
    "carry-on suitcase",
];
const ISSUE_EN: &[&str] = &[
    "stopped charging after two days",
    "arrived with a cracked screen",
    "is missing the charging cable",
    "doesn't match the photos",
    "runs a size small",
    "keeps rebooting",
    "smells like burnt plastic",
    "makes a loud buzzing noise",
];
const REQ_EN: &[&str] = &[
    "return it",
    "exchange it for a different size",
    "get a replacement part",
    "get an invoice",
    "cancel the order",
    "change the delivery address",
    "get a price adjustment",
    "book a repair",
];
const FEEL_EN: &[&str] = &[
    "pretty good",
    "just okay",
    "excellent",
    "a bit disappointing",
    "great value",
    "not what I expected",
];
const TOPIC_EN: &[&str] = &[
    "loyalty points",
    "coupon codes",
    "installment plans",
    "trade-in offers",
    "VAT invoices",
    "the return policy",
    "price protection",
    "pre-orders",
];
const WHEN_EN: &[&str] = &[
    "yesterday",
    "last Tuesday",
    "two weeks ago",
    "on Black Friday",
    "last month",
    "this morning",
    "over the weekend",
    "on March 3",
];
const CITY_EN: &[&str] = &[
    "Newark",
    "Louisville",
    "Memphis",
    "Leipzig",
    "Manchester",
    "Rotterdam",
    "Chicago",
    "Dallas",
];

// ---------------------------------------------------------------------------
// Sentence templates. `{slot}` is either a non-PII fill-in or a planted entity.
// Every template ends in literal punctuation so that an entity is never glued to
// the digits or letters of the next sentence.
// ---------------------------------------------------------------------------

const ZH_FILL: &[&str] = &[
    "我在{when}买的{prod}，{issue}，能帮我{req}吗？",
    "订单{order}一直显示待发货，已经等了{n}天了。",
    "这款{prod}用了{n}天，整体感觉{feel}。",
    "请问{prod}支持七天无理由退货吗？",
    "客服你好，我想咨询一下{topic}的问题。",
    "上次买的{prod}花了{amt}元，这次怎么涨价了？",
    "物流信息显示包裹在{city}中转，已经{n}天没有更新了。",
    "快递单号{track}，麻烦帮忙查一下到哪了。",
    "麻烦尽快处理，谢谢！",
    "{prod}收到了，但是{issue}，希望给个说法。",
    "我想{req}，需要提供什么材料？",
    "你们的{topic}规则太复杂了，能不能简单说明一下？",
    "朋友推荐的{prod}，{feel}，准备再买{n}个送人。",
    "为什么我的{topic}用不了？页面一直报错。",
    "已经联系过{n}次了，问题还是没解决。",
    "{when}下的单，到现在还没发货。",
    "今天{city}下大雨，快递会不会延误？",
    "这个价格{amt}元是含运费的吗？",
    "如果{req}的话，运费谁来承担？",
    "另外，{prod}的说明书能发一份电子版吗？",
    "总的来说{feel}，但是客服回复有点慢。",
    "我同时买了{prod}和{prod}，能合并发货吗？",
    "页面上写的是{amt}元，结算的时候变成了{amt}元。",
    "{when}收到短信说要{req}，这是你们发的吗？",
    "家里老人不太会用{prod}，有没有视频教程？",
    "评价晒图之后说送{topic}，到现在也没看到。",
];
const ZH_REPLY: &[&str] = &[
    "您好，很抱歉给您带来不便，我们会在{n}个工作日内为您处理。",
    "亲，已为您登记{req}申请，请留意短信通知哦。",
    "您的订单{order}目前在{city}仓库打包中，预计很快发出。",
    "感谢您的反馈，关于{topic}的详细说明已发送到您的消息中心。",
    "您好，{prod}支持七天无理由退货，请保持商品及包装完好。",
    "已通知仓库为您补发，新的快递单号是{track}。",
    "请您提供一下订单截图和商品照片，方便我们核实。",
    "非常抱歉，这个问题我已经升级给专员处理了。",
    "退款{amt}元将在{n}个工作日内原路退回。",
    "还有其他可以帮您的吗？",
    "理解您的心情，我们会尽快给您一个满意的答复。",
    "{prod}的电子版说明书已经发到您的账户里了，请查收。",
];
const ZH_PII: &[&str] = &[
    "我的身份证号是{cn_id}，麻烦核实一下。",
    "身份证：{cn_id}。",
    "实名认证填的是{cn_id}，为什么一直提示不通过？",
    "手机号{cn_mobile}，有问题随时打给我。",
    "我的电话是{cn_mobile}，微信同号。",
    "联系电话：{cn_mobile}。",
    "座机{cn_land}，工作日白天都有人接。",
    "公司前台电话{cn_land}，找行政部就行。",
    "邮箱{email}，请把发票发到这里。",
    "有问题可以发邮件到{email}，我每天都会看。",
    "退款请打到我的银行卡{bank}，户名{cn_name}。",
    "卡号{bank}，开户行是{city}分行。",
    "登录IP为{ipv4}。",
    "系统提示异地登录，IP地址{ipv4}，不是我本人操作。",
    "服务器日志里出现了来自{ipv6}的访问记录。",
    "联系人：{cn_name}，电话{cn_mobile}。",
    "收件人{cn_name}，地址{cn_addr}。",
    "我是{cn_name}，上周在你们店买过东西。",
    "请转告{cn_name}先生尽快回电。",
    "{cn_name}女士您好，您的快递已到驿站。",
    "收货地址：{cn_addr}。",
    "我住在{cn_addr}，快递总是送错。",
    "车牌号{plate}，在停车场被剐蹭了。",
    "我的车是{plate}，预约了周六保养。",
    "护照号码{passport}，用于办理签证。",
    "出国填的护照号是{passport}，名字是{cn_name}。",
    "公司统一社会信用代码：{uscc}，开票抬头请写全称。",
    "开专票需要税号，我们的是{uscc}。",
    "本人{cn_name}，出生于{dob_zh}，身份证{cn_id}。",
    "我出生于{dob_zh}，为什么系统显示年龄不对？",
    "生日：{dob_zh}。",
    "出生日期：{dob_iso}，请帮我更正资料。",
    "境外汇款账户IBAN：{iban}。",
    "紧急联系人{cn_name}，手机{cn_mobile}，座机{cn_land}。",
    "请寄到{cn_addr}，{cn_name}收，电话{cn_mobile}。",
    "客户{cn_name}（身份证{cn_id}）申请修改绑定手机为{cn_mobile}。",
    "用户{email}反馈登录IP为{ipv4}时被风控拦截。",
    "我叫{cn_name}，邮箱是{email}。",
];
const ZH_REPLY_PII: &[&str] = &[
    "好的{cn_name}，已为您将联系电话更新为{cn_mobile}。",
    "已向您的邮箱{email}发送验证邮件，请查收。",
    "核实到您的收货地址为{cn_addr}，请确认是否正确。",
    "{cn_name}女士您好，退款已原路退回银行卡{bank}。",
];
const EN_FILL: &[&str] = &[
    "I ordered a {prod_en} {when_en} and it {issue_en}.",
    "Order {order} has been stuck in processing for {n} days.",
    "Can you help me {req_en}?",
    "Honestly the {prod_en} is {feel_en} for the price.",
    "I have a question about {topic_en}.",
    "The package was last scanned in {city_en} and hasn't moved since.",
    "Tracking number {track}, could you check where it is?",
    "I paid {amt_en} last time and now it's more expensive, why?",
    "Thanks in advance, I really appreciate it.",
    "I've contacted you {n} times about this already.",
    "Is the {prod_en} covered by the extended warranty?",
    "Also, the manual for the {prod_en} is missing from the box.",
    "If I {req_en}, who pays for the return shipping?",
    "Overall it's {feel_en}, but delivery took forever.",
    "Please get back to me as soon as possible.",
    "I placed the order {when_en} and still have no shipping confirmation.",
    "Does the price of {amt_en} include tax?",
    "My {topic_en} doesn't seem to work at checkout.",
    "The listing said {amt_en} but I was charged {amt_en}.",
    "My {prod_en} arrived {when_en}, but it {issue_en}.",
    "I'd like to {req_en} if that's possible.",
    "Could you also send me a copy of the receipt?",
];
const EN_REPLY: &[&str] = &[
    "Thanks for reaching out! I've escalated your ticket and you should hear back within {n} business days.",
    "I'm sorry about the trouble with your {prod_en}. I've opened a request to {req_en} for you.",
    "Your order {order} is being packed at our {city_en} warehouse.",
    "A refund of {amt_en} has been issued and should appear within {n} business days.",
    "Here is your new tracking number: {track}.",
    "Could you send us a photo of the item so we can verify the issue?",
    "Is there anything else I can help you with today?",
    "You can find the details of our {topic_en} policy in the Help Center.",
    "I completely understand your frustration, and I'll make sure this gets resolved.",
    "I've added a note to your account so the next agent has the full context.",
];
const EN_PII: &[&str] = &[
    "Dear {en_name}, thank you for your order.",
    "Hi, my name is {en_name} and I need help with my account.",
    "You can reach me at {us_phone} after 5pm.",
    "Call me on {uk_phone} if anything changes.",
    "My email is {email}, please send the invoice there.",
    "Please contact {en_name} at {email}.",
    "My SSN is {ssn}, do you need anything else for the tax form?",
    "SSN: {ssn}.",
    "Please refund the amount to IBAN {iban}.",
    "Bank details: IBAN {iban}, account holder {en_name}.",
    "My card number is {bank}, it was charged twice.",
    "I logged in from {ipv4} and got locked out.",
    "Our firewall blocked requests from {ipv6} last night.",
    "Ship it to {us_addr}.",
    "My address is {uk_addr}.",
    "Please deliver to {en_name}, {us_addr}.",
    "DOB: {dob_iso}.",
    "I was born on {dob_en}, so the age on my profile is wrong.",
    "Passport number {passport} was rejected at check-in.",
    "Signed, {en_name}.",
    "Contact: {en_name}, phone {us_phone}, email {email}.",
    "Our office line is {us_phone}; ask for {en_name}.",
    "Customer {en_name} (DOB {dob_iso}, SSN {ssn}) asked to update the billing address to {us_addr}.",
    "I'm travelling in China, my local number is {cn_mobile}.",
    "My colleague {cn_name} can be reached at {cn_mobile}.",
    "Please send the documents to {uk_addr}, attention {en_name}.",
    "The login attempt came from {ipv4}, which is not my usual location.",
];
const EN_REPLY_PII: &[&str] = &[
    "Thanks {en_name}, we've updated your phone number to {us_phone}.",
    "We've sent a verification link to {email}.",
    "Just to confirm, the shipping address on file is {us_addr}.",
    "Hi {en_name}, the refund has been sent to IBAN {iban}.",
];
const MIX_FILL: &[&str] = &[
    "这个{prod}的 quality 真的{feel}。",
    "请帮我 check 一下订单{order}的 status，thanks！",
    "我{when}下的单，still 没有发货。",
    "客服说会 follow up，但是{n}天了都没消息。",
    "Anyway，{req}的流程能不能 simplify 一下？",
    "The {prod_en} is great，就是价格有点贵。",
    "Tracking number 是{track}，麻烦 check 一下。",
    "这个 promotion 的{topic}怎么用？",
    "刚刚开完 meeting，顺便问下{prod}有没有 discount。",
    "OK 了解，那我等你们的 update。",
];
const MIX_PII: &[&str] = &[
    "我的 email 是{email}，please reply ASAP。",
    "Hi 客服，我的手机{cn_mobile}收不到 verification code。",
    "Contact person 联系人：{cn_name}，phone {cn_mobile}。",
    "IP address 是{ipv4}，是不是被 block 了？",
    "Shipping address 写的是{cn_addr}，没问题吧？",
    "我的 ID 是{cn_id}，KYC 一直 pending。",
    "Please call {cn_name}，number 是{cn_mobile}。",
    "Invoice 抬头用公司税号{uscc}。",
];

// ---------------------------------------------------------------------------
// Entity generators
// ---------------------------------------------------------------------------

/// Kinds of planted entity; several map to one truth type (e.g. all phones are PHONE).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pii {
    CnId,
    CnMobile,
    CnLand,
    UsPhone,
    UkPhone,
    Email,
    Bank,
    Ipv4,
    Ipv6,
    CnName,
    EnName,
    CnAddr,
    UsAddr,
    UkAddr,
    Plate,
    Passport,
    Uscc,
    Ssn,
    Iban,
    DobZh,
    DobEn,
    DobIso,
}

impl Pii {
    fn type_name(self) -> &'static str {
        match self {
            Pii::CnId => "CN_ID_CARD",
            Pii::CnMobile | Pii::CnLand | Pii::UsPhone | Pii::UkPhone => "PHONE",
            Pii::Email => "EMAIL",
            Pii::Bank => "BANK_CARD",
            Pii::Ipv4 | Pii::Ipv6 => "IP_ADDRESS",
            Pii::CnName | Pii::EnName => "PERSON",
            Pii::CnAddr | Pii::UsAddr | Pii::UkAddr => "ADDRESS",
            Pii::Plate => "CN_LICENSE_PLATE",
            Pii::Passport => "PASSPORT",
            Pii::Uscc => "CN_USCC",
            Pii::Ssn => "US_SSN",
            Pii::Iban => "IBAN",
            Pii::DobZh | Pii::DobEn | Pii::DobIso => "DATE_OF_BIRTH",
        }
    }
}

/// Which locale flavours e-mail local parts and IP ranges.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Zh,
    En,
}

fn push_pii(rng: &mut Rng8, s: &mut String, kind: Pii, style: Style) {
    match kind {
        Pii::CnId => push_cn_id_text(rng, s),
        Pii::CnMobile => push_cn_mobile(rng, s),
        Pii::CnLand => push_cn_landline(rng, s),
        Pii::UsPhone => push_us_phone(rng, s),
        Pii::UkPhone => push_uk_phone(rng, s),
        Pii::Email => match style {
            Style::Zh => CnName::random(rng).push_email(rng, s),
            Style::En => EnName::random(rng).push_email(rng, s),
        },
        Pii::Bank => push_bank_card(rng, s),
        Pii::Ipv4 => push_ipv4(rng, s, style),
        Pii::Ipv6 => push_ipv6(rng, s, style),
        Pii::CnName => CnName::random(rng).push_hanzi(s),
        Pii::EnName => EnName::random(rng).push(s),
        Pii::CnAddr => push_cn_address(rng, s),
        Pii::UsAddr => push_us_address(rng, s),
        Pii::UkAddr => push_uk_address(rng, s),
        Pii::Plate => push_plate(rng, s),
        Pii::Passport => push_passport(rng, s),
        Pii::Uscc => push_uscc(rng, s),
        Pii::Ssn => push_ssn(rng, s),
        Pii::Iban => push_iban(rng, s),
        Pii::DobZh => push_dob(rng, s, Pii::DobZh),
        Pii::DobEn => push_dob(rng, s, Pii::DobEn),
        Pii::DobIso => push_dob(rng, s, Pii::DobIso),
    }
}

fn write_digits(dst: &mut [u8], mut v: u32) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// 18-character mainland ID number with a GB 11643 (ISO 7064 MOD 11-2) check character.
fn cn_id(rng: &mut Rng8, region: u32) -> [u8; 18] {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let (y, m, d) = rand_date(rng, 1950, 2008);
    let mut id = [0u8; 18];
    write_digits(&mut id[0..6], region);
    write_digits(&mut id[6..10], y);
    write_digits(&mut id[10..12], m);
    write_digits(&mut id[12..14], d);
    write_digits(&mut id[14..17], rng.random_range(1..=999));
    let sum: u32 = id[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(&c, w)| u32::from(c - b'0') * w)
        .sum();
    id[17] = CHECK[(sum % 11) as usize];
    id
}

fn push_cn_id_text(rng: &mut Rng8, s: &mut String) {
    let region = *pick(rng, CN_REGIONS);
    let id = cn_id(rng, region);
    // People sometimes group the number as region / birth date / sequence.
    let spaced = chance(rng, 50);
    let lower_x = chance(rng, 150);
    for (i, &b) in id.iter().enumerate() {
        if spaced && (i == 6 || i == 14) {
            s.push(' ');
        }
        s.push(if b == b'X' && lower_x {
            'x'
        } else {
            char::from(b)
        });
    }
}

fn cn_mobile_digits(rng: &mut Rng8) -> [u8; 11] {
    let mut d = [0u8; 11];
    d[0] = 1;
    d[1] = rng.random_range(3..=9);
    for x in &mut d[2..] {
        *x = rng.random_range(0..10);
    }
    d
}

fn push_digit_groups(s: &mut String, digits: &[u8], groups: &[usize], sep: char) {
    let mut at = 0;
    for (gi, &len) in groups.iter().enumerate() {
        if gi > 0 {
            s.push(sep);
        }
        for &d in &digits[at..at + len] {
            push_digit(s, d);
        }
        at += len;
    }
}

fn push_cn_mobile(rng: &mut Rng8, s: &mut String) {
    let d = cn_mobile_digits(rng);
    match rng.random_range(0..100u32) {
        0..50 => push_digit_groups(s, &d, &[11], ' '),
        50..62 => push_digit_groups(s, &d, &[3, 4, 4], ' '),
        62..74 => push_digit_groups(s, &d, &[3, 4, 4], '-'),
        74..84 => {
            s.push_str("+86 ");
            push_digit_groups(s, &d, &[11], ' ');
        }
        84..88 => {
            s.push_str("+86 ");
            push_digit_groups(s, &d, &[3, 4, 4], ' ');
        }
        88..94 => {
            s.push_str("0086-");
            push_digit_groups(s, &d, &[11], ' ');
        }
        _ => {
            s.push_str("+86");
            push_digit_groups(s, &d, &[11], ' ');
        }
    }
}

fn push_cn_landline(rng: &mut Rng8, s: &mut String) {
    let (area, len) = match rng.random_range(0..10u32) {
        0..5 => (*pick(rng, CN_AREA3), 8),
        5..9 => (*pick(rng, CN_AREA4_8), 8),
        _ => (*pick(rng, CN_AREA4_7), 7),
    };
    let mut local = String::with_capacity(8);
    push_digit(&mut local, rng.random_range(2..=8));
    push_rand_digits(rng, &mut local, len - 1);
    match rng.random_range(0..100u32) {
        0..70 => {
            s.push_str(area);
            s.push('-');
            s.push_str(&local);
        }
        70..82 => {
            s.push('(');
            s.push_str(area);
            s.push(')');
            s.push_str(&local);
        }
        82..90 => {
            s.push_str(area);
            s.push(' ');
            s.push_str(&local);
        }
        _ => {
            s.push_str("+86 ");
            s.push_str(&area[1..]);
            s.push('-');
            s.push_str(&local);
        }
    }
}

fn push_us_phone(rng: &mut Rng8, s: &mut String) {
    let area = *pick(rng, US_AREA_CODES);
    let mut exchange = String::with_capacity(3);
    let mut line = String::with_capacity(4);
    if chance(rng, 150) {
        // 555-0100..0199 is reserved for fiction, as in real test data.
        exchange.push_str("555");
        line.push_str("01");
        push_rand_digits(rng, &mut line, 2);
    } else {
        push_digit(&mut exchange, rng.random_range(2..=9));
        let (a, b) = (rng.random_range(0..10u8), rng.random_range(0..10u8));
        // N11 exchanges are service codes, never subscriber numbers.
        push_digit(&mut exchange, a);
        push_digit(&mut exchange, if a == 1 && b == 1 { 2 } else { b });
        push_rand_digits(rng, &mut line, 4);
    }
    match rng.random_range(0..100u32) {
        0..40 => {
            s.push('(');
            s.push_str(area);
            s.push_str(") ");
        }
        40..75 => {
            s.push_str(area);
            s.push('-');
        }
        75..85 => {
            s.push_str(area);
            s.push('.');
            s.push_str(&exchange);
            s.push('.');
            s.push_str(&line);
            return;
        }
        85..95 => {
            s.push_str("+1 ");
            s.push_str(area);
            s.push('-');
        }
        _ => {
            s.push_str("+1 (");
            s.push_str(area);
            s.push_str(") ");
        }
    }
    s.push_str(&exchange);
    s.push('-');
    s.push_str(&line);
}

fn push_uk_phone(rng: &mut Rng8, s: &mut String) {
    let intl = chance(rng, 250);
    s.push_str(if intl { "+44 " } else { "0" });
    match rng.random_range(0..3u32) {
        0 => {
            s.push_str("20 7");
            push_rand_digits(rng, s, 3);
            s.push(' ');
            push_rand_digits(rng, s, 4);
        }
        1 => {
            s.push('7');
            if chance(rng, 400) {
                // Ofcom's drama range.
                s.push_str("700 900");
                push_rand_digits(rng, s, 3);
            } else {
                push_digit(s, rng.random_range(1..=9));
                push_rand_digits(rng, s, 2);
                s.push(' ');
                push_rand_digits(rng, s, 6);
            }
        }
        _ => {
            s.push_str("161 ");
            push_rand_digits(rng, s, 3);
            s.push(' ');
            push_rand_digits(rng, s, 4);
        }
    }
}

#[derive(Clone, Copy)]
struct CnName {
    surname: (&'static str, &'static str),
    given: [(&'static str, &'static str); 2],
    n_given: usize,
}

impl CnName {
    fn random(rng: &mut Rng8) -> Self {
        let surname = if chance(rng, 30) {
            *pick(rng, COMPOUND_SURNAMES)
        } else {
            // The list is frequency-ordered; min of two uniforms skews towards its head.
            let n = SURNAMES.len();
            SURNAMES[rng.random_range(0..n).min(rng.random_range(0..n))]
        };
        let n_given = if chance(rng, 620) { 2 } else { 1 };
        let given = [*pick(rng, GIVEN_CHARS), *pick(rng, GIVEN_CHARS)];
        CnName {
            surname,
            given,
            n_given,
        }
    }

    fn push_hanzi(&self, s: &mut String) {
        s.push_str(self.surname.0);
        for g in &self.given[..self.n_given] {
            s.push_str(g.0);
        }
    }

    fn push_given_pinyin(&self, s: &mut String) {
        for g in &self.given[..self.n_given] {
            s.push_str(g.1);
        }
    }

    fn push_email(&self, rng: &mut Rng8, s: &mut String) {
        let sur = self.surname.1;
        match rng.random_range(0..7u32) {
            0 => {
                s.push_str(sur);
                self.push_given_pinyin(s);
            }
            1 => {
                s.push_str(sur);
                s.push('.');
                self.push_given_pinyin(s);
            }
            2 => {
                self.push_given_pinyin(s);
                s.push('.');
                s.push_str(sur);
            }
            3 => {
                s.push_str(sur);
                self.push_given_pinyin(s);
                push_num(s, rng.random_range(10..100));
            }
            4 => {
                s.push_str(sur);
                s.push('_');
                self.push_given_pinyin(s);
            }
            5 => {
                s.push_str(&sur[..1]);
                for g in &self.given[..self.n_given] {
                    s.push_str(&g.1[..1]);
                }
                push_num(s, rng.random_range(1970..=2005));
            }
            _ => {
                // QQ mail addresses are the bare QQ number.
                push_digit(s, rng.random_range(1..=9));
                let len = rng.random_range(4..=9);
                push_rand_digits(rng, s, len);
                s.push_str("@qq.com");
                return;
            }
        }
        s.push('@');
        s.push_str(pick_str(rng, CN_EMAIL_DOMAINS));
    }
}

#[derive(Clone, Copy)]
struct EnName {
    first: &'static str,
    middle: Option<char>,
    last: &'static str,
}

impl EnName {
    fn random(rng: &mut Rng8) -> Self {
        let first = *pick(rng, EN_FIRST);
        let middle = chance(rng, 150).then(|| char::from(b'A' + rng.random_range(0..26u8)));
        let last = *pick(rng, EN_LAST);
        EnName {
            first,
            middle,
            last,
        }
    }

    fn push(&self, s: &mut String) {
        s.push_str(self.first);
        if let Some(m) = self.middle {
            s.push(' ');
            s.push(m);
            s.push('.');
        }
        s.push(' ');
        s.push_str(self.last);
    }

    fn push_email(&self, rng: &mut Rng8, s: &mut String) {
        fn lower(s: &mut String, word: &str) {
            s.extend(
                word.chars()
                    .filter(char::is_ascii_alphabetic)
                    .map(|c| c.to_ascii_lowercase()),
            );
        }
        let (first, last) = (self.first, self.last);
        match rng.random_range(0..6u32) {
            0 => {
                lower(s, first);
                s.push('.');
                lower(s, last);
            }
            1 => {
                lower(s, &first[..1]);
                lower(s, last);
            }
            2 => {
                lower(s, last);
                lower(s, &first[..1]);
            }
            3 => {
                lower(s, first);
                s.push('_');
                lower(s, last);
                push_num(s, rng.random_range(10..100));
            }
            4 => {
                lower(s, first);
                lower(s, last);
            }
            _ => {
                lower(s, first);
                s.push('.');
                lower(s, &last[..1]);
            }
        }
        s.push('@');
        s.push_str(pick_str(rng, EN_EMAIL_DOMAINS));
    }
}

/// Luhn check digit for a payload that the check digit will be appended to.
fn luhn_check_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let v = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            if v > 9 {
                v - 9
            } else {
                v
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn push_bank_card(rng: &mut Rng8, s: &mut String) {
    let (prefix, len) = if chance(rng, 450) {
        (*pick(rng, CARD19_PREFIXES), 19)
    } else {
        (*pick(rng, CARD16_PREFIXES), 16)
    };
    let mut d = [0u8; 19];
    for (x, b) in d.iter_mut().zip(prefix.bytes()) {
        *x = b - b'0';
    }
    for x in &mut d[prefix.len()..len - 1] {
        *x = rng.random_range(0..10);
    }
    d[len - 1] = luhn_check_digit(&d[..len - 1]);
    let sep = match rng.random_range(0..100u32) {
        0..60 => None,
        60..92 => Some(' '),
        _ => Some('-'),
    };
    for (i, &x) in d[..len].iter().enumerate() {
        if let Some(c) = sep.filter(|_| i > 0 && i % 4 == 0) {
            s.push(c);
        }
        push_digit(s, x);
    }
}

fn push_ipv4(rng: &mut Rng8, s: &mut String, style: Style) {
    let (a, b) = match rng.random_range(0..100u32) {
        0..8 => (192, 168),
        8..12 => (10, rng.random_range(0..=255)),
        12..14 => (172, rng.random_range(16..=31)),
        _ => {
            let pool = if style == Style::Zh {
                IPV4_CN_FIRST
            } else {
                IPV4_EN_FIRST
            };
            (u64::from(*pick(rng, pool)), rng.random_range(0..=255))
        }
    };
    for (i, part) in [a, b, rng.random_range(0..=255), rng.random_range(1..=254)]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            s.push('.');
        }
        push_num(s, part);
    }
}

fn push_ipv6(rng: &mut Rng8, s: &mut String, style: Style) {
    let pool = if style == Style::Zh {
        IPV6_CN_PREFIX
    } else {
        IPV6_EN_PREFIX
    };
    push_hex(s, *pick(rng, pool));
    if chance(rng, 500) {
        for _ in 0..7 {
            s.push(':');
            push_hex(s, rng.random());
        }
    } else {
        // At most six explicit groups, so "::" stands for at least two zero groups.
        for _ in 0..rng.random_range(1..=3) {
            s.push(':');
            push_hex(s, rng.random_range(1..=u16::MAX));
        }
        s.push(':');
        for _ in 0..rng.random_range(1..=2) {
            s.push(':');
            push_hex(s, rng.random_range(1..=u16::MAX));
        }
    }
}

fn push_cn_address(rng: &mut Rng8, s: &mut String) {
    let c = pick(rng, CN_CITIES);
    if c.province != c.city && chance(rng, 700) {
        s.push_str(c.province);
    }
    s.push_str(c.city);
    s.push_str(pick_str(rng, c.districts));
    s.push_str(if chance(rng, 700) {
        pick_str(rng, c.roads)
    } else {
        pick_str(rng, GENERIC_ROADS)
    });
    push_num(s, rng.random_range(1..=999));
    s.push('号');
    let room = rng.random_range(1..=33u64) * 100 + rng.random_range(1..=6u64);
    match rng.random_range(0..100u32) {
        0..35 => {
            s.push_str(pick_str(rng, COMPOUNDS));
            push_num(s, rng.random_range(1..=30));
            s.push('栋');
            push_num(s, rng.random_range(1..=6));
            s.push_str("单元");
            push_num(s, room);
            s.push('室');
        }
        35..55 => {
            push_num(s, rng.random_range(1..=20));
            s.push_str("号楼");
            push_num(s, room);
            s.push('室');
        }
        55..65 => {
            push_num(s, rng.random_range(1..=30));
            s.push('栋');
            push_num(s, room);
            s.push('室');
        }
        _ => {}
    }
}

fn push_us_address(rng: &mut Rng8, s: &mut String) {
    if chance(rng, 60) {
        s.push_str(pick_str(rng, US_FAMOUS));
        return;
    }
    push_num(s, rng.random_range(1..=9999));
    s.push(' ');
    s.push_str(pick_str(rng, US_STREETS));
    s.push(' ');
    s.push_str(pick_str(rng, US_SUFFIXES));
    match rng.random_range(0..100u32) {
        0..12 => {
            s.push_str(", Apt ");
            push_num(s, rng.random_range(1..=30));
            s.push(char::from(b'A' + rng.random_range(0..6u8)));
        }
        12..20 => {
            s.push_str(", Suite ");
            push_num(s, rng.random_range(1..=9) * 100);
        }
        _ => {}
    }
    let (city, state, zip3) = *pick(rng, US_CITIES);
    s.push_str(", ");
    s.push_str(city);
    s.push_str(", ");
    s.push_str(state);
    s.push(' ');
    s.push_str(zip3);
    push_rand_digits(rng, s, 2);
}

fn push_uk_address(rng: &mut Rng8, s: &mut String) {
    if chance(rng, 60) {
        s.push_str(pick_str(rng, UK_FAMOUS));
        return;
    }
    if chance(rng, 200) {
        s.push_str("Flat ");
        push_num(s, rng.random_range(1..=40));
        s.push_str(", ");
    }
    push_num(s, rng.random_range(1..=250));
    if chance(rng, 100) {
        s.push(if chance(rng, 500) { 'A' } else { 'B' });
    }
    s.push(' ');
    s.push_str(pick_str(rng, UK_STREETS));
    s.push(' ');
    s.push_str(pick_str(rng, UK_SUFFIXES));
    let (city, outward) = *pick(rng, UK_PLACES);
    s.push_str(", ");
    s.push_str(city);
    s.push(' ');
    s.push_str(pick_str(rng, outward));
    s.push(' ');
    push_digit(s, rng.random_range(1..=9));
    s.push(char::from(*pick(rng, UK_POSTCODE_LETTERS)));
    s.push(char::from(*pick(rng, UK_POSTCODE_LETTERS)));
}

fn push_plate(rng: &mut Rng8, s: &mut String) {
    s.push_str(pick_str(rng, PLATE_PROVINCES));
    s.push(match rng.random_range(0..10u32) {
        0..6 => 'A',
        6..8 => 'B',
        _ => char::from(b'C' + rng.random_range(0..6u8)),
    });
    match rng.random_range(0..100u32) {
        0..60 => {}
        60..85 => s.push('·'),
        _ => s.push(' '),
    }
    if chance(rng, 200) {
        // Small new-energy plates: D (electric) or F (hybrid) plus five digits.
        s.push(if chance(rng, 700) { 'D' } else { 'F' });
        push_rand_digits(rng, s, 5);
    } else {
        let mut serial = [0u8; 5];
        for x in &mut serial {
            *x = b'0' + rng.random_range(0..10u8);
        }
        for _ in 0..rng.random_range(0..=2) {
            serial[rng.random_range(0..5)] = *pick(rng, PLATE_LETTERS);
        }
        s.extend(serial.iter().map(|&b| char::from(b)));
    }
}

fn push_passport(rng: &mut Rng8, s: &mut String) {
    match rng.random_range(0..100u32) {
        0..55 => {
            s.push('E');
            push_rand_digits(rng, s, 8);
        }
        55..80 => {
            s.push('G');
            push_rand_digits(rng, s, 8);
        }
        _ => {
            s.push('E');
            s.push(char::from(b'A' + rng.random_range(0..6u8)));
            push_rand_digits(rng, s, 7);
        }
    }
}

/// 18-character unified social credit code (GB 32100) whose embedded organization
/// code carries a valid GB 11714 check character and whose last character is the
/// GB 32100 mod-31 check.
fn push_uscc(rng: &mut Rng8, s: &mut String) {
    const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const USCC_WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let mut c = [0u8; 18];
    let head: &[u8; 2] = match rng.random_range(0..100u32) {
        0..80 => b"91",
        80..88 => b"92",
        88..94 => b"12",
        _ => b"52",
    };
    c[..2].copy_from_slice(head);
    write_digits(&mut c[2..8], *pick(rng, CN_REGIONS));
    if chance(rng, 600) {
        // Codes issued since 2015 mostly start with "MA".
        c[8] = b'M';
        c[9] = b'A';
        c[10] = *pick(rng, CHARSET);
        for x in &mut c[11..16] {
            *x = b'0' + rng.random_range(0..10u8);
        }
    } else {
        for x in &mut c[8..16] {
            *x = b'0' + rng.random_range(0..10u8);
        }
    }
    let org_value = |b: u8| -> u32 {
        if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        }
    };
    let org_sum: u32 = c[8..16]
        .iter()
        .zip(ORG_WEIGHTS)
        .map(|(&b, w)| org_value(b) * w)
        .sum();
    c[16] = match 11 - org_sum % 11 {
        10 => b'X',
        11 => b'0',
        v => b'0' + v as u8,
    };
    let sum: u32 = c[..17]
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(&b, w)| CHARSET.iter().position(|&x| x == b).unwrap_or(0) as u32 * w)
        .sum();
    c[17] = CHARSET[((31 - sum % 31) % 31) as usize];
    s.extend(c.iter().map(|&b| char::from(b)));
}

fn push_ssn(rng: &mut Rng8, s: &mut String) {
    // Never issued: area 000, 666 or 900-999, group 00, serial 0000.
    let area = loop {
        let a = rng.random_range(1..=899u64);
        if a != 666 {
            break a;
        }
    };
    let sep = match rng.random_range(0..100u32) {
        0..85 => "-",
        85..95 => " ",
        _ => "",
    };
    push_padded(s, area, 3);
    s.push_str(sep);
    push_padded(s, rng.random_range(1..=99), 2);
    s.push_str(sep);
    push_padded(s, rng.random_range(1..=9999), 4);
}

/// ISO 13616 check digits: 98 - (BBAN ++ country ++ "00" as digits mod 97).
fn iban_check_digits(country: &str, bban: &str) -> u32 {
    let mut rem = 0u32;
    for b in bban.bytes().chain(country.bytes()).chain(*b"00") {
        rem = if b.is_ascii_digit() {
            (rem * 10 + u32::from(b - b'0')) % 97
        } else {
            (rem * 100 + u32::from(b - b'A') + 10) % 97
        };
    }
    98 - rem
}

fn push_iban(rng: &mut Rng8, s: &mut String) {
    let mut bban = String::with_capacity(30);
    let country = match rng.random_range(0..4u32) {
        0 => {
            bban.push_str(pick_str(rng, DE_BLZ));
            push_rand_digits(rng, &mut bban, 10);
            "DE"
        }
        1 => {
            bban.push_str(pick_str(rng, GB_BANKS));
            push_rand_digits(rng, &mut bban, 14);
            "GB"
        }
        2 => {
            let bank = *pick(rng, FR_BANKS);
            let branch = rng.random_range(0..100_000u64);
            let account = rng.random_range(0..100_000_000_000u64);
            let bank_n: u64 = bank.bytes().fold(0, |a, b| a * 10 + u64::from(b - b'0'));
            // French RIB key, so the national part is valid too.
            let key = 97 - (89 * bank_n + 15 * branch + 3 * account) % 97;
            bban.push_str(bank);
            push_padded(&mut bban, branch, 5);
            push_padded(&mut bban, account, 11);
            push_padded(&mut bban, key, 2);
            "FR"
        }
        _ => {
            bban.push_str(pick_str(rng, NL_BANKS));
            push_rand_digits(rng, &mut bban, 10);
            "NL"
        }
    };
    let mut full = String::with_capacity(40);
    full.push_str(country);
    push_padded(&mut full, u64::from(iban_check_digits(country, &bban)), 2);
    full.push_str(&bban);
    if chance(rng, 600) {
        // Paper format: groups of four.
        for (i, c) in full.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push(' ');
            }
            s.push(c);
        }
    } else {
        s.push_str(&full);
    }
}

fn push_dob(rng: &mut Rng8, s: &mut String, fmt: Pii) {
    let (y, m, d) = rand_date(rng, 1950, 2008);
    let (y, m, d) = (u64::from(y), u64::from(m), u64::from(d));
    let ymd = |s: &mut String, sep: char, pad: usize| {
        push_num(s, y);
        s.push(sep);
        push_padded(s, m, pad);
        s.push(sep);
        push_padded(s, d, pad);
    };
    match fmt {
        Pii::DobZh => match rng.random_range(0..5u32) {
            0 | 1 => {
                push_num(s, y);
                s.push('年');
                push_num(s, m);
                s.push('月');
                push_num(s, d);
                s.push('日');
            }
            2 => {
                push_num(s, y);
                s.push('年');
                push_padded(s, m, 2);
                s.push('月');
                push_padded(s, d, 2);
                s.push('日');
            }
            3 => ymd(s, '.', 1),
            _ => ymd(s, '/', 2),
        },
        Pii::DobEn => {
            let month = MONTHS_EN[(m - 1) as usize];
            match rng.random_range(0..3u32) {
                0 => {
                    push_num(s, d);
                    s.push(' ');
                    s.push_str(month);
                    s.push(' ');
                    push_num(s, y);
                }
                1 => {
                    s.push_str(month);
                    s.push(' ');
                    push_num(s, d);
                    s.push_str(", ");
                    push_num(s, y);
                }
                _ => {
                    push_padded(s, m, 2);
                    s.push('/');
                    push_padded(s, d, 2);
                    s.push('/');
                    push_num(s, y);
                }
            }
        }
        _ => ymd(s, '-', 2),
    }
}

// ---------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Fill {
    Prod,
    Issue,
    Req,
    Feel,
    Topic,
    When,
    City,
    ProdEn,
    IssueEn,
    ReqEn,
    FeelEn,
    TopicEn,
    WhenEn,
    CityEn,
    N,
    Amt,
    AmtEn,
    Order,
    Track,
}

#[derive(Clone, Copy)]
enum Piece {
    Lit(&'static str),
    Fill(Fill),
    Pii(Pii),
}

struct Tpl {
    pieces: Vec<Piece>,
    /// Starts with an ASCII letter, so it needs a space after preceding ASCII text.
    lead_ascii: bool,
}

struct TplSet {
    style: Style,
    items: Vec<Tpl>,
}

fn slot(name: &str) -> Option<Piece> {
    use Piece::{Fill as F, Pii as P};
    Some(match name {
        "prod" => F(Fill::Prod),
        "issue" => F(Fill::Issue),
        "req" => F(Fill::Req),
        "feel" => F(Fill::Feel),
        "topic" => F(Fill::Topic),
        "when" => F(Fill::When),
        "city" => F(Fill::City),
        "prod_en" => F(Fill::ProdEn),
        "issue_en" => F(Fill::IssueEn),
        "req_en" => F(Fill::ReqEn),
        "feel_en" => F(Fill::FeelEn),
        "topic_en" => F(Fill::TopicEn),
        "when_en" => F(Fill::WhenEn),
        "city_en" => F(Fill::CityEn),
        "n" => F(Fill::N),
        "amt" => F(Fill::Amt),
        "amt_en" => F(Fill::AmtEn),
        "order" => F(Fill::Order),
        "track" => F(Fill::Track),
        "cn_id" => P(Pii::CnId),
        "cn_mobile" => P(Pii::CnMobile),
        "cn_land" => P(Pii::CnLand),
        "us_phone" => P(Pii::UsPhone),
        "uk_phone" => P(Pii::UkPhone),
        "email" => P(Pii::Email),
        "bank" => P(Pii::Bank),
        "ipv4" => P(Pii::Ipv4),
        "ipv6" => P(Pii::Ipv6),
        "cn_name" => P(Pii::CnName),
        "en_name" => P(Pii::EnName),
        "cn_addr" => P(Pii::CnAddr),
        "us_addr" => P(Pii::UsAddr),
        "uk_addr" => P(Pii::UkAddr),
        "plate" => P(Pii::Plate),
        "passport" => P(Pii::Passport),
        "uscc" => P(Pii::Uscc),
        "ssn" => P(Pii::Ssn),
        "iban" => P(Pii::Iban),
        "dob_zh" => P(Pii::DobZh),
        "dob_en" => P(Pii::DobEn),
        "dob_iso" => P(Pii::DobIso),
        _ => return None,
    })
}

fn parse_template(t: &'static str) -> Result<Tpl> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Lit(&rest[..open]));
        }
        let close = rest[open..]
            .find('}')
            .map(|i| i + open)
            .ok_or_else(|| format!("unclosed slot in template {t:?}"))?;
        let name = &rest[open + 1..close];
        pieces.push(slot(name).ok_or_else(|| format!("unknown slot {name:?} in template {t:?}"))?);
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Lit(rest));
    }
    if !matches!(pieces.last(), Some(Piece::Lit(_))) {
        return Err(format!("template {t:?} must end with literal punctuation").into());
    }
    let lead_ascii = match pieces.first() {
        Some(Piece::Lit(l)) => l.starts_with(|c: char| c.is_ascii_alphabetic()),
        Some(Piece::Fill(_)) => false,
        Some(Piece::Pii(p)) => matches!(p, Pii::EnName | Pii::Email),
        None => false,
    };
    Ok(Tpl { pieces, lead_ascii })
}

impl TplSet {
    fn parse(style: Style, sources: &[&'static str]) -> Result<Self> {
        let items = sources
            .iter()
            .copied()
            .map(parse_template)
            .collect::<Result<_>>()?;
        Ok(TplSet { style, items })
    }
}

#[derive(Clone, Copy)]
enum SentenceKind {
    Fill,
    Pii,
    Reply,
    ReplyPii,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Zh,
    En,
    Mixed,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
            Lang::Mixed => "mixed",
        }
    }
}

struct Templates {
    zh_fill: TplSet,
    en_fill: TplSet,
    mix_fill: TplSet,
    zh_reply: TplSet,
    en_reply: TplSet,
    zh_pii: TplSet,
    en_pii: TplSet,
    mix_pii: TplSet,
    zh_reply_pii: TplSet,
    en_reply_pii: TplSet,
}

impl Templates {
    fn new() -> Result<Self> {
        Ok(Templates {
            zh_fill: TplSet::parse(Style::Zh, ZH_FILL)?,
            en_fill: TplSet::parse(Style::En, EN_FILL)?,
            mix_fill: TplSet::parse(Style::Zh, MIX_FILL)?,
            zh_reply: TplSet::parse(Style::Zh, ZH_REPLY)?,
            en_reply: TplSet::parse(Style::En, EN_REPLY)?,
            zh_pii: TplSet::parse(Style::Zh, ZH_PII)?,
            en_pii: TplSet::parse(Style::En, EN_PII)?,
            mix_pii: TplSet::parse(Style::Zh, MIX_PII)?,
            zh_reply_pii: TplSet::parse(Style::Zh, ZH_REPLY_PII)?,
            en_reply_pii: TplSet::parse(Style::En, EN_REPLY_PII)?,
        })
    }

    /// Mixed-language text opens with a genuinely mixed sentence, then wanders
    /// between Chinese, English and mixed ones.
    fn pick(&self, rng: &mut Rng8, lang: Lang, kind: SentenceKind, first: bool) -> &TplSet {
        let roll = rng.random_range(0..100u32);
        match (lang, kind) {
            (Lang::Zh, SentenceKind::Fill) => &self.zh_fill,
            (Lang::En, SentenceKind::Fill) => &self.en_fill,
            (Lang::Mixed, SentenceKind::Fill) => match roll {
                _ if first => &self.mix_fill,
                0..40 => &self.mix_fill,
                40..75 => &self.zh_fill,
                _ => &self.en_fill,
            },
            (Lang::Zh, SentenceKind::Pii) => &self.zh_pii,
            (Lang::En, SentenceKind::Pii) => &self.en_pii,
            (Lang::Mixed, SentenceKind::Pii) => match roll {
                _ if first => &self.mix_pii,
                0..40 => &self.mix_pii,
                40..80 => &self.zh_pii,
                _ => &self.en_pii,
            },
            (Lang::Zh, SentenceKind::Reply) => &self.zh_reply,
            (Lang::En, SentenceKind::Reply) => &self.en_reply,
            (Lang::Mixed, SentenceKind::Reply) if roll < 50 => &self.zh_reply,
            (Lang::Mixed, SentenceKind::Reply) => &self.en_reply,
            (Lang::Zh, SentenceKind::ReplyPii) => &self.zh_reply_pii,
            (Lang::En, SentenceKind::ReplyPii) => &self.en_reply_pii,
            (Lang::Mixed, SentenceKind::ReplyPii) if roll < 50 => &self.zh_reply_pii,
            (Lang::Mixed, SentenceKind::ReplyPii) => &self.en_reply_pii,
        }
    }
}

fn push_fill(rng: &mut Rng8, s: &mut String, kind: Fill) {
    let from = |rng: &mut Rng8, s: &mut String, xs: &[&'static str]| s.push_str(pick_str(rng, xs));
    match kind {
        Fill::Prod => from(rng, s, PROD_ZH),
        Fill::Issue => from(rng, s, ISSUE_ZH),
        Fill::Req => from(rng, s, REQ_ZH),
        Fill::Feel => from(rng, s, FEEL_ZH),
        Fill::Topic => from(rng, s, TOPIC_ZH),
        Fill::When => from(rng, s, WHEN_ZH),
        Fill::City => from(rng, s, CITY_ZH),
        Fill::ProdEn => from(rng, s, PROD_EN),
        Fill::IssueEn => from(rng, s, ISSUE_EN),
        Fill::ReqEn => from(rng, s, REQ_EN),
        Fill::FeelEn => from(rng, s, FEEL_EN),
        Fill::TopicEn => from(rng, s, TOPIC_EN),
        Fill::WhenEn => from(rng, s, WHEN_EN),
        Fill::CityEn => from(rng, s, CITY_EN),
        Fill::N => push_num(s, rng.random_range(2..=30)),
        Fill::Amt | Fill::AmtEn => {
            if matches!(kind, Fill::AmtEn) {
                s.push(match rng.random_range(0..10u32) {
                    0..7 => '$',
                    7..9 => '€',
                    _ => '£',
                });
            }
            push_num(s, rng.random_range(5..=3000));
            s.push('.');
            push_padded(s, *pick(rng, &[0, 0, 90, 99, 50, 80, 9]), 2);
        }
        // Order and tracking numbers are deliberately PII-shaped noise: 12-13 digit
        // runs that match no planted entity type.
        Fill::Order => {
            s.push_str("2026");
            push_rand_digits(rng, s, 8);
        }
        Fill::Track => match rng.random_range(0..3u32) {
            0 => {
                s.push_str("SF");
                push_rand_digits(rng, s, 12);
            }
            1 => {
                s.push_str("YT");
                push_rand_digits(rng, s, 13);
            }
            _ => {
                s.push_str("JD");
                push_rand_digits(rng, s, 13);
            }
        },
    }
}

// ---------------------------------------------------------------------------
// Chat records
// ---------------------------------------------------------------------------

const MIN_TEXT_CHARS: usize = 50;
const MAX_TEXT_CHARS: usize = 600;
const NEAR_DUP_MIN_CHARS: usize = 80;
/// Originals kept (reservoir-sampled) as sources for duplicates.
const POOL_CAP: usize = 4096;
/// 2026-03-01T00:00:00Z.
const CHAT_EPOCH: u64 = 1_772_323_200;

// Heavy-tailed user ids without floats: tier t (probability 2^-(t+1), the last tier
// taking the remainder) holds 16 * 4^t users, so per-user frequency falls ~8x per tier.
const USER_TIERS: u32 = 7;
const N_USERS: u64 = 87_376; // sum of 16 * 4^t for t < 7
                             // A fixed bijection on [0, N_USERS) so the busiest users do not get the smallest ids.
const USER_PERM_MUL: u64 = 40_503; // coprime with N_USERS = 2^4 * 43 * 127
const USER_PERM_ADD: u64 = 12_345;

const ZERO_WIDTH: &[&str] = &["\u{200B}", "\u{200D}", "\u{FEFF}"];
const SPACE_RUNS: &[&str] = &["  ", "   ", "\t", " \t ", "\u{3000}", "\u{A0}"];
const CONTROLS: &[&str] = &["\u{7}", "\u{1B}"];

#[derive(Clone, Copy)]
struct Ent {
    ty: &'static str,
    /// Character (not byte) offsets into the field's final string.
    start: usize,
    end: usize,
}

#[derive(Default)]
struct Field {
    s: String,
    nchars: usize,
    ents: Vec<Ent>,
}

impl Field {
    fn clear(&mut self) {
        self.s.clear();
        self.nchars = 0;
        self.ents.clear();
    }

    /// Accounts for everything appended since byte offset `mark`.
    fn commit(&mut self, mark: usize) {
        self.nchars += self.s[mark..].chars().count();
    }
}

/// RNG plus per-record bait state, split from the record so both can be borrowed.
struct Core {
    rng: Rng8,
    scratch: String,
    bait: bool,
    baited: bool,
}

impl Core {
    fn chance(&mut self, per_mille: u32) -> bool {
        chance(&mut self.rng, per_mille)
    }

    fn lit(&mut self, f: &mut Field, lit: &str) {
        let mark = f.s.len();
        f.s.push_str(lit);
        self.bait_tail(f, mark);
        f.commit(mark);
    }

    fn render(&mut self, tpl: &Tpl, style: Style, f: &mut Field) {
        for piece in &tpl.pieces {
            let mark = f.s.len();
            let entity = match *piece {
                Piece::Lit(lit) => {
                    f.s.push_str(lit);
                    self.bait_tail(f, mark);
                    None
                }
                Piece::Fill(kind) => {
                    push_fill(&mut self.rng, &mut f.s, kind);
                    self.bait_tail(f, mark);
                    None
                }
                Piece::Pii(kind) => {
                    push_pii(&mut self.rng, &mut f.s, kind, style);
                    if self.bait && matches!(kind, Pii::CnId | Pii::CnMobile) && self.chance(400) {
                        self.scratch.clear();
                        self.scratch.push_str(&f.s[mark..]);
                        f.s.truncate(mark);
                        push_fullwidth(&mut f.s, &self.scratch);
                        self.baited = true;
                    }
                    Some(kind)
                }
            };
            let start = f.nchars;
            f.commit(mark);
            if let Some(kind) = entity {
                f.ents.push(Ent {
                    ty: kind.type_name(),
                    start,
                    end: f.nchars,
                });
            }
        }
    }

    /// Possibly disguises the non-entity text appended since `mark`. Entities never
    /// pass through here, so their truth values stay exact.
    fn bait_tail(&mut self, f: &mut Field, mark: usize) {
        if !self.bait || f.s.len() == mark || !self.chance(250) {
            return;
        }
        self.scratch.clear();
        self.scratch.push_str(&f.s[mark..]);
        f.s.truncate(mark);
        let piece = self.scratch.as_str();
        let rng = &mut self.rng;
        let insert = match rng.random_range(0..5u32) {
            0 if piece.bytes().any(|b| b.is_ascii_alphanumeric()) => {
                push_fullwidth(&mut f.s, piece);
                None
            }
            1 if piece.contains(' ') => {
                f.s.extend(piece.chars().map(|c| if c == ' ' { '\u{A0}' } else { c }));
                None
            }
            1 | 2 => Some(*pick(rng, SPACE_RUNS)),
            3 => Some(*pick(rng, CONTROLS)),
            _ => Some(*pick(rng, ZERO_WIDTH)),
        };
        if let Some(ins) = insert {
            let k = rng.random_range(0..=piece.chars().count());
            let at = piece.char_indices().nth(k).map_or(piece.len(), |(i, _)| i);
            f.s.push_str(&piece[..at]);
            f.s.push_str(ins);
            f.s.push_str(&piece[at..]);
        }
        self.baited = true;
    }

    /// Guarantees that a record chosen for bait really carries some.
    fn force_bait(&mut self, f: &mut Field) {
        if self.bait && !self.baited {
            let mark = f.s.len();
            let pool = if self.chance(500) {
                ZERO_WIDTH
            } else {
                SPACE_RUNS
            };
            f.s.push_str(pick_str(&mut self.rng, pool));
            f.commit(mark);
            self.baited = true;
        }
    }

    fn sentence(&mut self, set: &TplSet, f: &mut Field) {
        let tpl = &set.items[self.rng.random_range(0..set.items.len())];
        if tpl.lead_ascii && f.s.ends_with(|c: char| c.is_ascii_graphic()) {
            self.lit(f, " ");
        }
        self.render(tpl, set.style, f);
    }
}

#[derive(Clone, Copy)]
enum MetaShape {
    Absent,
    Null,
    Object,
}

#[derive(Clone, Copy)]
enum Rating {
    Absent,
    Null,
    Value(u8),
}

#[derive(Clone, Copy)]
enum DupKind {
    Exact,
    Near,
}

struct Record {
    id: u64,
    user: u64,
    lang: Lang,
    ts: u64,
    text: Field,
    msgs: [Field; 4],
    n_msgs: usize,
    meta: MetaShape,
    source: &'static str,
    tags: [&'static str; 3],
    n_tags: usize,
    rating: Rating,
    dup: Option<(u64, DupKind)>,
}

struct PoolEntry {
    id: u64,
    lang: Lang,
    text: String,
    nchars: usize,
    ents: Vec<Ent>,
}

/// Reusable buffers for near-duplicate construction.
struct NearDup {
    cjk: Vec<char>,
    orig: Vec<char>,
    work: Vec<char>,
    ents: Vec<Ent>,
    grams_a: Vec<u64>,
    grams_b: Vec<u64>,
}

struct ChatGen {
    core: Core,
    tpls: Templates,
    rec: Record,
    pool: Vec<PoolEntry>,
    originals: u64,
    clock: u64,
    nd: NearDup,
    /// Hashes of all original texts, to keep accidental duplicates out.
    seen: SeenSet,
}

impl ChatGen {
    fn new(seed: u64) -> Result<Self> {
        Ok(ChatGen {
            core: Core {
                rng: Rng8::seed_from_u64(seed),
                scratch: String::new(),
                bait: false,
                baited: false,
            },
            tpls: Templates::new()?,
            rec: Record {
                id: 0,
                user: 0,
                lang: Lang::Zh,
                ts: 0,
                text: Field::default(),
                msgs: Default::default(),
                n_msgs: 0,
                meta: MetaShape::Absent,
                source: "",
                tags: [""; 3],
                n_tags: 0,
                rating: Rating::Absent,
                dup: None,
            },
            pool: Vec::with_capacity(POOL_CAP),
            originals: 0,
            clock: CHAT_EPOCH,
            nd: NearDup {
                cjk: CJK_EDIT_CHARS.chars().collect(),
                orig: Vec::new(),
                work: Vec::new(),
                ents: Vec::new(),
                grams_a: Vec::new(),
                grams_b: Vec::new(),
            },
            seen: SeenSet::default(),
        })
    }

    fn next_record(&mut self, id: u64) {
        let ChatGen {
            core,
            tpls,
            rec,
            pool,
            originals,
            clock,
            nd,
            seen,
        } = self;
        core.bait = core.chance(50);
        core.baited = false;
        *clock += core.rng.random_range(0..=12u64);
        rec.id = id;
        rec.ts = *clock;
        rec.user = heavy_tailed_user(&mut core.rng);
        rec.dup = None;

        let roll = core.rng.random_range(0..1000u32);
        if !pool.is_empty() && roll < 100 {
            if roll >= 50 {
                if let Some(j) = near_dup(&mut core.rng, nd, pool, &mut rec.text) {
                    rec.dup = Some((pool[j].id, DupKind::Near));
                    rec.lang = pool[j].lang;
                }
            }
            // Near duplicates fall back to exact ones when no source text qualifies.
            if rec.dup.is_none() {
                let src = &pool[core.rng.random_range(0..pool.len())];
                rec.text.s.clone_from(&src.text);
                rec.text.nchars = src.nchars;
                rec.text.ents.clone_from(&src.ents);
                rec.dup = Some((src.id, DupKind::Exact));
                rec.lang = src.lang;
            }
        }

        let has_pii = core.chance(700);
        if rec.dup.is_none() {
            rec.lang = match core.rng.random_range(0..10u32) {
                0..6 => Lang::Zh,
                6..9 => Lang::En,
                _ => Lang::Mixed,
            };
            let n_pii = match (has_pii, core.rng.random_range(0..100u32)) {
                (false, _) => 0,
                (true, 0..55) => 1,
                (true, 55..85) => 2,
                (true, _) => 3,
            };
            // Short template texts can collide by chance; redraw so that every
            // exact duplicate in the output is one the truth file knows about.
            loop {
                build_text(core, tpls, &mut rec.text, rec.lang, n_pii);
                core.force_bait(&mut rec.text);
                if seen.insert(text_hash(&rec.text.s)) {
                    break;
                }
            }
            remember(&mut core.rng, pool, originals, rec);
        }

        build_messages(core, tpls, rec, has_pii);
        let last = rec.n_msgs - 1;
        core.force_bait(&mut rec.msgs[last]);
        build_meta(&mut core.rng, rec);
    }

    fn write_json(&self, out: &mut Vec<u8>) -> Result<()> {
        let r = &self.rec;
        out.extend_from_slice(b"{\"id\":\"c-");
        push_padded_bytes(out, r.id, 6);
        out.extend_from_slice(b"\",\"user_id\":\"u");
        push_padded_bytes(out, r.user, 5);
        out.extend_from_slice(b"\",\"lang\":\"");
        out.extend_from_slice(r.lang.code().as_bytes());
        out.extend_from_slice(b"\",\"ts\":\"");
        push_ts(out, r.ts);
        out.extend_from_slice(b"\",\"text\":");
        serde_json::to_writer(&mut *out, r.text.s.as_str())?;
        out.extend_from_slice(b",\"messages\":[");
        for (i, m) in r.msgs[..r.n_msgs].iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(if i % 2 == 0 {
                b"{\"role\":\"user\",\"content\":"
            } else {
                b"{\"role\":\"assistant\",\"content\":"
            });
            serde_json::to_writer(&mut *out, m.s.as_str())?;
            out.push(b'}');
        }
        out.push(b']');
        match r.meta {
            MetaShape::Absent => {}
            MetaShape::Null => out.extend_from_slice(b",\"meta\":null"),
            MetaShape::Object => {
                // Sources and tags are static strings that need no JSON escaping.
                out.extend_from_slice(b",\"meta\":{\"source\":\"");
                out.extend_from_slice(r.source.as_bytes());
                out.extend_from_slice(b"\",\"tags\":[");
                for (i, tag) in r.tags[..r.n_tags].iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'"');
                    out.extend_from_slice(tag.as_bytes());
                    out.push(b'"');
                }
                out.push(b']');
                match r.rating {
                    Rating::Absent => {}
                    Rating::Null => out.extend_from_slice(b",\"rating\":null"),
                    Rating::Value(v) => {
                        out.extend_from_slice(b",\"rating\":");
                        out.push(b'0' + v);
                    }
                }
                out.push(b'}');
            }
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }

    fn write_truth(&self, out: &mut impl Write) -> Result<()> {
        let r = &self.rec;
        let mut entities = Vec::new();
        truth_entities(&mut entities, "text", &r.text);
        for (i, m) in r.msgs[..r.n_msgs].iter().enumerate() {
            truth_entities(&mut entities, &format!("messages[{i}].content"), m);
        }
        let (dup_of, dup_kind) = match r.dup {
            None => (None, None),
            Some((src, kind)) => (
                Some(format!("c-{src:06}")),
                Some(match kind {
                    DupKind::Exact => "exact",
                    DupKind::Near => "near",
                }),
            ),
        };
        let line = json!({
            "id": format!("c-{:06}", r.id),
            "entities": entities,
            "dup_of": dup_of,
            "dup_kind": dup_kind,
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

fn truth_entities(out: &mut Vec<serde_json::Value>, field: &str, f: &Field) {
    if f.ents.is_empty() {
        return;
    }
    let byte_at: Vec<usize> =
        f.s.char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(f.s.len()))
            .collect();
    for e in &f.ents {
        out.push(json!({
            "field": field,
            "type": e.ty,
            "start": e.start,
            "end": e.end,
            "value": &f.s[byte_at[e.start]..byte_at[e.end]],
        }));
    }
}

/// Word-at-a-time 64-bit hash with a SplitMix64 finalizer, so every output bit is
/// mixed and the set below can use it directly as its bucket hash. At 64 bits,
/// collisions are negligible for corpora of millions of records.
fn text_hash(s: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = |c: &[u8]| c.iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let chunks = s.as_bytes().chunks_exact(8);
    let tail = word(chunks.remainder());
    let mut h = chunks.fold(K ^ s.len() as u64, |h, c| {
        (h ^ word(c)).wrapping_mul(K).rotate_left(29)
    });
    h = (h ^ tail).wrapping_mul(K);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Keys of the `seen` set are already `text_hash` outputs; re-hashing them with
/// SipHash would only cost time.
#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type SeenSet = HashSet<u64, BuildHasherDefault<PassThroughHasher>>;

fn heavy_tailed_user(rng: &mut Rng8) -> u64 {
    let tier = rng.random::<u32>().leading_zeros().min(USER_TIERS - 1);
    let size = 16u64 << (2 * tier);
    let offset = 16 * ((1u64 << (2 * tier)) - 1) / 3;
    let rank = offset + rng.random_range(0..size);
    (rank * USER_PERM_MUL + USER_PERM_ADD) % N_USERS + 1
}

/// Text length target: cubic skew gives mostly short texts and a long tail up to
/// the cap. English gets more characters because they are narrower than hanzi.
fn target_chars(rng: &mut Rng8, lang: Lang) -> usize {
    let r = match lang {
        Lang::Zh => 320,
        Lang::Mixed => 360,
        Lang::En => 380,
    };
    let (a, b, c) = (
        rng.random_range(0..r),
        rng.random_range(0..r),
        rng.random_range(0..r),
    );
    MIN_TEXT_CHARS + a * b / r * c / r
}

fn build_text(core: &mut Core, tpls: &Templates, f: &mut Field, lang: Lang, n_pii: usize) {
    let mut attempt = 0;
    loop {
        f.clear();
        core.baited = false;
        // Redraw over-long texts; after a few tries aim for the minimum, which
        // always fits even with three entity sentences.
        let target = if attempt < 4 {
            target_chars(&mut core.rng, lang)
        } else {
            MIN_TEXT_CHARS
        };
        let mut remaining = n_pii;
        let mut first = true;
        while f.nchars < target || remaining > 0 {
            let pii = remaining > 0 && (f.nchars + 60 >= target || core.chance(350));
            let kind = if pii {
                SentenceKind::Pii
            } else {
                SentenceKind::Fill
            };
            let set = tpls.pick(&mut core.rng, lang, kind, first);
            core.sentence(set, f);
            remaining -= usize::from(pii);
            first = false;
        }
        if f.nchars <= MAX_TEXT_CHARS {
            return;
        }
        attempt += 1;
    }
}

fn build_messages(core: &mut Core, tpls: &Templates, rec: &mut Record, has_pii: bool) {
    rec.n_msgs = match core.rng.random_range(0..100u32) {
        0..52 => 1,
        52..82 => 2,
        82..93 => 3,
        _ => 4,
    };
    let pii_msg = (has_pii && core.chance(300)).then(|| core.rng.random_range(0..rec.n_msgs));
    let lang = rec.lang;
    for (i, f) in rec.msgs[..rec.n_msgs].iter_mut().enumerate() {
        f.clear();
        let user = i % 2 == 0;
        let n_sentences = if core.chance(150) { 2 } else { 1 };
        let pii_at = (pii_msg == Some(i)).then(|| core.rng.random_range(0..=n_sentences));
        for k in 0..=n_sentences {
            if pii_at == Some(k) {
                let kind = if user {
                    SentenceKind::Pii
                } else {
                    SentenceKind::ReplyPii
                };
                let set = tpls.pick(&mut core.rng, lang, kind, k == 0);
                core.sentence(set, f);
            }
            if k < n_sentences {
                let kind = if user {
                    SentenceKind::Fill
                } else {
                    SentenceKind::Reply
                };
                let set = tpls.pick(&mut core.rng, lang, kind, f.nchars == 0);
                core.sentence(set, f);
            }
        }
    }
}

fn build_meta(rng: &mut Rng8, rec: &mut Record) {
    rec.meta = match rng.random_range(0..1000u32) {
        0..20 => MetaShape::Absent,
        20..30 => MetaShape::Null,
        _ => MetaShape::Object,
    };
    if !matches!(rec.meta, MetaShape::Object) {
        return;
    }
    rec.source = *pick(rng, SOURCES);
    rec.n_tags = if chance(rng, 10) {
        0
    } else {
        rng.random_range(1..=3)
    };
    let mut i = 0;
    while i < rec.n_tags {
        let pool = match rec.lang {
            Lang::Zh => TAGS_ZH,
            Lang::En => TAGS_EN,
            Lang::Mixed if chance(rng, 500) => TAGS_ZH,
            Lang::Mixed => TAGS_EN,
        };
        let tag = *pick(rng, pool);
        if !rec.tags[..i].contains(&tag) {
            rec.tags[i] = tag;
            i += 1;
        }
    }
    rec.rating = match rng.random_range(0..1000u32) {
        0..30 => Rating::Null,
        30..60 => Rating::Absent,
        60..110 => Rating::Value(1),
        110..180 => Rating::Value(2),
        180..330 => Rating::Value(3),
        330..630 => Rating::Value(4),
        _ => Rating::Value(5),
    };
}

/// Reservoir sampling (Algorithm R) keeps duplicate sources uniform over the whole
/// history while bounding memory, even for multi-GB runs.
fn remember(rng: &mut Rng8, pool: &mut Vec<PoolEntry>, originals: &mut u64, rec: &Record) {
    *originals += 1;
    let slot = if pool.len() < POOL_CAP {
        pool.push(PoolEntry {
            id: 0,
            lang: rec.lang,
            text: String::new(),
            nchars: 0,
            ents: Vec::new(),
        });
        pool.len() - 1
    } else {
        let j = rng.random_range(0..*originals);
        if j >= POOL_CAP as u64 {
            return;
        }
        j as usize
    };
    let e = &mut pool[slot];
    e.id = rec.id;
    e.lang = rec.lang;
    e.text.clone_from(&rec.text.s);
    e.nchars = rec.text.nchars;
    e.ents.clone_from(&rec.text.ents);
}

fn shingles(chars: &[char], out: &mut Vec<u64>) {
    out.clear();
    out.extend(chars.windows(5).map(|w| {
        w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
            (h ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }));
    out.sort_unstable();
    out.dedup();
}

/// Returns (|A ∩ B|, |A ∪ B|) for sorted, deduplicated shingle sets.
fn intersection_union(a: &[u64], b: &[u64]) -> (usize, usize) {
    let (mut i, mut j, mut inter) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    (inter, a.len() + b.len() - inter)
}

/// Rewrites a pooled text with a few character edits until its 5-gram Jaccard
/// similarity to the original lands in [0.85, 0.95]. Returns the pool index used.
fn near_dup(
    rng: &mut Rng8,
    nd: &mut NearDup,
    pool: &[PoolEntry],
    out: &mut Field,
) -> Option<usize> {
    let mut source = None;
    for _ in 0..8 {
        let j = rng.random_range(0..pool.len());
        if pool[j].nchars >= NEAR_DUP_MIN_CHARS {
            source = Some(j);
            break;
        }
    }
    let j = source?;
    let src = &pool[j];
    nd.orig.clear();
    nd.orig.extend(src.text.chars());
    shingles(&nd.orig, &mut nd.grams_a);
    // A mid-text edit changes up to 5 shingles, so k edits give roughly
    // J = (m - 5k) / (m + 5k); start from the k that hits a random target.
    let target = rng.random_range(860..=940usize);
    let m = nd.orig.len() - 4;
    let mut k = (m * (1000 - target) / (5 * (1000 + target))).max(1);
    for _ in 0..8 {
        nd.work.clear();
        nd.work.extend_from_slice(&nd.orig);
        nd.ents.clear();
        nd.ents.extend_from_slice(&src.ents);
        apply_edits(rng, &mut nd.work, &mut nd.ents, &nd.cjk, k);
        shingles(&nd.work, &mut nd.grams_b);
        // Exact rational comparison: truncating to per-mille would admit 0.9509.
        let (inter, union) = intersection_union(&nd.grams_a, &nd.grams_b);
        if inter * 100 >= union * 85 && inter * 100 <= union * 95 {
            out.clear();
            out.s.extend(nd.work.iter());
            out.nchars = nd.work.len();
            out.ents.extend_from_slice(&nd.ents);
            return Some(j);
        }
        if inter * 100 > union * 95 {
            k += 1 + k / 4;
        } else if k > 1 {
            k -= 1 + k / 5;
        }
    }
    None
}

/// Typo-like substitutions, insertions and deletions of hanzi or ASCII letters.
/// Positions within two characters of an entity are left alone, so entities keep
/// their exact values and boundaries (no digit or letter gets glued onto them).
fn apply_edits(rng: &mut Rng8, text: &mut Vec<char>, ents: &mut [Ent], cjk: &[char], k: usize) {
    for _ in 0..k {
        for _ in 0..32 {
            let p = rng.random_range(0..text.len());
            if ents.iter().any(|e| p + 2 >= e.start && p < e.end + 2) {
                continue;
            }
            let c = text[p];
            let replacement = if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
                *pick(rng, cjk)
            } else if c.is_ascii_lowercase() {
                char::from(b'a' + rng.random_range(0..26u8))
            } else if c.is_ascii_uppercase() {
                char::from(b'A' + rng.random_range(0..26u8))
            } else {
                continue;
            };
            match rng.random_range(0..3u32) {
                0 if text.len() < MAX_TEXT_CHARS => {
                    text.insert(p, replacement);
                    for e in ents.iter_mut().filter(|e| e.start >= p) {
                        e.start += 1;
                        e.end += 1;
                    }
                }
                1 if text.len() > MIN_TEXT_CHARS => {
                    text.remove(p);
                    for e in ents.iter_mut().filter(|e| e.start > p) {
                        e.start -= 1;
                        e.end -= 1;
                    }
                }
                _ => text[p] = replacement,
            }
            break;
        }
    }
}

fn create_output(path: &Path) -> Result<BufWriter<File>> {
    let file = File::create(path).context(|| format!("cannot create {}", path.display()))?;
    Ok(BufWriter::with_capacity(8 << 20, file))
}

fn run_chat(args: &ChatArgs) -> Result<()> {
    let started = Instant::now();
    let mut out = create_output(&args.out)?;
    let mut truth = args.truth.as_deref().map(create_output).transpose()?;
    let record_limit = match args.bytes {
        Some(_) => u64::MAX,
        None => args.records.unwrap_or(DEFAULT_CHAT_RECORDS),
    };
    let byte_limit = args.bytes.unwrap_or(u64::MAX);

    let mut gen = ChatGen::new(args.seed)?;
    let mut line = Vec::with_capacity(1 << 16);
    let (mut records, mut written) = (0u64, 0u64);
    while records < record_limit && written < byte_limit {
        records += 1;
        gen.next_record(records);
        line.clear();
        gen.write_json(&mut line)?;
        out.write_all(&line)
            .context(|| format!("writing {}", args.out.display()))?;
        written += line.len() as u64;
        if let (Some(t), Some(path)) = (truth.as_mut(), args.truth.as_deref()) {
            gen.write_truth(t)
                .context(|| format!("writing {}", path.display()))?;
        }
    }
    out.flush()
        .context(|| format!("writing {}", args.out.display()))?;
    if let (Some(mut t), Some(path)) = (truth, args.truth.as_deref()) {
        t.flush()
            .context(|| format!("writing {}", path.display()))?;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "chat: {records} records, {written} bytes in {secs:.2} s ({:.1} MB/s) -> {}",
        written as f64 / 1e6 / secs.max(1e-9),
        args.out.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------

const ROW_GROUP_ROWS: usize = 8192;
/// 2026-01-01T00:00:00Z and 2027-01-01T00:00:00Z in milliseconds.
const YEAR_2026_MS: (i64, i64) = (1_767_225_600_000, 1_798_761_600_000);
/// Largest number of orders a single user may place.
const MAX_ORDERS_PER_USER: f64 = 500.0;

/// (category, weight, median amount in CNY, log-space sigma)
const CATEGORIES: &[(&str, u32, f64, f64)] = &[
    ("服装鞋包", 20, 150.0, 0.8),
    ("数码电子", 12, 900.0, 1.0),
    ("家用电器", 6, 1200.0, 0.9),
    ("食品生鲜", 16, 60.0, 0.7),
    ("美妆个护", 12, 180.0, 0.8),
    ("母婴用品", 7, 120.0, 0.8),
    ("图书文娱", 6, 45.0, 0.6),
    ("家居日用", 12, 80.0, 0.9),
    ("运动户外", 6, 260.0, 0.9),
    ("医药保健", 3, 90.0, 0.8),
];

struct Profile {
    name: String,
    id_card: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    province: &'static Province,
    city: &'static str,
}

fn weighted_index(rng: &mut Rng8, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u32 = weights.clone().sum();
    let mut r = rng.random_range(0..total);
    for (i, w) in weights.enumerate() {
        if r < w {
            return i;
        }
        r -= w;
    }
    unreachable!("r is drawn below the sum of the weights")
}

impl Profile {
    fn random(rng: &mut Rng8) -> Self {
        let province = &PROVINCES[weighted_index(rng, PROVINCES.iter().map(|p| p.weight))];
        let city = if chance(rng, 600) {
            province.cities[0]
        } else {
            *pick(rng, province.cities)
        };
        let mut name = String::new();
        let mut email = String::new();
        if chance(rng, 100) {
            let n = EnName::random(rng);
            n.push(&mut name);
            n.push_email(rng, &mut email);
        } else {
            let n = CnName::random(rng);
            n.push_hanzi(&mut name);
            n.push_email(rng, &mut email);
        }
        // ID numbers record where a person was first registered: usually, not always,
        // the province they live in now.
        let region = if chance(rng, 700) {
            province.region
        } else {
            *pick(rng, CN_REGIONS)
        };
        let id_card = cn_id(rng, region).iter().map(|&b| char::from(b)).collect();
        let phone = cn_mobile_digits(rng)
            .iter()
            .map(|&d| char::from(b'0' + d))
            .collect();
        Profile {
            name,
            id_card: (!chance(rng, 20)).then_some(id_card),
            phone: (!chance(rng, 20)).then_some(phone),
            email: (!chance(rng, 250)).then_some(email),
            province,
            city,
        }
    }
}

fn run_orders(args: &OrdersArgs) -> Result<()> {
    let started = Instant::now();
    let mut rng = Rng8::seed_from_u64(args.seed);
    let rows = args.rows;

    // Orders per user follow a Pareto tail: most users order once or twice, a few
    // order hundreds of times.
    let per_user = Pareto::new(1.0, 1.5)?;
    let mut profiles = Vec::new();
    let mut owner: Vec<u32> = Vec::with_capacity(rows);
    while owner.len() < rows {
        let draw: f64 = per_user.sample(&mut rng);
        let count = draw.min(MAX_ORDERS_PER_USER) as usize;
        let uid = u32::try_from(profiles.len())?;
        profiles.push(Profile::random(&mut rng));
        owner.extend(std::iter::repeat_n(uid, count.min(rows - owner.len())));
    }
    owner.shuffle(&mut rng);
    let mut times: Vec<i64> = (0..rows)
        .map(|_| rng.random_range(YEAR_2026_MS.0..YEAR_2026_MS.1))
        .collect();
    times.sort_unstable();
    let amounts = CATEGORIES
        .iter()
        .map(|&(_, _, median, sigma)| LogNormal::new(f64::ln(median), sigma))
        .collect::<Result<Vec<_>, _>>()?;

    let utc: Arc<str> = Arc::from("UTC");
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("order_id", DataType::Utf8, false),
        ArrowField::new("user_id", DataType::Utf8, false),
        ArrowField::new("name", DataType::Utf8, false),
        ArrowField::new("id_card", DataType::Utf8, true),
        ArrowField::new("phone", DataType::Utf8, true),
        ArrowField::new("email", DataType::Utf8, true),
        ArrowField::new("province", DataType::Utf8, false),
        ArrowField::new("city", DataType::Utf8, false),
        ArrowField::new("category", DataType::Utf8, false),
        ArrowField::new("amount", DataType::Float64, false),
        ArrowField::new(
            "order_ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some(utc.clone())),
            false,
        ),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let file =
        File::create(&args.out).context(|| format!("cannot create {}", args.out.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;

    let mut buf = String::new();
    for chunk_start in (0..rows).step_by(ROW_GROUP_ROWS) {
        let chunk_end = (chunk_start + ROW_GROUP_ROWS).min(rows);
        let n = chunk_end - chunk_start;
        let mut order_id = StringBuilder::with_capacity(n, n * 9);
        let mut user_id = StringBuilder::with_capacity(n, n * 7);
        let mut name = StringBuilder::with_capacity(n, n * 9);
        let mut id_card = StringBuilder::with_capacity(n, n * 18);
        let mut phone = StringBuilder::with_capacity(n, n * 11);
        let mut email = StringBuilder::with_capacity(n, n * 20);
        let mut province = StringBuilder::with_capacity(n, n * 9);
        let mut city = StringBuilder::with_capacity(n, n * 9);
        let mut category = StringBuilder::with_capacity(n, n * 12);
        let mut amount = Float64Builder::with_capacity(n);
        let mut order_ts = TimestampMillisecondBuilder::with_capacity(n).with_timezone(utc.clone());
        for (row, (&uid, &ts)) in owner[chunk_start..chunk_end]
            .iter()
            .zip(&times[chunk_start..chunk_end])
            .enumerate()
        {
            let p = &profiles[uid as usize];
            buf.clear();
            buf.push_str("o-");
            push_padded(&mut buf, (chunk_start + row + 1) as u64, 7);
            order_id.append_value(&buf);
            buf.clear();
            buf.push('u');
            push_padded(&mut buf, u64::from(uid) + 1, 6);
            user_id.append_value(&buf);
            name.append_value(&p.name);
            id_card.append_option(p.id_card.as_deref());
            phone.append_option(p.phone.as_deref());
            email.append_option(p.email.as_deref());
            province.append_value(p.province.name);
            city.append_value(p.city);
            let c = weighted_index(&mut rng, CATEGORIES.iter().map(|c| c.1));
            category.append_value(CATEGORIES[c].0);
            let value = loop {
                let v = amounts[c].sample(&mut rng);
                if (0.5..=20_000.0).contains(&v) {
                    break (v * 100.0).round() / 100.0;
                }
            };
            amount.append_value(value);
            order_ts.append_value(ts);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(order_id.finish()),
            Arc::new(user_id.finish()),
            Arc::new(name.finish()),
            Arc::new(id_card.finish()),
            Arc::new(phone.finish()),
            Arc::new(email.finish()),
            Arc::new(province.finish()),
            Arc::new(city.finish()),
            Arc::new(category.finish()),
            Arc::new(amount.finish()),
            Arc::new(order_ts.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        writer
            .write(&batch)
            .context(|| format!("writing {}", args.out.display()))?;
    }
    writer
        .close()
        .context(|| format!("writing {}", args.out.display()))?;
    let bytes = std::fs::metadata(&args.out)
        .context(|| format!("reading {}", args.out.display()))?
        .len();
    eprintln!(
        "orders: {rows} rows, {} users, {bytes} bytes in {:.2} s -> {}",
        profiles.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
