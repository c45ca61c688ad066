//! ADDRESS: postal addresses in Chinese, US, UK and continental European forms, read by a
//! small grammar over the reference data and scored by how many of an address's parts
//! were found.
//!
//! Chinese, left to right: divisions (province → prefecture → county, from the official
//! division list, in full or short form, or any name ending in 省/市/区/县/镇/乡/街道
//! after one), then a road or place (…路/街/大道/巷/胡同/条/里/村 …), a number (号/弄),
//! an estate (小区、花园、大厦 …), building (栋/幢/号楼/座), unit (单元), floor (层/楼)
//! and room (室). A candidate starts at a division, at a road with a number, or right
//! after a lead word (地址、寄到、住在 …). A lone place name (我去杭州出差) is not an
//! address; two divisions, or one with a road, are.
//!
//! US and UK, around three anchors: a street line (number, optional directional, one to
//! four capitalised words, a USPS Publication 28 suffix, optional directional and
//! secondary unit), a `State ZIP` or military `APO AE 09012` tail, and a UK postcode
//! with a real postcode area; a European street line (`eu_address`: a street type before
//! or after the name or ending it, or the shape `Name 12, City, 1234`). From an anchor
//! the span grows over the neighbouring
//! address lines (comma- or newline-separated capitalised segments: city, county,
//! state, ZIP or postcode), and a `Flat 5`/`Apt 2B`/`Suite 300` before or after.
//!
//! Invariants: spans start and end on char boundaries, hold no sentence punctuation
//! (。！？; and a full stop followed by a space end them), and scores are in 0..=1.

use std::sync::LazyLock;

use super::lexicon::is_han;
use super::lexicon::{lexicon, Lexicon, WordKind};
use super::recognizers::needs;
use super::wordfind::{CharBits, WordFinder};
use super::{Detection, EntityType};

pub(crate) struct Addresses {
    starts: ZhStarts,
}

impl Addresses {
    pub(crate) fn new() -> Addresses {
        Addresses {
            starts: ZhStarts::new(lexicon()),
        }
    }

    /// The finder of the Chinese divisions and lead words, whose word starts `scan`
    /// takes marked by a `FirstChars`.
    pub(crate) fn finder(&self) -> &WordFinder {
        &self.starts.words
    }

    /// `chars` is `text.char_indices()` collected when the text is not ASCII, else
    /// empty (as for `Names::scan`); `starts`, the characters where a word of `finder`
    /// may start (`FirstChars::mark`).
    pub(crate) fn scan(
        &self,
        text: &str,
        chars: &[(usize, char)],
        starts: &[usize],
        profile: &needs::Profile,
        out: &mut Vec<Detection>,
    ) {
        let lex = lexicon();
        if !text.is_ascii() {
            scan_zh(lex, &self.starts, text, chars, starts, out);
        }
        // Every English form holds a digit: a street number, a ZIP code or a
        // postcode's digits.
        let has = profile.classes;
        if has & needs::UPPER != 0 && has & needs::DIGIT != 0 {
            // A ZIP code is a run of five digits.
            scan_en(lex, text, profile.max_run >= 5, out);
        }
    }
}

fn push(out: &mut Vec<Detection>, s: usize, e: usize, score: f32) {
    if s < e {
        out.push(Detection {
            entity: EntityType::Address,
            start: s,
            end: e,
            score: score.clamp(0.0, 1.0),
        });
    }
}

// ---------------------------------------------------------------------------------
// Chinese

/// Words before an address that are not part of it.
const ZH_LEAD: &[&str] = &[
    "地址",
    "住址",
    "收货地址",
    "送货地址",
    "邮寄地址",
    "通讯地址",
    "联系地址",
    "家庭地址",
    "现住址",
    "户籍地址",
    "户籍",
    "居住地",
    "所在地",
    "寄到",
    "寄往",
    "寄至",
    "送到",
    "送至",
    "送往",
    "发到",
    "发往",
    "邮寄到",
    "快递到",
    "配送到",
    "派送到",
    "住在",
    "住",
    "家住",
    "居住在",
    "居住于",
    "现居",
    "现居住",
    "位于",
    "搬到",
    "搬去",
    "搬至",
    "地点",
    "收件地址",
    "注册地址",
    "办公地址",
    "公司地址",
    "门店地址",
    "到达",
    "送货到",
    "上门",
    "放到",
    "改成",
    "改为",
    "新地址",
    "旧地址",
    "原住址",
    "新住址",
    "坐落",
    "所在",
];
/// Suffixes of a road or a named place in a street address.
const ZH_ROAD: &[&str] = &[
    "大街", "大道", "胡同", "公路", "环路", "高速", "路", "街", "道", "巷", "弄", "条", "里", "村",
    "屯", "庄", "坊", "湾", "段",
];
/// Suffixes of an estate or a building complex (after a road or a number only: a lane
/// estate such as 幸福里 after 解放大道984号).
const ZH_ESTATE: &[&str] = &[
    "小区", "花园", "大厦", "公寓", "家园", "新村", "新城", "公馆", "广场", "中心", "大楼", "商城",
    "名苑", "雅苑", "苑", "园", "城", "府", "庭", "邸", "阁", "湾", "居", "坊", "院", "社区", "村",
    "组", "宿舍", "楼", "里",
];
/// Administrative suffixes for names that are not in the division list.
const ZH_ADMIN: &[&str] = &[
    "自治区",
    "特别行政区",
    "自治州",
    "省",
    "市",
    "区",
    "县",
    "镇",
    "乡",
    "街道",
    "旗",
    "盟",
    "州",
];

/// Bits in each table of `DivisionFilter` (a power of two; 8 KiB a table).
const DIVISION_FILTER_BITS: usize = 1 << 16;

/// Two Bloom filters over the division names, keyed by a hash of characters computed
/// one character at a time: one holds every prefix of every name (one character or
/// more), the other every name. `zh_division_at` walked up to 15 characters of a Han run
/// from each start with a lookup at each (122 K lookups, 14 M instructions on chat8);
/// a prefix that begins no name ends the walk, and only a string the name table may
/// hold is looked up. A filter errs only towards "may hold", so neither test changes a
/// result (`division_filter_is_exact` compares the straightforward walk).
struct DivisionFilter {
    prefixes: Box<[u64; DIVISION_FILTER_BITS / 64]>,
    names: Box<[u64; DIVISION_FILTER_BITS / 64]>,
}

impl DivisionFilter {
    fn new(lex: &Lexicon) -> DivisionFilter {
        let mut prefixes = Box::new([0u64; DIVISION_FILTER_BITS / 64]);
        let mut names = Box::new([0u64; DIVISION_FILTER_BITS / 64]);
        for name in lex.zh_division_names() {
            let mut h = 0;
            for c in name.chars() {
                h = Self::hash(h, c);
                set_bit(&mut prefixes, h);
            }
            set_bit(&mut names, h);
        }
        DivisionFilter { prefixes, names }
    }

    /// The hash of a string extended by `c`, from `h`, the hash of the string (0 for
    /// the empty one).
    #[inline]
    fn hash(h: u64, c: char) -> u64 {
        (h.rotate_left(5) ^ u64::from(u32::from(c))).wrapping_mul(0x517c_c1b7_2722_0a95)
    }

    #[inline]
    fn bit(h: u64) -> (usize, u64) {
        let b = (h >> (64 - DIVISION_FILTER_BITS.trailing_zeros())) as usize;
        (b / 64, 1 << (b % 64))
    }

    #[inline]
    fn may_prefix(&self, h: u64) -> bool {
        let (w, m) = Self::bit(h);
        self.prefixes[w] & m != 0
    }

    #[inline]
    fn may_name(&self, h: u64) -> bool {
        let (w, m) = Self::bit(h);
        self.names[w] & m != 0
    }
}

fn set_bit(table: &mut [u64; DIVISION_FILTER_BITS / 64], h: u64) {
    let (w, m) = DivisionFilter::bit(h);
    table[w] |= m;
}

/// Byte length of the longest division name (or generic administrative unit after a
/// known one) at `s`, and whether it came from the list.
fn zh_division_at(
    lex: &Lexicon,
    filter: &DivisionFilter,
    text: &str,
    s: usize,
    after_known: bool,
) -> Option<(usize, bool)> {
    let mut best = None;
    let mut end = s;
    let mut h = 0;
    for (i, c) in text[s..].chars().enumerate() {
        if !is_han(c) || i >= lex.zh_division_max_chars {
            break;
        }
        end += c.len_utf8();
        h = DivisionFilter::hash(h, c);
        // No name begins with text[s..end]: none is longer either.
        if !filter.may_prefix(h) {
            break;
        }
        if i >= 1 && filter.may_name(h) && lex.zh_division(&text[s..end]).is_some() {
            best = Some((end - s, true));
        }
    }
    // A short name with another unit's suffix (银川县, 兴安盟市: generated and
    // misremembered addresses) takes the suffix along.
    if let Some((len, known)) = best {
        let next = text[s + len..].chars().next();
        if let Some(c) = next.filter(|c| "省市区县州旗盟镇乡".contains(*c)) {
            return Some((len + c.len_utf8(), known));
        }
        return best;
    }
    if !after_known {
        return None;
    }
    // Generic: 1–5 Han characters and an administrative suffix (an unlisted district),
    // not starting with a function word (秀英|在泰州市 is not one division).
    if text[s..].starts_with([
        '在', '到', '的', '和', '与', '从', '去', '来', '是', '于', '往',
    ]) {
        return None;
    }
    static ADMIN_LAST: LazyLock<CharBits> = LazyLock::new(|| last_chars(ZH_ADMIN));
    let mut end = s;
    for (i, c) in text[s..].chars().enumerate() {
        if !is_han(c) || i >= 7 {
            break;
        }
        end += c.len_utf8();
        if i >= 1 && ADMIN_LAST.has(c) && ZH_ADMIN.iter().any(|a| text[s..end].ends_with(a)) {
            return Some((end - s, false));
        }
    }
    None
}

/// Digits (ASCII or Chinese numerals), letters and dashes at `i`; returns the end.
fn zh_num(text: &str, i: usize) -> usize {
    let mut e = i;
    for c in text[i..].chars() {
        if c.is_ascii_alphanumeric()
            || "一二三四五六七八九十百零〇甲乙丙丁东西南北之-－—".contains(c)
        {
            e += c.len_utf8();
        } else {
            break;
        }
    }
    e
}

/// The road or place part at `s`: up to 10 Han characters (digits and numerals allowed,
/// 中山五路, 东四十条) ending with a road suffix. Returns its end.
fn zh_road_at(text: &str, s: usize) -> Option<usize> {
    static ROAD_LAST: LazyLock<CharBits> = LazyLock::new(|| last_chars(ZH_ROAD));
    let mut e = s;
    let mut best = None;
    for (i, c) in text[s..].chars().enumerate() {
        if i >= 12 || !(is_han(c) || c.is_ascii_digit()) {
            break;
        }
        e += c.len_utf8();
        // Suffixes that are also ordinary words (柜子里, 心里) end a road only after a
        // name that is not a common word.
        let ambiguous = matches!(
            c,
            '里' | '村' | '条' | '段' | '湾' | '庄' | '坊' | '屯' | '道'
        ) && {
            let stem = &text[s..e - c.len_utf8()];
            (stem.chars().count() < 2
                || matches!(lexicon().zh_word(stem), Some((_, WordKind::Common))))
                && !house_number_at(text, e)
        };
        // A road name holds no administrative unit (地址青岛市…海尔路 is not one road).
        if ['省', '市', '区', '县'].contains(&c) {
            break;
        }
        if i >= 1
            && !ambiguous
            && ROAD_LAST.has(c)
            && ZH_ROAD.iter().any(|r| text[s..e].ends_with(r))
        {
            // Stop at the first road suffix that is followed by a number or the end
            // of the Han run; otherwise keep looking for a longer one (中山北路).
            best = Some(e);
            let next = text[e..].chars().next();
            if next.is_none_or(|n| !is_han(n)) {
                break;
            }
        }
    }
    // A section of the road in digits (中兴路6段37号; 忠孝东路四段 reads as one name).
    best.map(|r| {
        let n = zh_num(text, r);
        if n > r && text[n..].starts_with('段') {
            n + '段'.len_utf8()
        } else {
            r
        }
    })
}

/// Whether a house number starts at `i`: digits or numerals, then 号, 弄, 组, 栋 or 幢
/// (`劳动里9组30号`, `学院路581号`). A road name that is also a common word (学院路 is
/// one in the word list, 劳动里 ends like 心里) is a road when one follows it.
fn house_number_at(text: &str, i: usize) -> bool {
    let n = zh_num(text, i);
    n > i && text[n..].starts_with(['号', '弄', '组', '栋', '幢'])
}

/// A place named right after a division without a road's suffix, then a house number
/// (`海淀区中关村27号`, `北海市纪栋84号`, `西原市范旁22号`): one to four Han characters,
/// no function word and not a common word (`北京市明天8号` is a date). Returns the
/// name's end.
fn zh_named_before_number(lex: &Lexicon, text: &str, s: usize) -> Option<usize> {
    let mut e = s;
    for (j, c) in text[s..].chars().enumerate() {
        if j >= 4 || !is_han(c) || "的了是在有和与及把被给从到对向说将于这那".contains(c)
        {
            return None;
        }
        e += c.len_utf8();
        if house_number_at(text, e) {
            let name = &text[s..e];
            let common = matches!(lex.zh_word(name), Some((_, WordKind::Common)));
            return (!common).then_some(e);
        }
    }
    None
}

/// Whether a block of a building starts at `i`: a number or numeral, then 座, 栋, 幢,
/// 号楼 or 单元 (`一座`, `B座`, `3号楼`).
fn block_number_at(text: &str, i: usize) -> bool {
    let n = zh_num(text, i);
    n > i
        && ["座", "栋", "幢", "号楼", "单元"]
            .iter()
            .any(|u| text[n..].starts_with(u))
}

/// The last characters of `words`: a suffix test at each character of a road or an
/// estate name compares the words only where one of them can end (the comparisons
/// were a fifth of the address scan's time).
fn last_chars(words: &[&str]) -> CharBits {
    CharBits::new(words.iter().filter_map(|w| w.chars().next_back()))
}

/// Number, estate, building, unit, floor and room after a road or a division: returns
/// the end and how many parts were read.
fn zh_tail(text: &str, s: usize) -> (usize, u32) {
    static ESTATE_LAST: LazyLock<CharBits> = LazyLock::new(|| last_chars(ZH_ESTATE));
    let mut e = s;
    let mut parts = 0;
    let skip_sp = |i: usize| {
        i + text[i..]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\u{3000}')
            .map(char::len_utf8)
            .sum::<usize>()
    };
    loop {
        let mut i = skip_sp(e);
        // An annex number after a number (人民南路12号附3号).
        if parts > 0 && text[i..].starts_with('附') {
            let after = i + '附'.len_utf8();
            if zh_num(text, after) > after {
                i = after;
            }
        }
        // A unit written in English after the number (`郝東路310號 Suite 604`).
        if parts > 0 && text.as_bytes().get(i).is_some_and(u8::is_ascii_uppercase) {
            if let Some(u) = secondary_unit(lexicon(), text, i) {
                e = u;
                parts += 1;
                continue;
            }
        }
        let n = zh_num(text, i);
        // A sub-number after a house number (大智路397号之8).
        if parts > 0 && text[..e].ends_with('号') && text[i..].starts_with('之') {
            let after = i + '之'.len_utf8();
            let m = after + text[after..].bytes().take_while(u8::is_ascii_digit).count();
            if m > after {
                e = m;
                parts += 1;
                continue;
            }
        }
        let rest = &text[n..];
        // Number + unit word.
        let has_unit = [
            "号", "弄", "栋", "幢", "座", "单元", "层", "楼", "室", "房", "户", "铺", "门", "期",
            "区", "排", "组", "F", "f",
        ]
        .iter()
        .any(|u| rest.starts_with(u));
        let digits = text[i..n].bytes().filter(u8::is_ascii_digit).count();
        let floor = text[i..n].ends_with(['F', 'f']);
        if n > i && (has_unit || (parts > 0 && (digits >= 3 || floor))) {
            let unit = [
                "号楼", "号院", "号", "弄", "栋", "幢", "座", "单元", "层", "楼", "室", "房", "户",
                "铺", "门", "期", "区", "排", "组", "F", "f",
            ]
            .iter()
            .find(|u| rest.starts_with(**u));
            if let Some(u) = unit {
                e = n + u.len();
                parts += 1;
                continue;
            }
            // A bare room number after a building or unit (3单元502, 大厦10F).
            e = n;
            parts += 1;
            continue;
        }
        // Estate or building complex name: up to 10 Han characters, or Latin letters of
        // a brand (SOHO现代城, CBD国际大厦), ending in an estate suffix.
        // Or, after a number, any such name of a building followed by a numbered block
        // (太古汇一座28楼, 华润大厦B座 reads as an estate already).
        let mut k = i;
        let mut found = None;
        let mut building = None;
        // No word of running text (楼下有一座花园).
        let mut plain = parts > 0;
        for (j, c) in text[i..].chars().enumerate() {
            if j >= 10 || !(is_han(c) || c.is_ascii_alphabetic()) {
                break;
            }
            k += c.len_utf8();
            if j >= 1 && ESTATE_LAST.has(c) && ZH_ESTATE.iter().any(|w| text[i..k].ends_with(w)) {
                found = Some(k);
            }
            plain &= !"的了是在有和与".contains(c);
            if j >= 1 && plain && building.is_none() && block_number_at(text, k) {
                building = Some(k);
            }
        }
        match found.or(building) {
            Some(k) if parts > 0 || k > i => {
                e = k;
                parts += 1;
            }
            _ => break,
        }
        if parts > 8 {
            break;
        }
    }
    (e, parts)
}

/// Where a postcode written right before `s` starts (3 to 6 digits, then at most one
/// space, after no letter or digit: Taiwan's 3- and 5-digit codes, the mainland's 6),
/// or `s`.
fn postcode_before(text: &str, s: usize) -> usize {
    let b = text.as_bytes();
    let mut k = s;
    if k > 0 && b[k - 1] == b' ' {
        k -= 1;
    }
    let digits = b[..k]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let start = k - digits;
    let joined = start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'-');
    if (3..=6).contains(&digits) && !joined {
        start
    } else {
        s
    }
}

fn zh_lead_before(text: &str, s: usize) -> bool {
    let t = text[..s].trim_end_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ':' | '：' | '，' | ',' | '【' | '】' | '[' | ']' | '\u{3000}'
            )
    });
    let t = t.strip_suffix(['是', '为', '在']).unwrap_or(t);
    // A lead word ends `t` only if `t` ends with the word's last character: the test
    // of that character passes most positions at once (54 comparisons at each were
    // 8.4 M instructions on chat8).
    static LEAD_LAST: LazyLock<CharBits> = LazyLock::new(|| last_chars(ZH_LEAD));
    t.chars().next_back().is_some_and(|c| LEAD_LAST.has(c))
        && ZH_LEAD.iter().any(|w| t.ends_with(w))
}

/// Where Chinese address candidates start: every division name and every lead word,
/// found in one `WordFinder` pass (pattern ids below `leads` are lead words).
pub(crate) struct ZhStarts {
    words: WordFinder,
    leads: usize,
    divisions: DivisionFilter,
}

impl ZhStarts {
    fn new(lex: &Lexicon) -> ZhStarts {
        let mut words: Vec<&str> = ZH_LEAD.to_vec();
        let leads = words.len();
        let mut names: Vec<&str> = lex.zh_division_names().collect();
        names.sort_unstable();
        words.extend(names);
        ZhStarts {
            // Not an Aho-Corasick automaton: its table over thousands of names was
            // megabytes, read at random for every byte of every non-ASCII text.
            words: WordFinder::new(&words),
            leads,
            divisions: DivisionFilter::new(lex),
        }
    }
}

/// The divisions named one after another from byte `i` (at most five): `i` and the end
/// of each, and how many of the six slots hold one.
fn division_ends(
    lex: &Lexicon,
    filter: &DivisionFilter,
    text: &str,
    i: usize,
) -> ([usize; 6], usize) {
    let mut ends = [i; 6];
    let mut n = 1;
    let mut listed = 0;
    while let Some((len, known)) = zh_division_at(lex, filter, text, ends[n - 1], listed > 0) {
        ends[n] = ends[n - 1] + len;
        n += 1;
        listed += u32::from(known);
        if n > 5 {
            break;
        }
    }
    (ends, n)
}

fn scan_zh(
    lex: &Lexicon,
    starts: &ZhStarts,
    text: &str,
    chars: &[(usize, char)],
    marked: &[usize],
    out: &mut Vec<Detection>,
) {
    let mut covered = 0;
    for m in starts.words.find_at(text, chars, marked) {
        let mut i = m.start;
        let is_lead = m.pattern < starts.leads;
        if is_lead {
            // A lead word is context, not address: start after it, and after a copula
            // (地址是…, 住在…).
            i = m.end;
            if let Some(c) = ['是', '为', '在']
                .into_iter()
                .find(|c| text[i..].starts_with(*c))
            {
                i += c.len_utf8();
            }
        }
        // A postcode first (地址：919 古坑三民路…): the address starts at it, its parts
        // after it.
        let mut code = i;
        if is_lead {
            let b = text.as_bytes();
            let from = i + text[i..]
                .chars()
                .take_while(|c| matches!(c, ':' | '：' | ' ' | '\u{3000}'))
                .map(char::len_utf8)
                .sum::<usize>();
            let mut k = from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
            if k > from && b.get(k) == Some(&b' ') {
                k += 1;
            }
            if k > from
                && text[k..].chars().next().is_some_and(is_han)
                && postcode_before(text, k) == from
            {
                code = from;
                i = k;
            }
        }
        if i < covered || i >= text.len() {
            continue;
        }
        // A postcode before the address (100085 北京市…, 10617臺北市…) is part of it.
        if code == i {
            code = postcode_before(text, i);
        }
        let lead = is_lead || zh_lead_before(text, i) || (code < i && zh_lead_before(text, code));
        // Divisions.
        let (ends, n_ends) = division_ends(lex, &starts.divisions, text, i);
        let ends = &ends[..n_ends];
        // Without a division, a road starts a candidate only after a lead word; roads
        // elsewhere are found from their number (below).
        if ends.len() == 1 && !lead {
            continue;
        }
        // The road: after the divisions, or, when none follows them, named after the
        // last of them (…东莞街: 东莞 is a city and a street name).
        // A road that is a common word (铁路, 马路) or that names an organisation
        // (上海铁路局) is not part of an address.
        let road_at = |e: usize| {
            zh_road_at(text, e).filter(|&r| {
                (!matches!(lex.zh_word(&text[e..r]), Some((_, WordKind::Common)))
                    || house_number_at(text, r))
                    && !["局", "公司", "集团", "站", "所", "院"]
                        .iter()
                        .any(|w| text[r..].starts_with(w))
            })
        };
        let mut divs = ends.len() - 1;
        let mut road = road_at(ends[divs]);
        if road.is_none() && divs >= 2 {
            if let Some(r) = road_at(ends[divs - 1]) {
                divs -= 1;
                road = Some(r);
            }
        }
        if road.is_none() && divs >= 1 {
            road = zh_named_before_number(lex, text, ends[divs]);
        }
        let e = ends[divs];
        let after_road = road.unwrap_or(e);
        let (tail_end, tail) = zh_tail(text, after_road);
        let has_road = road.is_some();
        let numbered = tail > 0;
        let score = if divs == 0 && !has_road {
            // After a lead word, an estate with a number (地址：翠湖小区6栋).
            if lead && tail > 0 && text[i..tail_end].bytes().any(|b| b.is_ascii_digit()) {
                0.7
            } else {
                0.0
            }
        } else if divs == 0 {
            // A road alone: 中山五路633号 is an address, 中山路 after 住在 too.
            match (numbered, lead) {
                (true, _) => 0.8,
                (false, true) => 0.7,
                (false, false) => {
                    // A road name in running text: only when it is not a common word.
                    let span = &text[i..after_road];
                    if matches!(lex.zh_word(span), Some((_, WordKind::Common))) {
                        0.0
                    } else {
                        0.3
                    }
                }
            }
        } else {
            let base = match (divs, has_road, numbered) {
                (_, true, true) => 0.9,
                (_, true, false) => 0.75,
                (1, false, true) => 0.7,
                (1, false, false) => 0.25,
                (_, false, true) => 0.8,
                (_, false, false) => 0.55,
            };
            base + if lead { 0.2 } else { 0.0 }
        };
        let end = tail_end.max(after_road);
        if score > 0.0 && end > i {
            let i = if score >= 0.5 { code } else { i };
            push(out, i, end, score);
            if score >= 0.5 {
                covered = end;
            }
        }
    }
    numbered_roads(text, out);
}

fn numbered_roads(text: &str, out: &mut Vec<Detection>) {
    // Roads with a number that start inside a Han run (…的中山路100号): the loop above
    // only starts at divisions and roads, so also anchor on every 号 number.
    // `str::find` of a char looks for its last byte (0xB7, a continuation byte common in
    // Chinese text) with core's scalar memchr: 11 M instructions on chat8 for the
    // search; with `memmem` over all three bytes the whole loop costs 6.5 M.
    static HAO: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new("号".as_bytes()));
    for h in HAO.find_iter(text.as_bytes()) {
        let from = h + '号'.len_utf8();
        if out
            .iter()
            .any(|d| d.entity == EntityType::Address && d.start <= h && h < d.end && d.score >= 0.5)
        {
            continue;
        }
        // Back over the digits, then over Han characters to the road's start.
        let digits_start = text[..h]
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .len();
        if digits_start == h {
            continue;
        }
        // A road's name holds no function word (他在|中山路100号, 的, 于, 是).
        let han_from = |end: usize| {
            let mut s = end;
            for (k, ch) in text[..end].char_indices().rev().take(12) {
                if !is_han(ch) || "在于到的是从往去住给把被".contains(ch) {
                    break;
                }
                s = k;
            }
            s
        };
        let mut s = han_from(digits_start);
        // A section in digits between the road and the number (中兴路6段37号).
        if text[s..digits_start] == *"段" {
            let n = text[..s]
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .len();
            if n < s {
                s = han_from(n).min(s);
            }
        }
        // Trim a lead word.
        if let Some(cut) = ZH_LEAD
            .iter()
            .filter_map(|w| text[s..digits_start].rfind(w).map(|i| s + i + w.len()))
            .max()
        {
            s = cut;
        }
        let Some(road_end) = (s..digits_start)
            .filter(|k| text.is_char_boundary(*k))
            .find_map(|k| {
                zh_road_at(text, k)
                    .filter(|e| *e == digits_start)
                    .map(|_| k)
            })
        else {
            continue;
        };
        let (tail_end, _) = zh_tail(text, digits_start);
        push(
            out,
            postcode_before(text, road_end),
            tail_end.max(from),
            0.8,
        );
    }
}

// ---------------------------------------------------------------------------------
// English (US and UK)

const DIRECTIONALS: &[&str] = &[
    "N",
    "S",
    "E",
    "W",
    "NE",
    "NW",
    "SE",
    "SW",
    "North",
    "South",
    "East",
    "West",
    "Northeast",
    "Northwest",
    "Southeast",
    "Southwest",
    "N.",
    "S.",
    "E.",
    "W.",
];

/// One ASCII word at `i` (letters, digits, `'`, `.` inside or at the end); its end.
fn word_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'\'' || b[j] == b'-') {
        j += 1;
    }
    if j < b.len() && b[j] == b'.' && j > i && b[j - 1].is_ascii_alphabetic() {
        j += 1;
    }
    j
}

/// Whether the word ending at `k` (after `from`, where the city began) ends a sentence:
/// it ends in a full stop followed by a space or the end of a line or text, and is not
/// an abbreviation (at most three letters: `St. Louis`, `Ft. Worth`, `Mt. Vernon` go
/// on). A word of the city's may end in a full stop inside a place name; a sentence does
/// not go on into the next one (`Hawaii. Thanks, Tom Baker` is not a city).
fn ends_sentence(b: &[u8], from: usize, k: usize) -> bool {
    if k == 0 || b[k - 1] != b'.' {
        return false;
    }
    let stem = b[from..k - 1]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    stem > 3 && matches!(b.get(k), None | Some(b' ' | b'\n' | b'\r'))
}

fn is_cap_word(w: &str) -> bool {
    w.as_bytes().first().is_some_and(|c| c.is_ascii_uppercase())
        || w.as_bytes().first().is_some_and(|c| c.is_ascii_digit())
            && (w.ends_with("st") || w.ends_with("nd") || w.ends_with("rd") || w.ends_with("th"))
}

/// A street line at `s` (which holds a digit): `1600 Pennsylvania Avenue NW`,
/// `742 Evergreen Terrace`, `12B Baker St.`, `350 5th Ave Suite 3400`. Returns its end.
fn street_line(lex: &Lexicon, text: &str, s: usize) -> Option<usize> {
    let b = text.as_bytes();
    // House number: 1–6 digits, an optional letter, or a range 12-14.
    let mut j = s;
    while j < b.len() && b[j].is_ascii_digit() && j - s < 6 {
        j += 1;
    }
    if j == s || (j < b.len() && b[j].is_ascii_digit()) {
        return None;
    }
    if j < b.len() && b[j] == b'-' && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    if j < b.len()
        && b[j].is_ascii_uppercase()
        && !b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        j += 1;
    }
    if b.get(j) != Some(&b' ') {
        return None;
    }
    j += 1;
    // Up to five words; the last suffix among them ends the street.
    let mut end = None;
    let mut k = j;
    for n in 0..6 {
        let we = word_end(b, k);
        if we == k {
            break;
        }
        let w = text[k..we].trim_end_matches('.');
        if !(is_cap_word(w) || n == 0 && DIRECTIONALS.contains(&w)) {
            break;
        }
        // Broadway names streets in hundreds of towns with no type after it.
        if (n > 0 && lex.us_suffix(w)) || w == "Broadway" {
            end = Some(we);
        } else if end.is_some() {
            // A directional after the suffix (Pennsylvania Avenue NW).
            if DIRECTIONALS.contains(&w) {
                end = Some(we);
            }
            break;
        }
        if b.get(we) != Some(&b' ') {
            break;
        }
        k = we + 1;
    }
    end
}

/// A secondary unit at `i` (after optional `, ` or space): `Apt. 4B`, `Suite 300`,
/// `Unit 12`, `#5`, `Flat 3`, `Studio 7`. Returns its end.
fn secondary_unit(lex: &Lexicon, text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i;
    if b.get(j) == Some(&b',') {
        j += 1;
    }
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    if b.get(j) == Some(&b'#') {
        let e = word_end(b, j + 1);
        return (e > j + 1).then_some(e);
    }
    let we = word_end(b, j);
    let w = text[j..we].trim_end_matches('.');
    if we == j
        || !(lex.us_unit(w) || matches!(w, "Flat" | "Studio" | "Apartment" | "Unit" | "Room"))
    {
        return None;
    }
    let mut k = we;
    while b.get(k) == Some(&b' ') {
        k += 1;
    }
    if b.get(k) == Some(&b'#') {
        k += 1;
    }
    let ie = word_end(b, k);
    let id = &text[k..ie];
    (ie > k && id.bytes().any(|c| c.is_ascii_digit()) && id.len() <= 6).then_some(ie)
}

/// A UK postcode at `i`: `LS1 8DE`, `SW1A 1AA`, `B1 1AA`, with a real postcode area.
fn uk_postcode(lex: &Lexicon, text: &str, i: usize) -> Option<usize> {
    uk_postcode_shaped(lex, text, i, false)
}

/// `uk_postcode`, or after a town in an address's tail, where nothing else stands, an
/// inward code of a digit and any two letters or digits (`SS87 18A`, `TA3 4IO`: mistyped
/// or made up, as some generators write them; the area must still be a real one).
fn uk_postcode_in_tail(lex: &Lexicon, text: &str, i: usize) -> Option<usize> {
    uk_postcode_shaped(lex, text, i, true)
}

fn uk_postcode_shaped(lex: &Lexicon, text: &str, i: usize, loose: bool) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i;
    while j < b.len() && b[j].is_ascii_uppercase() && j - i < 2 {
        j += 1;
    }
    if j == i {
        return None;
    }
    let d = j;
    while j < b.len() && b[j].is_ascii_digit() && j - d < 2 {
        j += 1;
    }
    if j == d {
        return None;
    }
    if j < b.len() && b[j].is_ascii_uppercase() {
        j += 1;
    }
    if b.get(j) != Some(&b' ') {
        return None;
    }
    j += 1;
    let letter = |c: &u8| c.is_ascii_uppercase() || (loose && c.is_ascii_digit());
    let ok = b.get(j).is_some_and(u8::is_ascii_digit)
        && b.get(j + 1).is_some_and(letter)
        && b.get(j + 2).is_some_and(letter)
        && !b.get(j + 3).is_some_and(u8::is_ascii_alphanumeric);
    // The area is looked up last: most capitals the scan asks about fail the shape
    // first (a lookup at each was most of this function's 4.9 M instructions on chat8).
    (ok && lex.uk_area(&text[i..d])).then_some(j + 3)
}

/// `ST 12345`, `ST 12345-6789`, `State 12345` or a military `AE 09012` at `i`.
fn state_zip(lex: &Lexicon, text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let we = word_end(b, i);
    // The ZIP after the state's one or two words is read first: nearly every
    // capitalised word the scan asks about has none, and is then passed without the
    // state lookups (12.5 M instructions on chat8, 45 K calls). Which of the two ends
    // the result is read from depends only on the lookups, as before.
    let two = (b.get(we) == Some(&b' ')).then(|| word_end(b, we + 1));
    let zip_one = zip_after(b, we);
    let zip_two = two.and_then(|we2| zip_after(b, we2));
    if zip_one.is_none() && zip_two.is_none() {
        return None;
    }
    // Two-word state names (New York, North Carolina).
    if lex.us_state(text[i..we].trim_end_matches('.')) {
        zip_one
    } else if two.is_some_and(|we2| lex.us_state(&text[i..we2])) {
        zip_two
    } else {
        None
    }
}

/// The end of `, 12345` or ` 12345-6789` (a ZIP after a state name ending at `j`).
fn zip_after(b: &[u8], mut j: usize) -> Option<usize> {
    if b.get(j) == Some(&b',') {
        j += 1;
    }
    if b.get(j) != Some(&b' ') {
        return None;
    }
    j += 1;
    let z = j;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j - z != 5 {
        return None;
    }
    if b.get(j) == Some(&b'-')
        && b[j + 1..]
            .iter()
            .take(4)
            .filter(|c| c.is_ascii_digit())
            .count()
            == 4
    {
        j += 5;
    }
    (!b.get(j).is_some_and(u8::is_ascii_alphanumeric)).then_some(j)
}

/// Extends `s` backwards over up to `max` address segments (`, ` or newline separated,
/// each short and starting with a capital or a digit). Returns the new start.
fn extend_back(text: &str, s: usize, max: usize) -> usize {
    let mut start = s;
    for _ in 0..max {
        let before = &text[..start];
        let trimmed = before.trim_end_matches([' ', '\t']);
        let sep_len = if trimmed.ends_with(',') || trimmed.ends_with('\n') {
            1
        } else {
            break;
        };
        let seg_end = trimmed.len() - sep_len;
        let seg_area = text[..seg_end].trim_end_matches([' ', '\r']);
        // A PO box is an address's first line (`PO Box 123, Springfield, IL`), whatever
        // stands before it in the sentence.
        if let Some(p) = po_box_start(seg_area) {
            start = p;
            break;
        }
        let seg_start = seg_area
            .rfind([',', '\n', ';', ':', '(', '.'])
            .map_or(0, |i| i + 1);
        let seg = seg_area[seg_start..].trim_start();
        let seg_s = seg_area.len() - seg.len();
        let words: Vec<&str> = seg.split(' ').collect();
        let ok = !seg.is_empty()
            && seg.len() <= 40
            && seg.is_ascii()
            && words.len() <= 5
            && words.iter().all(|w| {
                w.as_bytes()
                    .first()
                    .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            });
        if !ok {
            break;
        }
        start = seg_s;
        // A street line or a unit (`12 Baker St`, `Flat 5`) is an address's first line.
        let first = words[0].trim_end_matches('.');
        if seg.as_bytes()[0].is_ascii_digit()
            || matches!(
                first,
                "Flat"
                    | "Studio"
                    | "Apartment"
                    | "Apt"
                    | "Unit"
                    | "Suite"
                    | "PSC"
                    | "USNS"
                    | "USS"
                    | "USNV"
                    | "USCGC"
            )
        {
            break;
        }
    }
    start
}

/// Where the units written before a street line starting at `i` start (`Flat 3, `,
/// `Room 1203, Building 5, `: up to three, each ending where the next begins), or `i`.
fn units_before(lex: &Lexicon, text: &str, i: usize) -> usize {
    let mut start = i;
    for _ in 0..3 {
        let before = text[..start].trim_end_matches([' ', ',']);
        let found = unit_ending(lex, before);
        match found {
            Some(s) if s < start => start = s,
            _ => break,
        }
    }
    start
}

/// Where a secondary unit ending `before` starts (it starts at one of its last three
/// words), or None.
fn unit_ending(lex: &Lexicon, before: &str) -> Option<usize> {
    let mut ws = before.len();
    for _ in 0..3 {
        let Some(p) = before[..ws].trim_end().rfind(' ') else {
            let whole = !before.is_empty() && secondary_unit(lex, before, 0) == Some(before.len());
            return whole.then_some(0);
        };
        ws = p + 1;
        if secondary_unit(lex, before, ws) == Some(before.len()) {
            return Some(ws);
        }
        ws = p;
    }
    None
}

/// Where a PO box ending `t` starts: `PO Box 123`, `P.O. Box 123`, `P. O. Box 12`,
/// `Post Office Box 7` (any case of `Box`), or None.
fn po_box_start(t: &str) -> Option<usize> {
    let digits = t.bytes().rev().take_while(u8::is_ascii_digit).count();
    let head = t[..t.len() - digits].strip_suffix(' ')?;
    let is_box = head.len() >= 3
        && head.is_char_boundary(head.len() - 3)
        && head[head.len() - 3..].eq_ignore_ascii_case("box");
    if digits == 0 || !is_box {
        return None;
    }
    let head = head[..head.len() - 3].trim_end_matches(' ');
    ["P.O.", "PO", "P. O.", "P.O", "Post Office", "POST OFFICE"]
        .iter()
        .find(|p| {
            head.ends_with(**p)
                && !head[..head.len() - p.len()]
                    .bytes()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
        })
        .map(|p| head.len() - p.len())
}

/// Extends `e` forwards over `, City`, `, ST 12345`, a postcode, or a unit.
fn extend_forward(lex: &Lexicon, text: &str, e: usize) -> (usize, bool) {
    let b = text.as_bytes();
    let mut end = e;
    let mut tail = false;
    if let Some(u) = secondary_unit(lex, text, end) {
        end = u;
    }
    for _ in 0..4 {
        let mut j = end;
        if b.get(j) == Some(&b',') {
            j += 1;
        }
        let line_break = b.get(j) == Some(&b'\n') || (b.get(j) == Some(&b'\r'));
        while matches!(b.get(j), Some(b' ' | b'\n' | b'\r')) {
            j += 1;
        }
        if j == end {
            break;
        }
        if let Some(z) = state_zip(lex, text, j).or_else(|| uk_postcode_in_tail(lex, text, j)) {
            end = z;
            tail = true;
            break;
        }
        // A city or locality: 1–3 capitalised words.
        let mut k = j;
        let mut words = 0;
        // The city's last word ends a sentence (`…, Alhambra, Hawaii. Thanks, Tom`):
        // the address ends there.
        let mut sentence_end = false;
        while words < 3 {
            let we = word_end(b, k);
            if we == k || !b[k].is_ascii_uppercase() {
                break;
            }
            words += 1;
            k = we;
            if ends_sentence(b, j, k) {
                k -= 1;
                sentence_end = true;
                break;
            }
            // Lower-case particles inside a place name (Newton le Willows, Stratford
            // upon Avon).
            for p in [
                " le ", " la ", " de ", " upon ", " on ", " in ", " by ", " under ",
            ] {
                if text[k..].starts_with(p)
                    && b.get(k + p.len()).is_some_and(u8::is_ascii_uppercase)
                {
                    k += p.len() - 1;
                    break;
                }
            }
            if b.get(k) == Some(&b' ')
                && b.get(k + 1).is_some_and(u8::is_ascii_uppercase)
                && state_zip(lex, text, k + 1).is_none()
                && uk_postcode_in_tail(lex, text, k + 1).is_none()
            {
                k += 1;
            } else {
                break;
            }
        }
        if words == 0 {
            break;
        }
        if sentence_end {
            end = k;
            break;
        }
        // A city must be followed by more address (state/ZIP/postcode) or end a line.
        let mut m = k;
        if b.get(m) == Some(&b',') {
            m += 1;
        }
        while matches!(b.get(m), Some(b' ')) {
            m += 1;
        }
        let comma = b.get(k) == Some(&b',');
        if let Some(z) = state_zip(lex, text, m)
            .or_else(|| uk_postcode_in_tail(lex, text, m))
            .or_else(|| comma.then(|| bare_postcode(b, m)).flatten())
        {
            end = z;
            tail = true;
            break;
        }
        let eol = matches!(b.get(k), None | Some(b'\n' | b'\r'));
        if line_break && (eol || b.get(k) == Some(&b'\n')) {
            end = k;
            continue;
        }
        if b.get(k) == Some(&b',') || b.get(k) == Some(&b'\n') {
            end = k;
            continue;
        }
        break;
    }
    (end, tail)
}

/// A postcode of digits alone at `i`, after a town and its comma in an address's tail:
/// four to six digits (Australia's `4356`, Europe's, India's `283403`), India's PIN
/// written 3 + 3 (`283 403`), or an Australian state and four digits (`NSW 2000`).
/// Returns its end.
fn bare_postcode(b: &[u8], i: usize) -> Option<usize> {
    let digits_at = |j: usize| {
        b[j.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let ends = |j: usize| {
        !b.get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    let mut j = i;
    let mut au_state = false;
    for st in ["NSW", "VIC", "QLD", "TAS", "ACT", "NT", "SA", "WA"] {
        if b[i..].starts_with(st.as_bytes()) && b.get(i + st.len()) == Some(&b' ') {
            j = i + st.len() + 1;
            au_state = true;
            break;
        }
    }
    let d = digits_at(j);
    if au_state {
        return (d == 4 && ends(j + 4)).then_some(j + 4);
    }
    if (4..=6).contains(&d) && ends(j + d) {
        return Some(j + d);
    }
    (d == 3 && b.get(j + 3) == Some(&b' ') && digits_at(j + 4) == 3 && ends(j + 7)).then_some(j + 7)
}

/// English addresses; `zips`: whether the text has a run of five digits, which a
/// state–ZIP tail needs.
fn scan_en(lex: &Lexicon, text: &str, zips: bool, out: &mut Vec<Detection>) {
    let b = text.as_bytes();
    let mut covered = 0;
    let mut i = 0;
    while i < b.len() {
        // Only a digit (a street number) or a capital (a state, a postcode) starts
        // anything below: pass every other byte eight at a time.
        let Some(next) = super::ascii::next_capital(b, i, true) else {
            break;
        };
        i = next;
        let c = b[i];
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if i < covered || !word_start {
            i = alnum_run_end(b, i + 1);
            continue;
        }
        // A street line.
        if c.is_ascii_digit()
            && !(i > 0 && matches!(b[i - 1], b'$' | b'#' | b'.' | b',' | b'-' | b'/' | b'+'))
        {
            if let Some(e) = street_line(lex, text, i) {
                let (end, tail) = extend_forward(lex, text, e);
                // Units or "Flat 3," before the number.
                let start = units_before(lex, text, i);
                let score = if tail { 0.95 } else { 0.8 };
                push(out, start, end, score);
                covered = end;
                i = end;
                continue;
            }
            // A European street line, found from its house number.
            if let Some(end) = eu_at_number(lex, text, i, covered, out) {
                covered = end;
                i = end;
                continue;
            }
        }
        // Military or PO box lines and state-ZIP / postcode tails without a street line.
        if c.is_ascii_uppercase() {
            if let Some(e) = zips.then(|| state_zip(lex, text, i)).flatten() {
                // Needs a city (or a military code: APO/FPO/DPO) before it.
                let start = extend_back(text, i, 3);
                let prev = text[..i].trim_end();
                let military =
                    prev.ends_with("APO") || prev.ends_with("FPO") || prev.ends_with("DPO");
                if start < i || military {
                    let s0 = if military {
                        extend_back(text, prev.len() - 3, 3)
                    } else {
                        start
                    };
                    push(out, s0, e, if start < i || military { 0.8 } else { 0.5 });
                    covered = e;
                    i = e;
                    continue;
                }
            }
            if let Some(e) = uk_postcode(lex, text, i) {
                let start = extend_back(text, i, 4);
                push(out, start, e, if start < i { 0.85 } else { 0.55 });
                covered = e;
                i = e;
                continue;
            }
        }
        i = alnum_run_end(b, i + 1);
    }
}

// ---------------------------------------------------------------------------------
// Continental Europe and Latin America (GDPR data): the street's type before its name
// (`Rua Bresser 1313`, `Via Goffredo Mameli 149`, `19 Rue de Strasbourg`), a compound
// whose last part is the type (`Hauknesgata 115`, `Corellistraat 178`,
// `Favoritenstrasse 36`), or the type after the name (`Grazer Strasse 96`,
// `Erzsebet ter 83.`), always with a house number. Read in the shadow, where letters
// with diacritics are ASCII (`Praça` → `Praca`, `Straße` → `Strase`). Street types are
// the common words of each language's addresses, written out here (a fact list, as
// `uk_street_types.txt` is).

/// Street types written before the name, as written (capitalised).
const EU_LEAD: &[&str] = &[
    "Rua",
    "R.",
    "Avenida",
    "Av.",
    "Avda.",
    "Via",
    "Viale",
    "Vicolo",
    "Piazza",
    "Piazzetta",
    "Piazzale",
    "Corso",
    "Largo",
    "Rue",
    "Avenue",
    "Boulevard",
    "Bd",
    "Chemin",
    "Place",
    "Quai",
    "Allee",
    "Impasse",
    "Calle",
    "Carrer",
    "Paseo",
    "Passeig",
    "Plaza",
    "Placa",
    "Praca",
    "Travessa",
    "Estrada",
    "Alameda",
    "Strada",
    "Ulica",
    "Ul.",
    "Aleja",
];

/// Street types French writes in lower case after a number first (`19 rue de la Paix`).
const EU_LEAD_LOWER: &[&str] = &[
    "rue",
    "avenue",
    "chemin",
    "quai",
    "place",
    "boulevard",
    "allee",
    "impasse",
];

/// Lower-case words inside a street's name (`Rue de la Nouvelle Delhi`, `Rua dos Anjos`).
const EU_PARTICLES: &[&str] = &[
    "de", "da", "do", "dos", "das", "del", "della", "delle", "dei", "degli", "di", "du", "des",
    "la", "le", "les", "von", "van", "der", "den", "y", "e",
];

/// Last parts of one-word street names (lower case, as folded): German, Dutch, the
/// Nordic languages, Finnish, Estonian, Hungarian, Czech and Polish street types.
const EU_SUFFIX: &[&str] = &[
    "strasse", "strase", "gasse", "weg", "allee", "platz", "damm", "ufer", "steig", "pfad",
    "straat", "laan", "gracht", "plein", "kade", "singel", "dreef", "vej", "gade", "vanget",
    "veien", "vegen", "veg", "gata", "gatan", "gate", "vagen", "vag", "stigur", "straeti",
    "strati", "braut", "tie", "katu", "kuja", "polku", "utca", "ulica", "trida",
];

/// Street types written as a word of their own after the name (as folded).
const EU_TYPE_AFTER: &[&str] = &[
    "Strasse", "Strase", "Str.", "Gasse", "Weg", "Allee", "Platz", "strasse", "gasse", "weg",
    "tee", "ter", "utca", "ut", "utja", "u.", "korut", "sor", "koz", "tn", "mnt", "vej", "veg",
    "gate", "gata",
];

/// A house number at `i` (`149`, `12B`, `97/3`, `3.`) that ends a street: followed by the
/// end of the text or line, a comma, a semicolon, a bracket, a full stop and a space, or
/// a space and a digit (a postcode). Returns its end.
fn eu_house_number(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() && j - i < 5 {
        j += 1;
    }
    if j == i || b.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if b.get(j).is_some_and(u8::is_ascii_alphabetic)
        && !b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        j += 1;
    }
    if matches!(b.get(j), Some(b'/' | b'-')) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 2;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    }
    if b.get(j) == Some(&b'.') && matches!(b.get(j + 1), None | Some(b',' | b' ' | b'\n')) {
        j += 1;
    }
    match b.get(j) {
        None | Some(b',' | b'\n' | b'\r' | b';' | b')') => Some(j),
        Some(b'.') if matches!(b.get(j + 1), None | Some(b' ' | b'\n')) => Some(j),
        Some(b' ') if b.get(j + 1).is_some_and(u8::is_ascii_digit) => Some(j),
        _ => None,
    }
}

/// Whether `w` is a one-word street name whose last part is a street type (`EU_SUFFIX`),
/// with at least three letters before it.
fn eu_compound(w: &str) -> bool {
    let b = w.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_uppercase) || b.len() > 40 {
        return false;
    }
    let mut buf = [0u8; 40];
    let Some(l) = super::lexicon::lower_into(w, &mut buf) else {
        return false;
    };
    EU_SUFFIX.iter().any(|s| {
        l.len() >= s.len() + 3
            && l.ends_with(s)
            && l[..l.len() - s.len()]
                .bytes()
                .all(|c| c.is_ascii_alphabetic() || c == b'-')
    })
}

/// The street's name from `i` up to the house number: up to five words, capitalised or
/// particles, the first capitalised. With `lead`, `i` is after a type word; without it,
/// the name must hold a compound (`eu_compound`) or be followed by a type word
/// (`EU_TYPE_AFTER`). Returns the number's start.
fn eu_name(text: &str, i: usize, lead: bool) -> Option<usize> {
    let b = text.as_bytes();
    let mut k = i;
    let mut typed = lead;
    let mut capitals = 0;
    for n in 0..6 {
        let we = word_end(b, k);
        if we == k {
            return None;
        }
        let w = &text[k..we];
        if b[k].is_ascii_digit() {
            // The number: the name before it must be typed and hold a capitalised word.
            return (n > 0 && typed && capitals > 0).then_some(k);
        }
        if b[k].is_ascii_uppercase() {
            capitals += 1;
            typed |= eu_compound(w) || (n > 0 && EU_TYPE_AFTER.contains(&w));
        } else if elided(w) {
            capitals += 1;
        } else if n > 0 && EU_TYPE_AFTER.contains(&w) {
            typed = true;
        } else if !(n > 0 && EU_PARTICLES.contains(&w)) {
            return None;
        }
        if b.get(we) != Some(&b' ') {
            return None;
        }
        k = we + 1;
    }
    None
}

/// A capitalised name after an elided particle (`d'Ouchy`, `l'Horloge`).
fn elided(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() > 3 && matches!(b[0], b'd' | b'l') && b[1] == b'\'' && b[2].is_ascii_uppercase()
}

/// A European street line at `i` (a capital, or a digit for a number written first:
/// `19 Rue de Strasbourg`, `36 Favoritenstrasse`). Returns its end.
fn eu_street(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if b[i].is_ascii_digit() {
        // Number first: the number, then a type word and a name, or a compound, ending
        // the line or the clause.
        let mut j = i;
        while b.get(j).is_some_and(u8::is_ascii_digit) && j - i < 5 {
            j += 1;
        }
        if b.get(j) != Some(&b' ') {
            return None;
        }
        j += 1;
        let we = word_end(b, j);
        let first = &text[j..we];
        // Most numbers are followed by a lower-case word that starts no street: its
        // first letter starts none of `EU_LEAD_LOWER`.
        if we == j
            || !(b[j].is_ascii_uppercase() || EU_LEAD_LOWER.iter().any(|l| l.as_bytes()[0] == b[j]))
        {
            return None;
        }
        let mut end;
        if EU_LEAD.contains(&first) || EU_LEAD_LOWER.contains(&first) {
            end = we;
            let mut k = we;
            let mut named = false;
            for _ in 0..5 {
                if b.get(k) != Some(&b' ') {
                    break;
                }
                let ne = word_end(b, k + 1);
                let w = &text[k + 1..ne];
                if ne > k + 1 && b[k + 1].is_ascii_uppercase() {
                    named = true;
                    end = ne;
                } else if !EU_PARTICLES.contains(&w) && !w.starts_with("l'") && !w.starts_with("d'")
                {
                    break;
                }
                k = ne;
            }
            if !named {
                return None;
            }
        } else if matches!(b.get(we), None | Some(b',' | b'\n' | b'\r' | b';'))
            && eu_compound(first)
        {
            end = we;
        } else {
            return None;
        }
        return matches!(b.get(end), None | Some(b',' | b'\n' | b'\r' | b';')).then_some(end);
    }
    let we = word_end(b, i);
    let w = &text[i..we];
    let lead = EU_LEAD.contains(&w) || w == "ul.";
    let name_start = if lead {
        if b.get(we) != Some(&b' ') {
            return None;
        }
        we + 1
    } else {
        i
    };
    let number = eu_name(text, name_start, lead)?;
    eu_house_number(b, number)
}

/// A postcode after a European street and its city, as most countries write it:
/// `1102 CW`, `21010-290`, `284 01`, `4450`, `85-164`, optionally after a region code
/// (`SP`, `RJ`, `WHT`) and a comma. Returns its end.
fn eu_postcode_tail(b: &[u8], e: usize) -> Option<usize> {
    let mut j = e;
    if b.get(j) == Some(&b',') {
        j += 1;
    }
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    let region = b[j..].iter().take_while(|c| c.is_ascii_uppercase()).count();
    if (1..=3).contains(&region) && b.get(j + region) == Some(&b' ') {
        j += region + 1;
    }
    let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
    // Poland writes two digits, a hyphen and three (`85-164`).
    let polish = digits == 2
        && b.get(j + 2) == Some(&b'-')
        && b[j + 3..].iter().take_while(|c| c.is_ascii_digit()).count() == 3;
    if !(3..=5).contains(&digits) && !polish {
        return None;
    }
    j += digits;
    if b.get(j) == Some(&b'-') && b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count() >= 3
    {
        j += 1 + b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    } else if b.get(j) == Some(&b' ') {
        let more = b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let caps = b[j + 1..]
            .iter()
            .take_while(|c| c.is_ascii_uppercase())
            .count();
        if (more == 2 && digits == 3) || caps == 2 {
            j += 1 + more.max(caps);
        }
    }
    (!b.get(j).is_some_and(u8::is_ascii_alphanumeric)).then_some(j)
}

/// Whether `w` (a capitalised word, diacritics folded) is no common English word: the
/// untyped street name and its city are read only from such words (`Windows 10,
/// Version 1809` is no address).
fn uncommon(lex: &Lexicon, w: &str) -> bool {
    w.bytes().all(|c| !c.is_ascii_lowercase()) || lex.en_zipf(w) < 3.0
}

/// A street without a type word, known by the whole line's shape: one to three
/// uncommon capitalised words, a house number, a comma, a city of uncommon words and a
/// postcode (`Kringlan 66, Reykjavik, 107`, `Mirova 1690, Bobrova, VY 592 55`).
/// Returns the postcode's end.
fn eu_untyped(lex: &Lexicon, text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut k = i;
    let mut words = 0;
    while words < 3 && b.get(k).is_some_and(u8::is_ascii_uppercase) {
        let we = word_end(b, k);
        if !uncommon(lex, text[k..we].trim_end_matches('.')) || b.get(we) != Some(&b' ') {
            return None;
        }
        words += 1;
        k = we + 1;
    }
    if words == 0 {
        return None;
    }
    let n = eu_house_number(b, k)?;
    if b.get(n) != Some(&b',') {
        return None;
    }
    // The city: up to four words, the first capitalised and uncommon, then the postcode
    // after a comma or a space.
    let mut j = n + 1;
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    let we = word_end(b, j);
    if we == j || !b[j].is_ascii_uppercase() || !uncommon(lex, &text[j..we]) {
        return None;
    }
    let mut k = we;
    for _ in 0..4 {
        if let Some(z) = eu_postcode_tail(b, k) {
            return Some(z);
        }
        if b.get(k) != Some(&b' ') {
            return None;
        }
        let we = word_end(b, k + 1);
        // A district's number in the city (`Melnik 1, HL 276 01`, `Pardubice 2`).
        if we > k + 1
            && we - (k + 1) <= 2
            && b[k + 1..we].iter().all(u8::is_ascii_digit)
            && b.get(we) == Some(&b',')
        {
            k = we;
            continue;
        }
        if we == k + 1 || b[k + 1].is_ascii_digit() {
            return None;
        }
        k = we;
    }
    None
}

/// A European street line whose house number (or, written first, whose start) is the
/// digit at `i`, with what follows it, as a detection starting at or after `covered`.
/// Anchored at the number, which every form has and few capitals stand before: tried
/// at every capital, as first written, it cost 9.7 % more detection instructions on
/// the chat corpus. The street's words are looked for back from the number (at most
/// six, capitalised or particles or type words, single spaces between), the farthest
/// start that reads as a street first. Returns the detection's end.
fn eu_at_number(
    lex: &Lexicon,
    text: &str,
    i: usize,
    covered: usize,
    out: &mut Vec<Detection>,
) -> Option<usize> {
    if let Some(e) = eu_street(text, i) {
        return Some(eu_address(lex, text, i, e, out));
    }
    let b = text.as_bytes();
    eu_house_number(b, i)?;
    let mut starts = [0usize; 6];
    let mut n = 0;
    let mut k = i;
    while n < starts.len() && k >= 2 && b[k - 1] == b' ' {
        let ws = b[..k - 1]
            .iter()
            .rposition(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'\'' | b'-' | b'.')))
            .map_or(0, |p| p + 1);
        let w = &text[ws..k - 1];
        if ws == k - 1
            || !(b[ws].is_ascii_uppercase()
                || EU_PARTICLES.contains(&w)
                || EU_TYPE_AFTER.contains(&w)
                || elided(w)
                || w == "ul.")
        {
            break;
        }
        starts[n] = ws;
        n += 1;
        k = ws;
    }
    for &s in starts[..n].iter().rev() {
        if s < covered || !(b[s].is_ascii_uppercase() || text[s..].starts_with("ul. ")) {
            continue;
        }
        if let Some(e) = eu_street(text, s) {
            return Some(eu_address(lex, text, s, e, out));
        }
        if let Some(end) = eu_untyped(lex, text, s) {
            push(out, s, end, 0.85);
            return Some(end);
        }
    }
    None
}

/// The European street line `i..e` with what follows it (`, City`, a postcode), as a
/// detection; its end.
fn eu_address(lex: &Lexicon, text: &str, i: usize, e: usize, out: &mut Vec<Detection>) -> usize {
    let b = text.as_bytes();
    let (mut end, mut tail) = extend_forward(lex, text, e);
    for _ in 0..2 {
        if let Some(z) = eu_postcode_tail(b, end) {
            end = z;
            tail = true;
        }
        let (e2, t2) = extend_forward(lex, text, end);
        if e2 == end {
            break;
        }
        end = e2;
        tail |= t2;
    }
    push(out, i, end, if tail { 0.9 } else { 0.85 });
    end
}

/// The end of the run of ASCII letters and digits at `i`. No byte inside a run starts
/// a word, so `scan_en` passes the rest of a run at once instead of stopping at each of
/// its capitals and digits (phone numbers, codes).
fn alnum_run_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let a = Addresses::new();
        let mut starts = Vec::new();
        super::super::wordfind::FirstChars::new(
            &[super::super::wordfind::Marks::Words(a.finder())],
            &[],
            &[],
        )
        .mark(&chars, &mut starts);
        a.scan(text, &chars, &starts[0], &needs::profile(text), &mut out);
        out.retain(|d| d.score >= 0.5);
        super::super::resolve(&mut out);
        out.iter()
            .map(|d| text[d.start..d.end].to_string())
            .collect()
    }

    /// `zh_division_at` as it read before `DivisionFilter`: a lookup at every length.
    fn zh_division_at_plain(
        lex: &Lexicon,
        text: &str,
        s: usize,
        after_known: bool,
    ) -> Option<(usize, bool)> {
        let mut best = None;
        let mut end = s;
        for (i, c) in text[s..].chars().enumerate() {
            if !is_han(c) || i >= lex.zh_division_max_chars {
                break;
            }
            end += c.len_utf8();
            if i >= 1 && lex.zh_division(&text[s..end]).is_some() {
                best = Some((end - s, true));
            }
        }
        if let Some((len, known)) = best {
            let next = text[s + len..].chars().next();
            if let Some(c) = next.filter(|c| "省市区县州旗盟镇乡".contains(*c)) {
                return Some((len + c.len_utf8(), known));
            }
            return best;
        }
        if !after_known {
            return None;
        }
        if text[s..].starts_with([
            '在', '到', '的', '和', '与', '从', '去', '来', '是', '于', '往',
        ]) {
            return None;
        }
        let mut end = s;
        for (i, c) in text[s..].chars().enumerate() {
            if !is_han(c) || i >= 7 {
                break;
            }
            end += c.len_utf8();
            if i >= 1 && ZH_ADMIN.iter().any(|a| text[s..end].ends_with(a)) {
                return Some((end - s, false));
            }
        }
        None
    }

    proptest::proptest! {
        /// The filtered walk finds what the plain one finds, at every start, in texts
        /// pieced together from division names, their pieces, suffixes and other
        /// characters.
        #[test]
        fn division_filter_is_exact(
            picks in proptest::collection::vec((0usize..6200, 0usize..16, 0usize..4), 1..12),
            after_known in proptest::bool::ANY,
        ) {
            static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
                let mut v: Vec<&str> = lexicon().zh_division_names().collect();
                v.sort_unstable();
                v
            });
            let lex = lexicon();
            let filter = DivisionFilter::new(lex);
            let mut text = String::new();
            for (n, cut, kind) in picks {
                let name = NAMES[n % NAMES.len()];
                match kind {
                    0 => text.push_str(name),
                    1 => text.extend(name.chars().take(cut)),
                    2 => text.extend(name.chars().skip(cut % 3)),
                    _ => text.push(['省', '市', '区', '的', '路', ',', 'a', '在', '一'][cut % 9]),
                }
            }
            for (s, _) in text.char_indices() {
                proptest::prop_assert_eq!(
                    zh_division_at(lex, &filter, &text, s, after_known),
                    zh_division_at_plain(lex, &text, s, after_known)
                );
            }
        }
    }

    #[test]
    fn chinese_addresses() {
        assert_eq!(
            found("收件人邓云，地址青岛市崂山区海尔路234号翠湖小区6栋2单元1502室，电话"),
            ["青岛市崂山区海尔路234号翠湖小区6栋2单元1502室"]
        );
        assert_eq!(
            found("寄到广东省广州市天河区中山五路633号。"),
            ["广东省广州市天河区中山五路633号"]
        );
        assert_eq!(found("住在北京市东城区南锣鼓巷"), ["北京市东城区南锣鼓巷"]);
        assert_eq!(
            found("地址：上海市浦东新区张杨路"),
            ["上海市浦东新区张杨路"]
        );
        assert!(found("我下周去杭州出差").is_empty());
        assert!(found("订单3号已发货").is_empty());
    }

    /// Taiwan's forms (a road's section in digits, a sub-number, its divisions) and a
    /// postcode before an address are part of it.
    #[test]
    fn taiwan_forms_and_postcodes() {
        // (Traditional text reaches the scan folded to simplified characters.)
        // A section in digits, a sub-number after the house number, Taiwan's divisions.
        assert_eq!(
            found("收件地址：台北市大安区忠孝东路4段181号之5，谢谢"),
            ["台北市大安区忠孝东路4段181号之5"]
        );
        assert_eq!(
            found("他在新营中兴路6段37号4楼租房"),
            ["新营中兴路6段37号4楼"]
        );
        // A postcode before the address is part of it, after a lead word or not.
        assert_eq!(
            found("地址：919 古坑三民路644号3楼"),
            ["919 古坑三民路644号3楼"]
        );
        assert_eq!(
            found("寄到 100085 北京市海淀区上地十街10号"),
            ["100085 北京市海淀区上地十街10号"]
        );
        assert_eq!(
            found("收件人王小明，10617台北市大安区罗斯福路四段1号"),
            ["10617台北市大安区罗斯福路四段1号"]
        );
        // Not a postcode: a longer number, or one joined to letters.
        assert_eq!(
            found("订单13812345678 北京市海淀区上地十街10号"),
            ["北京市海淀区上地十街10号"]
        );
        assert_eq!(
            found("编号A123 北京市海淀区上地十街10号"),
            ["北京市海淀区上地十街10号"]
        );
        // Hong Kong's districts are divisions.
        assert_eq!(found("住在湾仔区轩尼诗道302号"), ["湾仔区轩尼诗道302号"]);
    }

    /// The unit after a building whose name has Latin letters (`SOHO现代城A座1501`) and
    /// an annex number (`12号附3号`) are part of the address; both were left in the text.
    #[test]
    fn chinese_addresses_to_the_room() {
        assert_eq!(
            found("地址:北京朝阳区建国路88号SOHO现代城A座1501，到了打电话"),
            ["北京朝阳区建国路88号SOHO现代城A座1501"]
        );
        assert_eq!(
            found("住址：四川省成都市武侯区人民南路四段12号附3号"),
            ["四川省成都市武侯区人民南路四段12号附3号"]
        );
        assert_eq!(
            found("寄到深圳市南山区科技园南路88号 Tel 0755"),
            ["深圳市南山区科技园南路88号"]
        );
        // Roads whose names are words (学院路 is listed, 劳动里 ends like 心里) are
        // roads before a house number; the address stopped before them.
        assert_eq!(
            found("请寄到北京市西城区学院路581号锦绣家园23栋5单元3102室，谢谢"),
            ["北京市西城区学院路581号锦绣家园23栋5单元3102室"]
        );
        assert_eq!(
            found("听说他搬到南宁市西峰区劳动里9组30号去了"),
            ["南宁市西峰区劳动里9组30号"]
        );
        assert!(found("东西放在柜子里3天了").is_empty());
        assert_eq!(
            found("地址：广州市天河区天河路385号太古汇一座28楼"),
            ["广州市天河区天河路385号太古汇一座28楼"]
        );
        assert_eq!(
            found("寄到广州市天河区天河路385号，楼下有一座花园"),
            ["广州市天河区天河路385号"]
        );
        assert_eq!(
            found("请寄到武汉市江汉区解放大道984号幸福里14栋5单元402室，谢谢"),
            ["武汉市江汉区解放大道984号幸福里14栋5单元402室"]
        );
    }

    /// A place named after a division without a road's suffix, then a house number, is
    /// the street (it was read as a person's name: 纪 and 胡 are surnames); a common
    /// word there is not (a date: 明天8号).
    #[test]
    fn places_before_a_house_number_after_a_division() {
        assert_eq!(
            found("地址：福建省北海市纪栋84号，电话另附"),
            ["福建省北海市纪栋84号"]
        );
        assert_eq!(
            found("寄到重庆市贵门市胡桥6号，谢谢"),
            ["重庆市贵门市胡桥6号"]
        );
        assert_eq!(
            found("地址：北京市朝阳区建国路88号 Suite 604，谢谢"),
            ["北京市朝阳区建国路88号 Suite 604"]
        );
        assert_eq!(
            found("他在北京市海淀区中关村27号上班"),
            ["北京市海淀区中关村27号"]
        );
        assert!(found("北京市明天8号开会").iter().all(|a| !a.contains('8')));
        assert!(found("上海市的朋友3号来").iter().all(|a| !a.contains('3')));
    }

    /// After a town in an address's tail, a postcode with a mistyped inward code still
    /// ends the address (a real area first); elsewhere only a well-formed one counts.
    /// Broadway is a street without a type.
    #[test]
    fn loose_postcodes_after_a_town_and_broadway() {
        assert_eq!(
            found("Post it to 49 Coronation Road, Old Bogan, SS87 18A today"),
            ["49 Coronation Road, Old Bogan, SS87 18A"]
        );
        assert!(found("Order SS87 18A shipped").is_empty());
        for (text, address) in [
            (
                "Send it to 42 Keeling Meadow, Laraworth, 9815 please",
                "42 Keeling Meadow, Laraworth, 9815",
            ),
            (
                "Post: 12 George St, Sydney, NSW 2000.",
                "12 George St, Sydney, NSW 2000",
            ),
            (
                "Ship to 976 Gautam Mall, Fatehabad, 161 741 today",
                "976 Gautam Mall, Fatehabad, 161 741",
            ),
            (
                "Ship to 976 Gautam Mall, Fatehabad, 161741 today",
                "976 Gautam Mall, Fatehabad, 161741",
            ),
        ] {
            assert_eq!(found(text), [address], "{text}");
        }
        // Without the town's comma a number after it is not taken.
        assert_eq!(
            found("Meet at 12 George St, Sydney 2000 people came"),
            ["12 George St"]
        );
        assert_eq!(
            found("She lives at 1386 N Broadway, Fort Isabelside, SD 65871-4705."),
            ["1386 N Broadway, Fort Isabelside, SD 65871-4705"]
        );
    }

    /// A PO box before a town's line is the address's first line.
    #[test]
    fn po_boxes_start_the_address() {
        for text in [
            "Send to PO Box 123, Springfield, IL 62701",
            "Send to P.O. Box 123, Springfield, IL 62701",
            "mail: Post Office Box 9, Springfield, IL 62701",
        ] {
            let a = found(text);
            assert_eq!(a.len(), 1, "{text}");
            assert!(
                a[0].contains("Box") && a[0].ends_with("62701"),
                "{text}: {a:?}"
            );
            assert!(a[0].starts_with('P'), "{text}: {a:?}");
        }
        assert_eq!(po_box_start("SHIPBOX 12"), None);
        assert_eq!(
            found("Room 1203, Building 5, 88 Main Street, Springfield, IL 62701"),
            ["Room 1203, Building 5, 88 Main Street, Springfield, IL 62701"]
        );
        assert_eq!(po_box_start("the box 12"), None);
    }

    #[test]
    fn english_addresses() {
        assert_eq!(
            found("Ship to 5711 Sunset St, Brooklyn, NY 11290 please"),
            ["5711 Sunset St, Brooklyn, NY 11290"]
        );
        assert_eq!(
            found("at Flat 13, 95B York Avenue, Leeds LS1 8DE."),
            ["Flat 13, 95B York Avenue, Leeds LS1 8DE"]
        );
        assert_eq!(
            found("lives at 1600 Pennsylvania Avenue NW Apt. 4 now"),
            ["1600 Pennsylvania Avenue NW Apt. 4"]
        );
        assert!(found("I bought 3 Red Apples today").is_empty());
    }

    /// A town that ends a sentence is the address's last part, and the address ends
    /// with it: before, the town was left out (`…, 12 Kings Rd, Wakefield.`), or, with a
    /// line after it, the next sentence was read as more towns (`Hawaii. Thanks, Tom
    /// Baker`), and the name there then won the overlap and the whole address was left
    /// in the text. Abbreviations inside a town's name go on (`St. Louis`).
    /// Continental European and Latin American streets, as the shadow reads them
    /// (diacritics folded): a type before the name, a compound ending in a type, a type
    /// after the name, the number first, and without any type word the whole line's
    /// shape (number, comma, city, postcode). Look-alikes with numbers are no streets.
    #[test]
    fn european_streets() {
        for (text, want) in [
            (
                "Please send it to Rua Bresser 1313, Sao Paulo, SP 03164-160 today",
                "Rua Bresser 1313, Sao Paulo, SP 03164-160",
            ),
            (
                "Located at Willem Barentszweg 177, Geldrop, NB 5665 VC.",
                "Willem Barentszweg 177, Geldrop, NB 5665 VC",
            ),
            (
                "The office is Grazer Strasse 10, HART, KA 9473",
                "Grazer Strasse 10, HART, KA 9473",
            ),
            (
                "Change it to 19 Rue de Strasbourg, Clermont-Ferrand, 63000 for post",
                "19 Rue de Strasbourg, Clermont-Ferrand, 63000",
            ),
            (
                "Validate this: Kringlan 66, Reykjavik, 107",
                "Kringlan 66, Reykjavik, 107",
            ),
            ("Taxi to Hauknesgata 115, please", "Hauknesgata 115"),
            (
                "My address is Fibichova 450, Melnik 1, HL 276 01",
                "Fibichova 450, Melnik 1, HL 276 01",
            ),
            (
                "Send it to Avenue d'Ouchy 109, Pleigne, 2807?",
                "Avenue d'Ouchy 109, Pleigne, 2807",
            ),
            (
                "Update it to ul. Karpacka 69, Bydgoszcz, 85-164 now",
                "ul. Karpacka 69, Bydgoszcz, 85-164",
            ),
        ] {
            assert_eq!(found(text), [want], "{text}");
        }
        for text in [
            "Via Email 24 hours a day",
            "Windows 10, Version 1809 is out",
            "Chapter 5, Verse 1234",
            "Gate 12, Terminal 2",
            "Spring 2024, Summer 2025",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn a_sentence_end_ends_the_address() {
        assert_eq!(
            found("Same address, 12 Kings Rd, Wakefield. The gate code is 1234."),
            ["12 Kings Rd, Wakefield"]
        );
        for after in ["", "\nSee you.", "\n参会人员：张三、李四。"] {
            let text = format!(
                "Please update my shipping address to 34015 Beckett Ave., Alhambra, Hawaii. \
                 Thanks, Tom Baker{after}"
            );
            assert_eq!(
                found(&text),
                ["34015 Beckett Ave., Alhambra, Hawaii"],
                "{text:?}"
            );
        }
        assert_eq!(
            found("Send it to 1200 Market St, St. Louis, MO 63103 by Friday"),
            ["1200 Market St, St. Louis, MO 63103"]
        );
    }
}
