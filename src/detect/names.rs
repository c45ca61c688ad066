//! PERSON: names in Chinese and English text, found as candidates from lexicons and
//! kept by a score that weighs the evidence for and against each one.
//!
//! Chinese: every surname character (or compound surname) of the surname lexicon starts
//! a candidate of that surname plus one or two given-name characters. Its score adds
//! - how likely the characters are as a surname and as given-name characters
//!   (frequencies from the reference data);
//! - the left context: a field label or role word (姓名、收件人、主治医生 …, across
//!   full-width punctuation, brackets and spaces), a weaker cue (是、叫、由、给 …), or
//!   a plain boundary (start of line, punctuation);
//! - the right context: a title (先生、女士、经理 …), punctuation, or a word that
//!   usually follows a subject (说、在、已经 …);
//!
//! and subtracts the evidence that the characters are a common word instead: a word of
//! the Chinese word list starting at the surname (周末、马上、高兴、王者荣耀), a word
//! ending on the surname (温和), or one that runs on past the name's end.
//!
//! English: runs of capitalised words (with initials, `O'Brien`, `McDonald`,
//! `Smith-Jones`); leading cue words (Dear, Hi, Mr., Name:) are context, not name; the
//! rest scores by first-name and surname frequencies (US SSA, US Census; a capitalised
//! word no list knows counts for a little in either place, `cue::STRANGER`), minus common
//! English words, months, organisations and street suffixes, plus cues before it, a
//! signature position (alone on a line near the end, after "Best," or "--").
//!
//! Invariants: candidates never contain anything but Han characters (Chinese) or ASCII
//! letters, apostrophes, hyphens, dots and single spaces (English); one candidate per
//! start position (the best-scoring length); scores in 0..=1.

use super::ascii;
use super::lexicon::{lexicon, EnWord, Lexicon, Packer, SurnameStart, WordKind, WordMap};
use super::wordfind::{CharBits, Found, Marks, WordFinder};
use super::{Detection, EntityType};

pub(crate) struct Names {
    /// Field labels that a name follows (`ZH_LABELS`).
    labels: WordFinder,
    /// Titles and forms of address that follow a name.
    titles: WordFinder,
    /// The lowest score worth computing (`NAME_FLOOR`, or the type's threshold when
    /// that is higher: a candidate under it is dropped anyway).
    floor: f32,
    /// The lowest score of a Chinese candidate that can still matter: the person
    /// threshold, or a weak candidate that `coordinated_names` may raise.
    matters: f32,
}

/// Titles after which the characters before are taken as a name whatever the surname.
const ZH_TITLES: &[&str] = &[
    "先生", "女士", "小姐", "老师", "经理", "医生", "同学", "主任", "教授", "律师", "客户", "您好",
    "你好", "阿姨", "同志", "总监", "师傅",
];

impl Names {
    pub(crate) fn new(min_score: f32) -> Names {
        // Parse the reference data now, not inside the first batch.
        let _ = lexicon();
        Names {
            labels: WordFinder::new(ZH_LABELS),
            titles: WordFinder::new(ZH_TITLES),
            floor: min_score.max(NAME_FLOOR),
            matters: min_score.min(COORDINATED_WEAK),
        }
    }

    /// What `scan` takes marked by a `FirstChars`, in this order: the word starts of
    /// the Chinese slot scan's finders (labels, titles), and the characters that may
    /// start a surname (`Lexicon::zh_may_start`).
    pub(crate) fn marks(&self) -> [Marks<'_>; 3] {
        [
            Marks::Words(&self.labels),
            Marks::Words(&self.titles),
            Marks::Chars(&may_start_surname),
        ]
    }

    /// `chars` is `text.char_indices()` collected when the text is not ASCII (the
    /// detector decodes it once for every scan), else empty; `listing`, whether one of
    /// them is one of `LISTING`; `starts`, the characters each of `marks` marks
    /// (`FirstChars::mark`).
    pub(crate) fn scan(
        &self,
        text: &str,
        chars: &[(usize, char)],
        starts: &[Vec<usize>],
        listing: bool,
        has: u8,
        out: &mut Vec<Detection>,
    ) {
        let first = out.len();
        let lex = lexicon();
        use super::recognizers::needs::{NEWLINE, ROW, UPPER};
        if has & NEWLINE != 0 {
            scan_table(text, out);
        }
        if has & UPPER != 0 && has & ROW != 0 {
            scan_row_names(lex, text, out);
        }
        if has & UPPER != 0 {
            scan_en(lex, text, out);
        }
        if !text.is_ascii() {
            // Weaker candidates count in a list with a name (`coordinated_names`).
            let floor = if listing {
                self.floor.min(S_LISTED_WITH_A_NAME - 0.15)
            } else {
                self.floor
            };
            scan_zh_chars(lex, text, chars, &starts[2], floor, self.matters, out);
            let (labels, titles) = (&starts[0], &starts[1]);
            let labels = self.labels.find_at(text, chars, labels);
            let titles = self.titles.find_at(text, chars, titles);
            scan_zh_slots(lex, labels, titles, text, out);
        }
        coordinated_names(text, &mut out[first..]);
    }
}

/// Whether `c` may start a surname (what `Names::marks` marks for `scan_zh_chars`).
fn may_start_surname(c: char) -> bool {
    lexicon().zh_may_start(c)
}

/// Signing verbs among the labels: a name follows them only after a separator.
const ZH_SIGNING: &[&str] = &["签字", "签名", "署名", "落款"];

/// Field labels and roles whose value is a name (with `ZH_CUE_ROLES`, the strong cues;
/// no verbs, whose object is rarely a bare name).
const ZH_LABELS: &[&str] = &[
    "姓名",
    "名字",
    "联系人",
    "收件人",
    "收货人",
    "寄件人",
    "发件人",
    "签收人",
    "取件人",
    "收信人",
    "我叫",
    "我是",
    "本人",
    "名叫",
    "客户",
    "用户",
    "顾客",
    "户名",
    "户主",
    "患者",
    "病人",
    "就诊人",
    "员工",
    "职员",
    "申请人",
    "负责人",
    "经办人",
    "对接人",
    "持卡人",
    "开户人",
    "投保人",
    "被保险人",
    "受益人",
    "借款人",
    "担保人",
    "法人",
    "法定代表人",
    "租客",
    "房东",
    "业主",
    "住户",
    "司机",
    "骑手",
    "快递员",
    "配送员",
    "主治医生",
    "主治医师",
    "医生",
    "护士",
    "老师",
    "班主任",
    "学生",
    "家长",
    "经理",
    "主管",
    "组长",
    "店长",
    "面试官",
    "候选人",
    "应聘者",
    "签名",
    "签字",
    "署名",
    "记录人",
    "登记人",
    "审核人",
    "审批人",
    "报修人",
    "举报人",
    "投诉人",
    "来电人",
    "访客",
    "会员",
    "乘客",
    "旅客",
    "住客",
    "房客",
    "入住人",
    "买家",
    "卖家",
    "出租人",
    "承租人",
    "当事人",
    "车主",
    "收款人",
    "付款人",
    "紧急联系人",
    "联系人姓名",
    "车主姓名",
    "父亲",
    "母亲",
    "丈夫",
    "妻子",
    "配偶",
    "亲爱的",
    "尊敬的",
    "写的是",
    "叫",
    // Ticket roles; parties in court filings and police reports.
    "处理人",
    "提交人",
    "创建人",
    "指派人",
    "跟进人",
    "值班人",
    "经手人",
    "嫌疑人",
    "犯罪嫌疑人",
    "被告",
    "被告人",
    "原告",
    "被害人",
    "受害人",
    "证人",
    "上诉人",
    "被上诉人",
    "被申请人",
    "代理人",
    "委托人",
    "报案人",
];

fn push(out: &mut Vec<Detection>, s: usize, e: usize, score: f32) {
    out.push(Detection {
        entity: EntityType::Person,
        start: s,
        end: e,
        score: score.clamp(0.0, 1.0),
    });
}

/// Names in the cells of a delimited table under a name header (`姓名,出生日期,电话`,
/// `| Name | DOB |`): a cell of two to four Han characters, or of one to four
/// capitalised words.
fn scan_table(text: &str, out: &mut Vec<Detection>) {
    for (s, e) in super::table::cells_under(text, is_name_header) {
        if looks_like_name_cell(&text[s..e]) {
            push(out, s, e, 0.75);
        }
    }
}

fn looks_like_name_cell(v: &str) -> bool {
    let han = v.chars().count();
    if v.chars().all(is_han) {
        return (2..=4).contains(&han);
    }
    let words: Vec<&str> = v.split(' ').collect();
    (1..=4).contains(&words.len())
        && v.len() <= 40
        && words.iter().all(|w| {
            w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.chars()
                    .all(|c| c.is_ascii_alphabetic() || ".-'".contains(c))
        })
}

fn is_name_header(h: &str) -> bool {
    let h = h.trim_matches([' ', '"', '\'', '|']).to_ascii_lowercase();
    // A field label as the whole header (收件人, 患者, `first`, `patient`), or any
    // header naming a 姓名.
    ZH_LABELS.contains(&h.as_str())
        || EN_NAME_HEADERS.contains(&h.replace(['_', '-', '.'], " ").as_str())
        || h.contains("姓名")
        || (h.contains("name")
            && ![
                "user", "file", "host", "domain", "company", "product", "brand", "city", "street",
                "org", "business", "store", "shop", "item", "server", "table", "column", "field",
                "app", "device", "project", "team",
            ]
            .iter()
            .any(|w| h.contains(w)))
}

/// Whole column headers, besides any header with "name" in it, whose values are names.
const EN_NAME_HEADERS: &[&str] = &[
    "first",
    "last",
    "given",
    "middle",
    "fname",
    "lname",
    "first nm",
    "last nm",
    "forename",
    "person",
    "contact",
    "customer",
    "client",
    "patient",
    "employee",
    "recipient",
    "sender",
    "attendee",
    "guest",
    "member",
    "author",
    "signatory",
    "witness",
    "applicant",
    "tenant",
    "student",
    "driver",
    "passenger",
    "consignee",
    "shipper",
    "beneficiary",
    "account holder",
    "cardholder",
    "owner",
    "assignee",
    "reporter",
];

/// Names in a delimited row without a header (`1024,Jackson,Nancy,F,1987-03-02`): two
/// neighbouring cells that are each one capitalised word, a listed surname and a listed
/// first name in either order, in a row of three cells or more.
fn scan_row_names(lex: &Lexicon, text: &str, out: &mut Vec<Detection>) {
    use super::table::{cells, Delim};
    let mut line_start = 0;
    for line in text.split('\n') {
        let base = line_start;
        line_start += line.len() + 1;
        // A row of three cells has two delimiters: most lines of prose have fewer, and
        // skip the split.
        let Some(d) = [b',', b'\t', b';', b'|']
            .into_iter()
            .find(|d| line.as_bytes().contains(d))
        else {
            continue;
        };
        if !may_be_a_row_of_names(line, d) {
            continue;
        }
        let cs = cells(line, Delim::Char(char::from(d)));
        if cs.len() < 3 {
            continue;
        }
        let word = |&(a, b): &(usize, usize)| name_cell(&line[a..b]);
        for pair in cs.windows(2) {
            let (Some(a), Some(b)) = (word(&pair[0]), word(&pair[1])) else {
                continue;
            };
            // Many surnames and first names are also towns (Jones, Paul, Hull): only a
            // pair of towns is taken for places.
            let last_first = lex.en_last(a) >= 0.3 && lex.en_first(b) >= 0.2;
            let first_last = lex.en_first(a) >= 0.2 && lex.en_last(b) >= 0.3;
            if (last_first || first_last) && !(lex.us_city(a) && lex.us_city(b)) {
                for &(s, e) in pair {
                    push(out, base + s, base + e, 0.6);
                }
            }
        }
    }
}

/// A cell `scan_row_names` reads as a name: one capitalised word, as it is.
fn name_cell(w: &str) -> Option<&str> {
    let ok = w.len() >= 2
        && w.starts_with(|c: char| c.is_ascii_uppercase())
        && w[1..].bytes().all(|c| c.is_ascii_lowercase() || c == b'\'');
    ok.then_some(w)
}

/// Whether what follows the last space of `t` (all of it when it has none), that is
/// `t.rsplit(' ')`'s first item, is one of `words`. Only as many bytes back as the
/// longest word are read: the splitter searched the whole text before a name candidate
/// for its last space, about 3 % of the detector's instructions on English chat text,
/// where every candidate asks this of the text before it. Property test
/// `last_word_is_rsplit`.
fn last_word_is(t: &str, words: &[&str]) -> bool {
    let b = t.as_bytes();
    let longest = words.iter().map(|w| w.len()).max().unwrap_or(0);
    // The last word starts after the last space among the final `longest + 1` bytes;
    // without one there, it is longer than every word (or all of a short `t`).
    let tail = &b[b.len().saturating_sub(longest + 1)..];
    let start = match tail.iter().rposition(|&c| c == b' ') {
        Some(i) => b.len() - tail.len() + i + 1,
        None if tail.len() == b.len() => 0,
        None => return false,
    };
    words.iter().any(|w| w.as_bytes() == &b[start..])
}

/// Whether `line` has the two delimiters `d` of a row of three cells and one before a
/// capital, past the spaces and quotes `table::cells` trims: the second cell of a pair
/// of `name_cell`s starts so. Prose (`, and`) fails it before the split into cells: on
/// the chat sample's English texts, 44 % fewer lines are split. Property test
/// `a_row_of_names_passes_the_quick_test`.
fn may_be_a_row_of_names(line: &str, d: u8) -> bool {
    let b = line.as_bytes();
    let (mut delims, mut capital_after) = (0, false);
    for (i, &c) in b.iter().enumerate() {
        if c == d {
            delims += 1;
            let cell = b[i + 1..]
                .iter()
                .find(|&&c| !matches!(c, b' ' | b'"' | b'\''));
            capital_after |= cell.is_some_and(u8::is_ascii_uppercase);
        }
    }
    delims >= 2 && capital_after
}

pub(crate) use super::lexicon::is_han;

// ---------------------------------------------------------------------------------
// Chinese

/// Words right before a name that say a name follows, besides the field labels
/// (`ZH_LABELS`): roles and verbs of address (请转告, 致, 感谢).
const ZH_CUE_ROLES: &[&str] = &[
    "叫做",
    "病患",
    "同事",
    "代表人",
    "医师",
    "教师",
    "主任",
    "领导",
    "专员",
    "客服",
    "工程师",
    "求职者",
    "新人",
    "入职",
    "离职",
    "致",
    "转告",
    "请转告",
    "感谢",
    "谢谢",
    "通知",
    "告诉",
    "联系",
    "找",
    "问",
    "姓",
    "先生",
    "女士",
    "小姐",
    "咨询人",
    "用户名",
    "昵称",
    "记者",
    "通讯员",
    "编辑",
    "作者",
    "主持人",
    "儿子",
    "女儿",
    "朋友",
];
/// Weaker cues: a copula, a preposition or a verb that often takes a person.
const ZH_CUE_WEAK: &[&str] = &[
    "是", "叫", "为", "由", "和", "与", "跟", "同", "给", "让", "请", "向", "对", "把", "被", "等",
    "及", "或", "帮", "替", "见", "陪", "约", "派", "安排", "交给", "转给", "转交", "称", "说",
    "@",
];
/// The verbs among `ZH_CUE_WEAK`: a cue also with an aspect particle after it
/// (交给了王建国, 见过李娜); the others are not verbs (是, 和, 对) or make a word with
/// 了 (为了, 除了).
const ZH_CUE_VERBS: &[&str] = &[
    "叫", "给", "让", "请", "帮", "替", "见", "陪", "约", "派", "安排", "交给", "转给", "转交",
];
/// Words right after a name: titles, roles and address forms.
const ZH_AFTER_STRONG: &[&str] = &[
    "先生",
    "女士",
    "小姐",
    "老师",
    "经理",
    "医生",
    "大夫",
    "同学",
    "主任",
    "教授",
    "律师",
    "师傅",
    "阿姨",
    "叔叔",
    "同志",
    "护士",
    "总监",
    "总经理",
    "工程师",
    "部长",
    "院长",
    "校长",
    "局长",
    "处长",
    "科长",
    "老板",
    "董事长",
    "收",
    "本人",
    "签",
    // Relatives named after the person (李建国家属请到护士站).
    "家属",
];
/// Words that often follow a name as subject.
const ZH_AFTER_WEAK: &[&str] = &[
    "说", "的", "在", "是", "已", "于", "今天", "昨天", "明天", "上午", "下午", "将", "也", "都",
    "还", "去", "来", "要", "向", "对", "把", "被", "给", "从", "因", "表示", "称", "提出", "反映",
    "和", "与", "及", "等", "负责", "同意", "确认", "签收", "入职", "离职", "电话", "手机", "联系",
    "住", "家", "身份", "出生", "男", "女", "，", "您好", "你好", "打", "发", "已经", "刚", "曾",
    "目前", "现在", "一直", "希望", "想", "需要", "咨询", "投诉", "办理", "申请", "预约", "就诊",
    "到", "回", "先", "再", "又", "也是", "年", "岁", "道", "笑", "报道", "表示",
];

/// Separators between a field label and its value.
#[inline]
fn is_sep(c: char) -> bool {
    // No Han character is one: the character before a surname mostly is one, and
    // skips the whitespace table.
    !is_han(c) && c.is_whitespace()
        || matches!(
            c,
            ':' | '：'
                | ','
                | '，'
                | '、'
                | '【'
                | '】'
                | '['
                | ']'
                | '('
                | ')'
                | '（'
                | '）'
                | '|'
                | '｜'
                | '='
                | '-'
                | '—'
                | '–'
                | '·'
                | '"'
                | '“'
                | '”'
                | '「'
                | '」'
                | '《'
                | '》'
                | '<'
                | '>'
                | '/'
                | '\u{feff}'
                | '\u{3000}'
        )
}

/// Left context of a name starting at `chars[k]`, as its weight: a strong cue 0.4, a
/// weak cue 0.15, a plain boundary 0.12, None without any of them. Read from the
/// decoded characters: asked at every surname character.
fn zh_left(chars: &[(usize, char)], k: usize) -> Option<f32> {
    let mut t = k;
    while t > 0 && is_sep(chars[t - 1].1) {
        t -= 1;
    }
    let had_sep = t < k;
    let trimmed = &chars[..t];
    if cues().strong.ends(trimmed) {
        return Some(0.4);
    }
    if !had_sep && cues().weak.ends(trimmed) {
        return Some(0.15);
    }
    if !had_sep {
        if let Some(w) = cue_before_particle(trimmed) {
            return Some(w);
        }
    }
    let boundary = trimmed.is_empty()
        || had_sep
        || trimmed
            .last()
            .is_some_and(|&(_, c)| !is_han(c) || matches!(c, '。' | '！' | '？' | '；'));
    boundary.then_some(0.12)
}

/// The weight of a cue before an aspect particle ending `before` (告诉了, 交给了, 见过):
/// a strong cue's, or a weak cue's when the cue is a verb (`ZH_CUE_VERBS`).
fn cue_before_particle(before: &[(usize, char)]) -> Option<f32> {
    let (&(_, last), rest) = before.split_last()?;
    if last != '了' && last != '过' {
        return None;
    }
    if cues().strong.ends(rest) {
        Some(0.4)
    } else if cues().verbs.ends(rest) {
        Some(0.15)
    } else {
        None
    }
}

/// Right context of a name followed by the characters `after` (decoded, to the end of
/// the text): a title, a plain boundary, a weak follower, each looked at only when the
/// ones before it are not there and it can still lift the reading to the floor
/// (`weight`): on the chat sample's Chinese texts the weak followers are looked up
/// for 120 K of the 350 K readings (all of them before).
struct Right<'a> {
    after: &'a [(usize, char)],
    strong: Option<bool>,
    boundary: Option<bool>,
    weak: Option<bool>,
}

impl<'a> Right<'a> {
    fn new(after: &'a [(usize, char)]) -> Right<'a> {
        Right {
            after,
            strong: None,
            boundary: None,
            weak: None,
        }
    }

    /// A title or a sex after the name.
    fn strong(&mut self) -> bool {
        let after = self.after;
        *self.strong.get_or_insert_with(|| {
            // A Han character other than a sex first: neither a gap nor a sex.
            if after
                .first()
                .is_some_and(|&(_, c)| is_han(c) && !matches!(c, '男' | '女'))
            {
                return cues().after_strong.starts(after);
            }
            // A sex right after the name, as records write it (黄龙，男，1990年生).
            let gap = after
                .iter()
                .take_while(|&&(_, c)| matches!(c, ',' | '，' | '(' | '（' | ' ' | '、'))
                .count();
            let sex = matches!(after.get(gap), Some((_, '男' | '女')))
                && after
                    .get(gap + 1)
                    .is_none_or(|&(_, c)| !is_han(c) || c == '性');
            sex || cues().after_strong.starts(after)
        })
    }

    /// The weight of the right context of a reading whose evidence before it is `base`
    /// (`common_after`: whether a common word follows), or None when the evidence
    /// with it is under `floor`. The weights fall in the order they are looked at
    /// (0.35, 0.12, 0.1, 0.05, 0), so once `base` plus the next one is under the
    /// floor, the evidence is whatever the rest say (float addition is monotonic).
    fn weight(
        &mut self,
        base: f32,
        floor: f32,
        common_after: impl FnOnce() -> bool,
    ) -> Option<f32> {
        if base + 0.35 < floor {
            return None;
        }
        let right = if self.strong() {
            0.35
        } else if base + 0.12 < floor {
            return None;
        } else if *self
            .boundary
            .get_or_insert_with(|| self.after.first().is_none_or(|&(_, c)| !is_han(c)))
        {
            0.12
        } else if base + 0.1 < floor {
            return None;
        } else if *self
            .weak
            .get_or_insert_with(|| cues().after_weak.starts(self.after))
        {
            0.1
        } else if base + 0.05 >= floor && common_after() {
            0.05
        } else {
            0.0
        };
        (base + right >= floor).then_some(right)
    }
}

/// A set of cue words, looked up by the text's last (or first) one to five characters:
/// a handful of hash lookups instead of a comparison per word.
pub(crate) struct WordSet {
    words: std::collections::HashSet<u128, rustc_hash::FxBuildHasher>,
    /// Per word length in characters (1–4): whether any word has it.
    lens: [bool; 5],
    /// The words' first and last characters: most positions fail this one bit test
    /// and skip the hash lookups.
    first: CharBits,
    last: CharBits,
}

impl WordSet {
    pub(crate) fn new(words: &[&'static str]) -> WordSet {
        let mut lens = [false; 5];
        for w in words {
            lens[w.chars().count().min(4)] = true;
        }
        WordSet {
            words: words
                .iter()
                .filter_map(|w| super::lexicon::pack(w))
                .collect(),
            lens,
            first: CharBits::new(words.iter().filter_map(|w| w.chars().next())),
            last: CharBits::new(words.iter().filter_map(|w| w.chars().next_back())),
        }
    }

    /// Whether the text decoded as `chars` ends with one of the words.
    pub(crate) fn ends(&self, chars: &[(usize, char)]) -> bool {
        if !chars.last().is_some_and(|&(_, c)| self.last.has(c)) {
            return false;
        }
        let mut key = Packer::default();
        chars.iter().rev().take(4).enumerate().any(|(k, &(_, c))| {
            key.push_front(c);
            self.lens[k + 1] && key.key().is_some_and(|p| self.words.contains(&p))
        })
    }

    /// Whether the text decoded as `chars` starts with one of the words.
    pub(crate) fn starts(&self, chars: &[(usize, char)]) -> bool {
        if !chars.first().is_some_and(|&(_, c)| self.first.has(c)) {
            return false;
        }
        let mut key = Packer::default();
        chars.iter().take(4).enumerate().any(|(k, &(_, c))| {
            key.push(c);
            self.lens[k + 1] && key.key().is_some_and(|p| self.words.contains(&p))
        })
    }
}

struct Cues {
    strong: WordSet,
    weak: WordSet,
    verbs: WordSet,
    after_strong: WordSet,
    after_weak: WordSet,
    org_suffix: WordSet,
}

fn cues() -> &'static Cues {
    static CUES: std::sync::LazyLock<Cues> = std::sync::LazyLock::new(|| Cues {
        // Signing verbs are labels only before a separator (签名：张伟), never cues
        // (签字后寄回).
        strong: WordSet::new(
            &[ZH_LABELS, ZH_CUE_ROLES]
                .concat()
                .into_iter()
                .filter(|w| !ZH_SIGNING.contains(w))
                .collect::<Vec<_>>(),
        ),
        weak: WordSet::new(ZH_CUE_WEAK),
        verbs: WordSet::new(ZH_CUE_VERBS),
        after_strong: WordSet::new(ZH_AFTER_STRONG),
        after_weak: WordSet::new(ZH_AFTER_WEAK),
        org_suffix: WordSet::new(ZH_ORG_SUFFIX),
    });
    &CUES
}

/// The penalty for a name candidate overlapping a listed word of kind `kind` and
/// frequency score `f`. The word list tags many ordinary words and place names as person
/// names (谢谢, 龙虾, 石家庄 are `nr` in it), so a `nr` word costs less than others
/// but is not taken as evidence of a name.
fn word_penalty(kind: WordKind, f: f32) -> f32 {
    match kind {
        WordKind::Person => 0.25 + 0.25 * f,
        WordKind::Place | WordKind::Org => 0.45 + 0.3 * f,
        WordKind::Common => 0.4 + 0.35 * f,
    }
}

/// A word-list entry found at a position: (end, frequency score, kind).
type ZhWordAt = Option<(usize, f32, WordKind)>;

/// `zh_word_at` of up to two positions of one text, each looked up once (a candidate's
/// two lengths of given name ask for the same positions).
#[derive(Default)]
struct WordsAt([Option<(usize, ZhWordAt)>; 2]);

impl WordsAt {
    fn get(&mut self, lex: &Lexicon, text: &str, chars: &[(usize, char)], k: usize) -> ZhWordAt {
        for slot in self.0.iter_mut() {
            match slot {
                Some((p, w)) if *p == k => return *w,
                None => {
                    let w = zh_word_at(lex, text, chars, k);
                    *slot = Some((k, w));
                    return w;
                }
                Some(_) => {}
            }
        }
        zh_word_at(lex, text, chars, k)
    }
}

/// The word-list entry of the word of 2–4 characters starting at `chars[k]` (the
/// character at byte `s` of `text` when `text` is decoded as `chars`) that is longest,
/// with its end.
fn zh_word_at(lex: &Lexicon, text: &str, chars: &[(usize, char)], k: usize) -> ZhWordAt {
    zh_spans_from(text, chars, k)
        .filter_map(|(_, e, key)| lex.zh_word_key(key).map(|(f, kind)| (e, f, kind)))
        .last()
}

/// The spans of 2–4 characters starting at `chars[k]` (the second to fourth Han), each
/// as (its last character's index from `k`, end byte, `pack`ed key), one key grown per
/// span (`Packer`). From the decoded characters, not the text: decoding the text again
/// at each candidate was about a third of these lookups' cost.
fn zh_spans_from<'a>(
    text: &str,
    chars: &'a [(usize, char)],
    k: usize,
) -> impl Iterator<Item = (usize, usize, u128)> + 'a {
    let mut key = Packer::default();
    let run = chars.get(k..).unwrap_or(&[]);
    let text_len = text.len();
    run.iter()
        .enumerate()
        .take_while(|&(i, &(_, c))| i == 0 || (is_han(c) && i <= 3))
        .filter_map(move |(i, &(_, c))| {
            key.push(c);
            // At most four characters: the key is always there.
            let end = run.get(i + 1).map_or(text_len, |x| x.0);
            (i > 0)
                .then_some(())
                .and(key.key())
                .map(|key| (i, end, key))
        })
}

/// The largest penalty from a common word (not a person's name) that starts at
/// `chars[k]` (byte `s`) and covers at least up to `min_end`.
fn zh_word_penalty(
    lex: &Lexicon,
    text: &str,
    chars: &[(usize, char)],
    k: usize,
    min_end: usize,
) -> f32 {
    let s = chars.get(k).map_or(text.len(), |x| x.0);
    let mut pen: f32 = 0.0;
    for (i, e, key) in zh_spans_from(text, chars, k) {
        if e < min_end {
            continue;
        }
        if let Some((f, kind)) = lex.zh_word_key(key) {
            // A listed person's name of three characters (王婷婷, 吴建民) is a name
            // like this one, not another word; a division's name is not (石家庄 is
            // tagged as a person in the list).
            let full_name =
                kind == WordKind::Person && i == 2 && lex.zh_division(&text[s..e]).is_none();
            if !full_name {
                pen = pen.max(word_penalty(kind, f));
            }
        }
    }
    pen
}

/// Whether `span`, or a word of two or three characters it starts with, is a listed
/// common word (住址变更, 代发). Place and person tags are left out: the word list
/// tags many surname + given-name pairs as places (罗海 is `ns` in it).
fn zh_listed_word(lex: &Lexicon, span: &str) -> bool {
    let ends: Vec<usize> = span
        .char_indices()
        .map(|(i, _)| i)
        .skip(2)
        .take(2)
        .collect();
    ends.into_iter()
        .chain(std::iter::once(span.len()))
        .any(|e| matches!(lex.zh_word(&span[..e]), Some((_, WordKind::Common))))
}

/// Last characters of role words (快递员, 客服, 店长), which a name does not end with.
const ZH_ROLE_END: &str = "员服长工商方者们家";

/// The formulae that open and close a letter (此致 / 敬礼, 顺颂 / 商祺, 祝好): alone on
/// a line where a signature stands, and starting with a surname (敬, 商, 时, 祝), but
/// never a name. The word list tags some of them as person names (敬礼 is `nr` in it).
const ZH_LETTER_FORMULAE: &[&str] = &[
    "敬礼", "敬上", "敬启", "祝好", "商祺", "时祺", "安好", "万安", "台安", "钧安",
];

/// Whether `span` is one of `ZH_LETTER_FORMULAE`.
fn letter_formula(span: &str) -> bool {
    ZH_LETTER_FORMULAE.contains(&span)
}

/// Whether `chars[k]` is 和 before a nickname (我和小李, 老张和老王): the conjunction,
/// not the surname 和 with the given name 小李.
fn conjunction_before_nickname(chars: &[(usize, char)], k: usize) -> bool {
    chars[k].1 == '和'
        && chars
            .get(k + 1)
            .is_some_and(|&(_, c)| c == '小' || c == '老')
}

/// Whether `chars[k]` is a unit after a number (`1985年生`, `3时许`): 年 and 时 are
/// surnames, but not right after a digit or a numeral.
fn unit_after_number(chars: &[(usize, char)], k: usize) -> bool {
    matches!(chars[k].1, '年' | '时')
        && k > 0
        && (chars[k - 1].1.is_ascii_digit()
            || ('０'..='９').contains(&chars[k - 1].1)
            || "一二三四五六七八九十百千零〇两".contains(chars[k - 1].1))
}

/// Characters that never occur in a given name but often follow a surname in words.
const ZH_NOT_GIVEN: &str =
    "的了是在和与及或但就都也还又再很把被给从到对向说们个这那哪么吗呢吧啊呀年月日号元你您我他她它转";

/// `ZH_NOT_GIVEN` as a bitmap: tested at every character after a surname.
fn not_given(c: char) -> bool {
    static SET: std::sync::LazyLock<CharBits> =
        std::sync::LazyLock::new(|| CharBits::new(ZH_NOT_GIVEN.chars()));
    (c as u32) < 0x10000 && SET.has(c)
}

/// Words that end an organisation's name: a name right before them is a company's
/// (凌云科技有限公司).
const ZH_ORG_SUFFIX: &[&str] = &[
    "公司",
    "集团",
    "有限",
    "科技",
    "网络",
    "信息",
    "电脑",
    "传媒",
    "股份",
    "银行",
    "医院",
    "大学",
    "学院",
    "学校",
    "商店",
    "超市",
    "餐厅",
    "酒店",
    "饭店",
    "工作室",
    "事务所",
    "研究所",
    "实业",
    "贸易",
    "物流",
    "电子",
    "控股",
    "国际",
    "中心",
    "品牌",
    "牌",
    "店",
];

/// Penalty from a common word covering the surname and starting before it (王者荣耀,
/// 谢谢, 乌鲁木齐): the characters belong to that word, not to a name.
fn zh_covering_penalty(lex: &Lexicon, chars: &[(usize, char)], k: usize) -> f32 {
    // A covering word that starts inside a common word ending right before the name
    // and is no more frequent than it is the worse segmentation (今天|王霞, not
    // 今|天王|霞).
    let ending = common_words_ending_at(lex, chars, k, false);
    let mut pen: f32 = 0.0;
    for back in 1..=3 {
        let Some(j) = k.checked_sub(back) else { break };
        if !is_han(chars[j].1) {
            break;
        }
        // The most frequent word ending at `k` that holds `chars[j]`.
        let outweighs = ending
            .iter()
            .filter(|&&(ws, _)| ws <= j)
            .map(|&(_, f)| f)
            .fold(-1.0f32, f32::max);
        // The key of chars[j..j + back], grown by one character per length below.
        let mut key = Packer::default();
        for &(_, c) in &chars[j..j + back] {
            key.push(c);
        }
        for len in back + 1..=4 {
            let Some(&(_, last)) = chars.get(j + len - 1) else {
                break;
            };
            if !is_han(last) {
                break;
            }
            key.push(last);
            if let Some((f, kind)) = key.key().and_then(|key| lex.zh_word_key(key)) {
                // A place's or an organisation's name is kept whatever the word
                // before it (每天|都会: 天都 is a place in the list, and 都会 no name).
                if f > outweighs || matches!(kind, WordKind::Place | WordKind::Org) {
                    pen = pen.max(word_penalty(kind, f) + 0.05);
                }
            }
        }
    }
    pen
}

/// Whether a common word of two or three characters ends right at `chars[k]`'s start
/// (segmentation evidence that a name may begin there: 上周|陈帅).
fn zh_word_ends_at(lex: &Lexicon, chars: &[(usize, char)], k: usize) -> bool {
    common_words_ending_at(lex, chars, k, true)
        .iter()
        .any(|w| w.0 != usize::MAX)
}

/// The listed common words of two and three characters ending right at `chars[k]`'s
/// start, as (index of their first character, frequency score), `usize::MAX` where
/// there is none; with `first_only`, the lookups stop at the first one found.
fn common_words_ending_at(
    lex: &Lexicon,
    chars: &[(usize, char)],
    k: usize,
    first_only: bool,
) -> [(usize, f32); 2] {
    let mut ending = [(usize::MAX, 0.0); 2];
    let mut key = Packer::default();
    for len in 1..=3.min(k) {
        let c = chars[k - len].1;
        if !is_han(c) {
            break;
        }
        key.push_front(c);
        if len >= 2 {
            if let Some((f, WordKind::Common)) = key.key().and_then(|key| lex.zh_word_key(key)) {
                ending[len - 2] = (k - len, f);
                if first_only {
                    break;
                }
            }
        }
    }
    ending
}

/// Name candidates scoring under this are not reported at all (a `min_score` below it
/// finds no more names); the Chinese scan skips their word-list lookups.
pub(crate) const NAME_FLOOR: f32 = 0.3;

/// The characters that list things: in a text holding one, a weaker Chinese candidate
/// may join a stronger one (`coordinated_names`), so the scan keeps it (the detector
/// notes them while marking the word starts, `FirstChars::mark`).
pub(crate) const LISTING: [char; 4] = ['、', '和', '与', '及'];

/// Chinese names in `text` (decoded into `chars`) whose evidence is at or above `floor`;
/// candidates whose score after penalties falls under `matters` may be left out.
/// `may_start`: the indices into `chars`, in order, of every character that may start
/// a surname (`may_start_surname`; others among them are passed over).
fn scan_zh_chars(
    lex: &Lexicon,
    text: &str,
    chars: &[(usize, char)],
    may_start: &[usize],
    floor: f32,
    matters: f32,
    out: &mut Vec<Detection>,
) {
    // A reading of a candidate is dropped once its evidence less the penalties known so
    // far (they only add up) is under this: its score is then under `matters` by more
    // than the 0.02 by which a later reading must beat an earlier one, so leaving it out
    // changes neither which reading is best nor any score that is kept or raised. A
    // surname character that starts or ends a common word (高兴, 方便, 同时) mostly stops
    // here, before the lookups of the words around it: on the chat corpus 136 K of the
    // 229 K readings that reach the penalties.
    let prune = matters - 0.02 - 1e-4;
    let mut last_end = 0;
    let n = chars.len();
    let byte_at = |k: usize| chars.get(k).map_or(text.len(), |c| c.0);
    let mut k = 0;
    // Straight to the next character that may start a surname: `may_start` lists them
    // (and maybe others, which `zh_surname_at` turns down), in order.
    let mut next = may_start.iter();
    while k < n {
        match next.find(|&&m| m >= k) {
            Some(&m) => k = m,
            None => break,
        }
        let s = chars[k].0;
        let (sl_chars, sur) = match lex.zh_surname_at(chars, k) {
            Some(SurnameStart::Compound(score)) => (2, 0.6 + 0.4 * score),
            Some(SurnameStart::Single(score)) => (1, score),
            None => {
                k += 1;
                continue;
            }
        };
        if s < last_end || conjunction_before_nickname(chars, k) || unit_after_number(chars, k) {
            k += 1;
            continue;
        }
        // Given-name characters: up to two Han characters after the surname.
        let mut g = [('\0', 0.0f32); 2];
        let mut gn = 0;
        for &(_, c) in &chars[(k + sl_chars).min(n)..(k + sl_chars + 2).min(n)] {
            if !is_han(c) || not_given(c) {
                break;
            }
            g[gn] = (c, lex.zh_given(c));
            gn += 1;
        }
        let g = &g[..gn];
        if g.is_empty() {
            k += 1;
            continue;
        }
        // The best the candidate can score: its surname, its best given character and
        // the strongest cues on both sides. Most surname characters in running text
        // are not names and stop here, before any context or word-list lookup.
        let best_given = g.iter().map(|x| x.1).fold(0.0, f32::max);
        if 0.05 + 0.2 * sur + 0.3 * best_given + 0.03 + 0.4 + 0.35 < floor {
            k += 1;
            continue;
        }
        // Each reading (one or two given characters): its evidence before the left
        // context (added last, as the score always summed it) and its right context.
        let mut pre = [0.0f32; 2];
        let mut rights = [Right::new(&[]), Right::new(&[])];
        for glen in 1..=g.len() {
            let given: f32 = g[..glen].iter().map(|x| x.1).sum::<f32>() / glen as f32;
            pre[glen - 1] = 0.05
                + 0.2 * sur
                + 0.3 * given
                + if glen == 2 { 0.03 } else { 0.0 }
                + if given == 0.0 { -0.15 } else { 0.0 };
            rights[glen - 1] = Right::new(&chars[k + sl_chars + glen..]);
        }
        let cue = zh_left(chars, k);
        let left = match cue {
            Some(w) => w,
            None if 0.05 + 0.2 * sur + 0.3 * best_given + 0.03 + 0.08 + 0.35 < floor => {
                // Even a word ending before it and a title after could not lift it.
                k += 1;
                continue;
            }
            None => {
                // Whether a word ends before it (0.08 more) matters only when some
                // reading reaches the floor with it and the right context it has (a
                // common word after it taken as there): most candidates in running
                // text reach it with neither, and skip the word lookups (monotonic as
                // in `Right::weight`: a smaller left weight never raises a reading).
                // On the chat sample's Chinese texts, 75 K lookups instead of 183 K.
                let reaches =
                    (0..g.len()).any(|r| rights[r].weight(pre[r] + 0.08, floor, || true).is_some());
                if !reaches {
                    k += 1;
                    continue;
                }
                if zh_word_ends_at(lex, chars, k) {
                    0.08
                } else {
                    0.0
                }
            }
        };
        // Lookups that both lengths of given name ask, made once: the penalty of a
        // word from the surname over the first given character, the covering word,
        // and the word-list entries starting at a given character.
        let mut covering: Option<f32> = None;
        let mut start_pen: Option<f32> = None;
        let mut words_at = WordsAt::default();
        let mut word_at = |at: usize| words_at.get(lex, text, chars, at);
        let mut best: Option<(usize, f32)> = None;
        for glen in 1..=g.len() {
            let e = byte_at(k + sl_chars + glen);
            let base = pre[glen - 1] + left;
            let right = &mut rights[glen - 1];
            // Penalties only lower a score: a candidate already under the floor is not
            // reported, so its word lookups are skipped.
            let Some(right_w) = right.weight(base, floor, || {
                word_at(k + sl_chars + glen).is_some_and(|w| w.2 == WordKind::Common)
            }) else {
                continue;
            };
            let t_strong = right.strong();
            let evidence = base + right_w;
            // A common word starting at the surname and covering the given name.
            let mut pen = *start_pen.get_or_insert_with(|| {
                zh_word_penalty(lex, text, chars, k, byte_at(k + sl_chars + 1))
            });
            if evidence - pen < prune {
                continue;
            }
            let covering = *covering.get_or_insert_with(|| zh_covering_penalty(lex, chars, k));
            if evidence - covering < prune {
                continue;
            }
            // A word running on past the end of the name (张开会 → 开会).
            if !t_strong {
                if let Some((we, f, kind)) = word_at(k + sl_chars + glen - 1) {
                    if we > e {
                        let full = matches!(kind, WordKind::Place | WordKind::Org);
                        pen = pen.max(word_penalty(kind, f) - if full { 0.0 } else { 0.25 });
                    }
                }
            }
            // A company's name (凌云科技有限公司).
            if cues().org_suffix.starts(&chars[k + sl_chars + glen..]) {
                pen = pen.max(0.5);
            }
            // Given characters that are a place or another word (于|辽阳, 白|名单).
            let given_span = &text[byte_at(k + sl_chars)..e];
            // Only without a cue or a boundary before: 建华 is also a district, and
            // 刘建华： is a name.
            if glen == 2 && cue.is_none() {
                if let Some((_, WordKind::Place | WordKind::Org)) = lex.zh_word(given_span) {
                    pen = pen.max(0.5);
                }
            }
            let score = evidence - pen.max(covering);
            if best.is_none_or(|(_, b)| score > b + 0.02) {
                best = Some((e, score));
            }
        }
        if let Some((e, score)) = best.filter(|&(e, _)| !letter_formula(&text[s..e])) {
            push(out, s, e, score);
            if score >= 0.5 {
                last_end = e;
            }
        }
        k += 1;
    }
}

/// The name a slot's value at `s` can be: two to four Han characters standing alone,
/// none of them one a given name never has, and no common word; as (end, surname
/// score, characters).
fn slot_value(lex: &Lexicon, text: &str, s: usize) -> Option<(usize, f32, usize)> {
    let mut len = 0;
    let mut e = s;
    for c in text[s..].chars().take_while(|c| is_han(*c)).take(5) {
        len += 1;
        e += c.len_utf8();
    }
    if !(2..=4).contains(&len) {
        return None;
    }
    let span = &text[s..e];
    if span.chars().any(not_given) || zh_listed_word(lex, span) {
        return None;
    }
    let sur = lex.zh_compound_at(span).map_or_else(
        || lex.zh_surname(span.chars().next().unwrap_or(' ')),
        |c| c.1.max(0.3),
    );
    Some((e, sur, len))
}

/// Names in label–value layouts and before titles, whatever their surname: the value
/// after a field label (`患者：殳君昊。`, `【收件人】巴忝屿`) and the two or three
/// characters before a title (`尊敬的广昕姗客户`), when they stand alone (two to four
/// Han characters, bounded by punctuation, a space or a title) and are not a common
/// word.
fn scan_zh_slots(
    lex: &Lexicon,
    labels: impl Iterator<Item = Found>,
    titles: impl Iterator<Item = Found>,
    text: &str,
    out: &mut Vec<Detection>,
) {
    for m in labels {
        let rest = &text[m.end..];
        let rest = rest.trim_start_matches(is_sep);
        // A copula between the label and the name (主治医生是罗海燕).
        let rest = ["是", "为", "叫"]
            .iter()
            .find_map(|c| rest.strip_prefix(c))
            .unwrap_or(rest)
            .trim_start_matches(is_sep);
        let s = text.len() - rest.len();
        // Without a separator (收件人李娜) the value must start with a common surname:
        // 签字后寄回 and 户名同上 are a verb and a phrase, not a name.
        let separated = s > m.end;
        let Some((e, sur, len)) = slot_value(lex, text, s) else {
            continue;
        };
        let verb = ZH_SIGNING.contains(&&text[m.start..m.end]);
        if !separated && (verb || sur < 0.15 || len > 3) {
            continue;
        }
        push(out, s, e, if sur > 0.0 { 0.75 } else { 0.6 });
    }
    // The value of a data key that names a person, in JSON, YAML or a log line
    // (`"name": "茅镶藐"`, `name=茅镶藐`, the pinyin `xm=`), unless it is a division's name
    // (`"name": "北京"`).
    for i in memchr::memchr2_iter(b'=', b':', text.as_bytes()) {
        let after = &text[i + 1..];
        let s = text.len() - after.trim_start_matches([' ', '"', '\'']).len();
        if !text[s..].starts_with(is_han) || !data_key_names(text, s) {
            continue;
        }
        if let Some((e, sur, _)) = slot_value(lex, text, s) {
            if lex.zh_division(&text[s..e]).is_none() {
                push(out, s, e, if sur > 0.0 { 0.75 } else { 0.6 });
            }
        }
    }
    for m in titles {
        let before: Vec<(usize, char)> = text[..m.start]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_han(*c) && !not_given(*c))
            .take(4)
            .collect();
        if !(2..=3).contains(&before.len()) {
            continue;
        }
        let s = before.last().map_or(m.start, |x| x.0);
        let span = &text[s..m.start];
        if zh_listed_word(lex, span)
            || span
                .chars()
                .next_back()
                .is_some_and(|c| ZH_ROLE_END.contains(c))
            || ZH_LABELS.contains(&span)
        {
            continue;
        }
        let known = lex.zh_surname(span.chars().next().unwrap_or(' ')) > 0.0
            || lex.zh_compound_at(span).is_some();
        // A greeting (您好) follows roles as often as names: only after a surname.
        let greeting = matches!(&text[m.start..m.end], "您好" | "你好");
        if greeting && !known {
            continue;
        }
        push(out, s, m.start, if known { 0.7 } else { 0.55 });
    }
}

// ---------------------------------------------------------------------------------
// English

/// Cue words before a name (lower-case), and how strong they are.
const EN_HONORIFIC: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "professor",
    "sir",
    "madam",
    "mister",
    "rev",
    "fr",
    "sr",
    "jr",
    "capt",
    "sgt",
    "officer",
    "nurse",
    "doctor",
    "judge",
    // A clinical note's patient (`Pt Calhoun c/o headache`).
    "pt",
    // Kinship titles (`Grandma Mellie`, `Uncle Bob`).
    "grandma",
    "grandpa",
    "granny",
    "grandad",
    "nana",
    "auntie",
    "aunt",
    "uncle",
];
/// Greetings and closings that are part of a run ("Dear Olivia", "Thanks Sam").
const EN_GREETING_WORDS: &[&str] = &[
    "good",
    "morning",
    "afternoon",
    "evening",
    "welcome",
    "congratulations",
    "congrats",
    "sorry",
    "ok",
    "okay",
    "yes",
    "no",
    "please",
];
/// Mid-strength cues: a copula or a verb of naming.
const EN_CUE_MID: &[&str] = &[
    "named", "called", "i'm", "im", "am", "is", "was", "by", "from", "with",
];
const EN_CUE_WORDS: &[&str] = &[
    "dear",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "regards",
    "best",
    "cheers",
    "sincerely",
    "yours",
    "cordially",
    "respectfully",
    "warmly",
    "love",
    "name",
    "patient",
    "contact",
    "customer",
    "client",
    "employee",
    "applicant",
    "candidate",
    "recipient",
    "sender",
    "attn",
    "attention",
    "signed",
    "cc",
    "manager",
    "supervisor",
    "admin",
    "administrator",
    "policyholder",
    "insured",
    "claimant",
    "borrower",
    "lender",
    "guarantor",
    "debtor",
    "creditor",
    "payee",
    "payer",
    "traveler",
    "traveller",
    "tenant",
    "lessee",
    "lessor",
    "agent",
    "rep",
    "representative",
    "owner",
    "holder",
    "tenant",
    "landlord",
    "driver",
    "member",
    "user",
    "guest",
    "passenger",
    "resident",
    "insured",
    "beneficiary",
    "physician",
    "clinician",
    "provider",
    "referrer",
    "student",
    "teacher",
    "parent",
    "guardian",
    "spouse",
    "emergency",
    "technician",
    "engineer",
    "reviewer",
    "approver",
    "author",
    "assignee",
    "reporter",
    "requester",
    "caller",
    "visitor",
    "buyer",
    "seller",
    "consignee",
    "shipper",
    "addressee",
    "witness",
    "signature",
    "interviewer",
    "husband",
    "wife",
    "son",
    "daughter",
    "mother",
    "father",
    "mom",
    "dad",
    "brother",
    "sister",
    "kin",
    "partner",
    "fiance",
    "fiancee",
    "girlfriend",
    "boyfriend",
    "grandson",
    "granddaughter",
    "grandmother",
    "grandfather",
    "nephew",
    "niece",
    "cousin",
    "uncle",
    "aunt",
    "colleague",
    "coworker",
    "friend",
    "neighbor",
    "neighbour",
    "boss",
    "tutor",
    "instructor",
    "coach",
    "nurse",
    "attendee",
    "organizer",
    "organiser",
    "presenter",
    "speaker",
    "trainee",
    "intern",
    "pupil",
    "quoting",
    // Parties in court filings and police reports.
    "plaintiff",
    "defendant",
    "complainant",
    "respondent",
    "petitioner",
    "appellant",
    "appellee",
    "victim",
    "suspect",
    "accused",
    "offender",
    "detainee",
    "inmate",
    "birthday",
    "congrats",
    "congratulations",
];
/// The English word lists as hash sets: a candidate checks several lists per word, and
/// a linear scan of the longer ones (130 cue words) showed in profiles.
struct EnSets {
    en_org_after: FxSet,
    en_relations: FxSet,
    /// `en_cue_before`'s lists of the word before a candidate as `prev_list` bits, from
    /// one lookup instead of one per list (chat8: 851.0 M -> 849.4 M instructions).
    /// The lists are lower-case and the word is looked up lower-cased, so
    /// `WordMap`'s case folding finds exactly what `contains` of each list finds
    /// (`prev_lists_agree_with_the_lists`).
    prev_lists: WordMap<u8>,
}

/// `EnSets::prev_lists` bits.
mod prev_list {
    pub(super) const HONORIFIC: u8 = 1;
    pub(super) const CUE: u8 = 2;
    pub(super) const MID: u8 = 4;
    pub(super) const WEAK: u8 = 8;
}

type FxSet = std::collections::HashSet<&'static str, rustc_hash::FxBuildHasher>;

fn en_sets() -> &'static EnSets {
    static SETS: std::sync::LazyLock<EnSets> = std::sync::LazyLock::new(|| {
        let set = |w: &[&'static str]| w.iter().copied().collect::<FxSet>();
        EnSets {
            en_org_after: set(EN_ORG_AFTER),
            en_relations: set(EN_RELATIONS),
            prev_lists: {
                let mut m = WordMap::default();
                for (list, bit) in [
                    (EN_HONORIFIC, prev_list::HONORIFIC),
                    (EN_CUE_WORDS, prev_list::CUE),
                    (EN_CUE_MID, prev_list::MID),
                    (EN_CUE_WEAK, prev_list::WEAK),
                ] {
                    for w in list {
                        *m.entry(w) |= bit;
                    }
                }
                m
            },
        }
    });
    &SETS
}

/// `EnWord::flags` bits: the cue lists a run's words are tested against.
mod cue {
    pub(super) const HONORIFIC: u8 = 1;
    pub(super) const CUE: u8 = 2;
    pub(super) const GREETING: u8 = 4;
    pub(super) const ORG_AFTER: u8 = 8;
    pub(super) const MONTH: u8 = 16;
    pub(super) const DAY: u8 = 32;
    /// Set by `run_words`, not a list: a title-case word of four letters or more
    /// (`stranger_shape`) that no list knows (no first name, surname, common word,
    /// street suffix, state or cue).
    pub(super) const STRANGER: u8 = 64;
}

/// The lexicon's merged English table with the cue lists as `EnWord::flags`: what a
/// capitalised run's scoring asks of each word, read once per word (`run_words`).
fn en_words() -> &'static WordMap<EnWord> {
    static TABLE: std::sync::LazyLock<WordMap<EnWord>> = std::sync::LazyLock::new(|| {
        let mut t = lexicon().en_word_table();
        for (list, bit) in [
            (EN_HONORIFIC, cue::HONORIFIC),
            (EN_CUE_WORDS, cue::CUE),
            (EN_GREETING_WORDS, cue::GREETING),
            (EN_ORG_AFTER, cue::ORG_AFTER),
            (EN_MONTHS, cue::MONTH),
            (EN_DAYS, cue::DAY),
        ] {
            for w in list {
                t.entry(w).flags |= bit;
            }
        }
        t
    });
    &TABLE
}

/// Relations whose "of" introduces a name ("husband of Kimberly").
const EN_RELATIONS: &[&str] = &[
    "parent",
    "child",
    "guardian",
    "mom",
    "dad",
    "aunt",
    "uncle",
    "cousin",
    "nephew",
    "niece",
    "grandson",
    "granddaughter",
    "husband",
    "wife",
    "son",
    "daughter",
    "mother",
    "father",
    "brother",
    "sister",
    "partner",
    "friend",
    "widow",
    "widower",
    "grandmother",
    "grandfather",
    "parent",
    "parents",
    "child",
];
/// Words before a name that are weaker evidence (a verb or preposition).
const EN_CUE_WEAK: &[&str] = &[
    "and",
    "for",
    "asked",
    "told",
    "met",
    "ask",
    "tell",
    "call",
    "email",
    "ping",
    "cc'd",
    "via",
    "per",
    "meet",
    "see",
    "thank",
    "follow",
    "yesterday",
    "today",
    "tomorrow",
];
/// Words after a name that are not part of it and make it an organisation or a place.
const EN_ORG_AFTER: &[&str] = &[
    "sons",
    "brothers",
    "bros",
    "inc",
    "llc",
    "ltd",
    "plc",
    "corp",
    "corporation",
    "co",
    "company",
    "group",
    "holdings",
    "capital",
    "ventures",
    "brands",
    "partners",
    "associates",
    "university",
    "college",
    "school",
    "hospital",
    "clinic",
    "bank",
    "foundation",
    "institute",
    "center",
    "centre",
    "labs",
    "systems",
    "solutions",
    "technologies",
    "services",
    "international",
    "intl",
    "initl",
    "industries",
    "enterprises",
    "county",
    "city",
    "state",
    "river",
    "lake",
    "mountain",
    "valley",
    "airport",
    "station",
    "hotel",
    "mall",
    "store",
    "shop",
    "team",
    "department",
    "office",
    "building",
    "tower",
    "beach",
    "springs",
    "heights",
    "falls",
    "island",
    "islands",
    "bay",
    "harbour",
    "midlands",
];
/// Month names and abbreviations; with `EN_DAYS`, the calendar words a name is not.
const EN_MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];
const EN_DAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A capitalised name word at byte `i`: `Olivia`, `O'Brien`, `McDonald`, `Smith-Jones`,
/// `DeAndre`; returns its end.
fn name_word(b: &[u8], i: usize) -> Option<usize> {
    if !b.get(i)?.is_ascii_uppercase() {
        return None;
    }
    let mut j = i + 1;
    // O'Brien, D'Angelo, and as some sources write them, O'brien.
    if b.get(j) == Some(&b'\'')
        && b.get(j + 1).is_some_and(u8::is_ascii_alphabetic)
        && b.get(j + 2).is_some_and(u8::is_ascii_lowercase)
    {
        j += 2;
    }
    let start_lower = j;
    while j < b.len() && (b[j].is_ascii_alphabetic()) {
        j += 1;
    }
    // Hyphenated second part: Smith-Jones.
    if b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(u8::is_ascii_uppercase) {
        let mut k = j + 2;
        while k < b.len() && b[k].is_ascii_lowercase() {
            k += 1;
        }
        if k > j + 2 {
            j = k;
        }
    }
    // At least two letters; a word in capitals (JOHN SMITH on a label) is scored like
    // any other and is only a name when the lexicons know it.
    if j == start_lower && j == i + 1 {
        return None;
    }
    (j - i >= 2).then_some(j)
}

/// A middle initial at `i`: `J.` or `J` followed by a space.
fn initial(b: &[u8], i: usize) -> Option<usize> {
    if !b.get(i)?.is_ascii_uppercase() {
        return None;
    }
    match b.get(i + 1) {
        Some(b'.') if b.get(i + 2) == Some(&b' ') => Some(i + 2),
        Some(b' ') => Some(i + 1),
        _ => None,
    }
}

fn word_before(text: &str, s: usize) -> &str {
    // A label's separator (`Name:`, `Consignee /`, `Agent - `) is not a word.
    let t = text[..s].trim_end_matches([' ', ':', ',', '\t', '-', '—', '(', '[', '/']);
    let t = t.trim_end_matches('.');
    let start = t
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphabetic() || *c == '\''))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &t[start..]
}

/// Whether the value at `s` is that of a data key naming a person: JSON, YAML or
/// `key=value` (`"first_name": "`, `last_name=`, `'customerName': '`).
fn data_key_names(text: &str, s: usize) -> bool {
    let t = text[..s].trim_end_matches([' ', '"', '\'']);
    let Some(t) = t.strip_suffix(':').or_else(|| t.strip_suffix('=')) else {
        return false;
    };
    let t = t.trim_end_matches([' ', '"', '\'']);
    let key_start = t
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = t[key_start..].to_ascii_lowercase();
    (key.contains("name")
        && ![
            "username",
            "filename",
            "hostname",
            "domainname",
            "company_name",
            "companyname",
            "product_name",
            "productname",
            "brand_name",
            "city_name",
            "street_name",
        ]
        .iter()
        .any(|k| key.ends_with(k)))
        || matches!(
            key.as_str(),
            "first"
                | "last"
                | "given"
                | "surname"
                | "family"
                | "patient"
                | "customer"
                | "contact"
                | "recipient"
                | "sender"
                | "author"
                | "assignee"
                | "owner"
                | "user"
                | "xm"
                | "xingming"
                | "reporter"
                | "requester"
                | "approver"
                | "reviewer"
                | "employee"
                | "driver"
                | "tenant"
        )
        // `created_by=`, `approved-by:`, `signedBy`.
        || key.ends_with("_by")
        || key.ends_with("-by")
        || (t.ends_with("By") && key.len() > 4)
}

/// Whether the name at `s..e` stands alone on its line near the end of the text, as a
/// signature does, or right after a closing ("Best,", "Thanks,", "--").
fn signature_position(text: &str, s: usize, e: usize) -> bool {
    // Only a name at the start of a line (after spaces or a dash) can be a signature:
    // decided from the few characters before it.
    let lead = text[..s].trim_end_matches([' ', '\t', '-', '—', '\r']);
    if !lead.is_empty() && !lead.ends_with('\n') && !after_cjk_sentence(lead) {
        // A sign-off at the end of a one-line message, after a spaced dash
        // (`Goodnight everyone - Tobias`).
        let dashed = [" - ", " -- ", " — ", " – "]
            .iter()
            .any(|d| text[..s].ends_with(d));
        let last = text[e..]
            .trim_end_matches(['.', '!', ' ', '\r', '\n'])
            .is_empty();
        return dashed && last;
    }
    let line_start = lead.len();
    let line_end = text[e..].find('\n').map_or(text.len(), |i| e + i);
    let before = text[line_start..s].trim();
    let after = text[e..line_end].trim();
    let alone = (before.is_empty() || before == "-" || before == "--" || before == "—")
        && after.chars().all(|c| {
            matches!(c, ',' | '.' | ' ' | '|' | '-' | '(' | ')') || c.is_ascii_uppercase()
        });
    if !alone {
        return false;
    }
    // A name alone on its line after a dash signs or attributes something (`— Gil`).
    if !before.is_empty() && before.chars().all(|c| matches!(c, '-' | '—' | '–')) {
        return true;
    }
    if line_start == 0 {
        return false;
    }
    // Before the line break or the Chinese sentence end that opens the line.
    let opener = lead.chars().next_back().map_or(1, char::len_utf8);
    let prev = text[..line_start - opener].trim_end();
    let prev_line = prev
        .rsplit('\n')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let closing = prev_line.ends_with(',')
        || prev_line.starts_with("--")
        || [
            "best",
            "thanks",
            "regards",
            "cheers",
            "sincerely",
            "yours",
            "thank you",
        ]
        .iter()
        .any(|w| prev_line.starts_with(w));
    let near_end = text[line_end..].trim().len() < 80;
    closing || near_end
}

fn scan_en(lex: &Lexicon, text: &str, out: &mut Vec<Detection>) {
    let from = out.len();
    scan_en_runs(lex, text, out);
    // A romanised Chinese given name's second syllable after a hyphen (`Lee Ka-shing`,
    // `Tsai Ing-wen`) belongs to the name found before it: `name_word` joins only a
    // capitalised second part (`Smith-Jones`), so the name ended at the hyphen.
    let b = text.as_bytes();
    for d in &mut out[from..] {
        if d.entity == EntityType::Person && b.get(d.end) == Some(&b'-') {
            let tail = b[d.end + 1..]
                .iter()
                .take_while(|c| c.is_ascii_lowercase())
                .count();
            let next = b.get(d.end + 1 + tail);
            let part = &text[d.end + 1..d.end + 1 + tail];
            // Not a common English word (`Smith-led`, `Obama-era`, `Link-local`: Zipf
            // 4.7 and more; romanised syllables such as `wen`, `ming`, `hui` are under 4).
            if (2..=6).contains(&tail)
                && lex.en_zipf(part) < 4.0
                && !next.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
            {
                d.end += 1 + tail;
            }
        }
    }
}

/// The lowest score of a candidate that `coordinated_names` raises.
const COORDINATED_WEAK: f32 = 0.2;

/// The score a weak name candidate takes when it is listed with a name
/// (`Huge thanks to Ann Lee, Bradley and Tom Hicks`, `Join Neville and Sara Cole`).
const S_LISTED_WITH_A_NAME: f32 = 0.55;

/// Raises weak single-word name candidates that stand in a list with a name: separated
/// from one by `, `, ` and `, ` & `, ` or `, `、`, `和`, `与`, `及` only. Names are listed
/// with names (`Ann Lee, Bradley and Tom Hicks`, `请王伟、双卫两位同事`).
fn coordinated_names(text: &str, found: &mut [Detection]) {
    const STRONG: f32 = 0.5;
    const WEAK: f32 = COORDINATED_WEAK;
    let joined = |a: &Detection, b: &Detection| {
        if a.end > b.start {
            return false;
        }
        // A short parenthetical after the first name is part of the list item:
        // `Ann Lee (Mon–Wed), Gregory (Thu–Sun)`.
        let mut gap = &text[a.end..b.start];
        if let Some(rest) = gap.strip_prefix(" (") {
            if let Some(close) = rest
                .find(')')
                .filter(|&c| c <= 24 && !rest[..c].contains('('))
            {
                gap = &rest[close + 1..];
            }
        }
        // A title before the second name: `Venice and Ms. Ann Lee`.
        for title in ["Mr. ", "Mrs. ", "Ms. ", "Dr. ", "Mr ", "Mrs ", "Ms ", "Dr "] {
            if let Some(g) = gap.strip_suffix(title) {
                gap = g;
                break;
            }
        }
        matches!(
            gap,
            ", " | " and " | ", and " | " & " | " or " | "、" | "和" | "与" | "及"
        )
    };
    // Round by round, so a name raised counts for the next in the list (`Ann Lee,
    // Bobby, Derek`): each round raises at least one, or ends.
    let mut raise: Vec<usize> = Vec::new();
    loop {
        raise.clear();
        for (i, d) in found.iter().enumerate() {
            if d.score >= STRONG || d.score < WEAK {
                continue;
            }
            // Lower-cased on the stack; a single name word is never this long.
            let mut buf = [0u8; 48];
            let Some(word) = super::lexicon::lower_into(&text[d.start..d.end], &mut buf) else {
                continue;
            };
            if word.contains(' ') || en_sets().en_org_after.contains(word) {
                continue;
            }
            // A stranger (`cue::STRANGER`) only after a name in the list: one before a
            // name is as often a misspelt sign-off (`Sihgned, Ann Lee`) or a company, a
            // contract's other party (`between Supergroup and Ann Lee`).
            let entry = EnWord::of(en_words(), word);
            let stranger = entry == EnWord::default() && stranger_shape(&text[d.start..d.end]);
            if found
                .iter()
                .any(|n| n.score >= STRONG && (joined(n, d) || (!stranger && joined(d, n))))
            {
                raise.push(i);
            }
        }
        if raise.is_empty() {
            break;
        }
        for &i in &raise {
            found[i].score = S_LISTED_WITH_A_NAME;
        }
    }
}

/// The most words a capitalised run takes.
const MAX_RUN_WORDS: usize = 6;

fn scan_en_runs(lex: &Lexicon, text: &str, out: &mut Vec<Detection>) {
    let b = text.as_bytes();
    let mut i = 0;
    // A run of name words and initials separated by single spaces: (start, end,
    // is_initial). One buffer for the text's runs.
    let mut words: Vec<(usize, usize, bool)> = Vec::with_capacity(MAX_RUN_WORDS);
    while let Some(capital) = ascii::next_capital(b, i, false) {
        i = capital;
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'\'') {
            i += 1;
            continue;
        }
        words.clear();
        let mut j = i;
        loop {
            if let Some(e) = name_word(b, j) {
                words.push((j, e, false));
                j = e;
            } else if let (Some(e), false) = (initial(b, j), words.is_empty()) {
                words.push((j, if b[j + 1] == b'.' { j + 2 } else { j + 1 }, true));
                j = e;
                let _ = e;
                // initial() returned the position of the space.
            } else {
                break;
            }
            if words.len() >= MAX_RUN_WORDS {
                break;
            }
            // Capitals before a capitalised word are a heading or a formula, not the
            // start of the name (`IN RE THE ESTATE OF Laura Mendez`).
            let last = words[words.len() - 1];
            let caps =
                |a: usize, z: usize| z - a >= 2 && b[a..z].iter().all(|c| !c.is_ascii_lowercase());
            if !last.2
                && caps(last.0, last.1)
                && name_word(b, j + 1).is_some_and(|z| !caps(j + 1, z))
            {
                break;
            }
            // Continue over one space (or ". " handled by initial) to the next word.
            if b.get(j) == Some(&b' ') && b.get(j + 1).is_some_and(u8::is_ascii_uppercase) {
                j += 1;
            } else {
                break;
            }
        }
        if words.is_empty() {
            i += 1;
            continue;
        }
        let run_end = words.last().map_or(i, |w| w.1);
        score_run(lex, text, &words, out);
        // "Last, First" (Smith, John) as records write it.
        if let [(s0, e0, false)] = words.as_slice() {
            if text[*e0..].starts_with(", ") {
                let j = e0 + 2;
                if let Some(e1) = name_word(b, j) {
                    let last = EnWord::of(en_words(), text[*s0..*e0].trim_end_matches('.'));
                    let first = EnWord::of(en_words(), &text[j..e1]);
                    let (l, f) = (last.last, first.first);
                    let calendar = (last.flags | first.flags) & (cue::MONTH | cue::DAY) != 0;
                    if l > 0.0 && f > 0.0 && !calendar && !org_follows(text, e1) {
                        let (cue, _) = en_cue_before(text, *s0);
                        let score = 0.2 + 0.25 + 0.1 * l + 0.25 + 0.1 * f + cue
                            - common_penalty_of(&last)
                            - common_penalty_of(&first);
                        push(out, *s0, e1, score);
                    }
                }
            }
        }
        i = run_end.max(i + 1);
    }
}

/// The words of `org_follows`, lower case; their first letters are its filter
/// (`org_words_start_with_the_filtered_letters`).
const ORG_WORDS: [&str; 17] = [
    "llc", "plc", "inc", "ltd", "corp", "co.", "& co", "and co", "and sons", "& sons", "group",
    "gmbh", "s.a.", "lp", "llp", "company", "limited",
];

/// What follows a run and makes it an organisation: `LLC`, `PLC`, `and Sons`, `& Co`.
fn org_follows(text: &str, e: usize) -> bool {
    // Trimmed as bytes: a space and a comma are single bytes, never part of another
    // character's UTF-8 encoding, so this is `trim_start_matches([' ', ','])`.
    let after = &text.as_bytes()[e..];
    let head = &after[after
        .iter()
        .take_while(|&&c| c == b' ' || c == b',')
        .count()..];
    // Most names are followed by none of the words' first letters.
    if !head.first().is_some_and(|c| b"lpicg&asLPICGAS".contains(c)) {
        return false;
    }
    ORG_WORDS.iter().any(|w| {
        head.len() >= w.len()
            && head[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            && !head.get(w.len()).is_some_and(u8::is_ascii_alphabetic)
    })
}

/// How much a word reads as a common English word rather than a name: its word
/// frequency (Zipf) against how frequent it is as a first name or surname.
fn common_penalty_of(w: &EnWord) -> f32 {
    ((w.zipf - 3.5 - 2.5 * w.first.max(w.last)) * 0.2).clamp(0.0, 0.35)
}

/// Whether the word at `s` (after "it's" or "this is") ends its clause: followed by a
/// comma, a full stop, an exclamation, the end of the text or "here", as a writer names
/// themself ("hey it's Oneida, text me"), not as "it's Monday tomorrow" reads.
fn introduces_itself(text: &str, s: usize) -> bool {
    let b = text.as_bytes();
    let Some(e) = name_word(b, s) else {
        return false;
    };
    let after = &text[e..];
    after.is_empty() || after.starts_with([',', '.', '!', '\n']) || after.starts_with(" here")
}

/// The cue strength of the word before `s` (lower-case), 0 when none.
fn en_cue_before(text: &str, s: usize) -> (f32, bool) {
    en_cue_given(text, s, word_before(text, s))
}

/// `en_cue_before` with `word_before(text, s)` given (`word`), as `StartFacts` keeps it.
fn en_cue_given(text: &str, s: usize, word: &str) -> (f32, bool) {
    // A data key that names a person, or a mention (`@Rachel can you …`).
    if data_key_names(text, s) || text[..s].ends_with('@') {
        return (0.3, false);
    }
    // Lower-cased on the stack (this runs for most capitalised words); a longer word
    // is lower-cased into a string.
    let mut prev_buf = [0u8; 32];
    let prev_long: String;
    let prev = match super::lexicon::lower_into(word, &mut prev_buf) {
        Some(p) => p,
        None => {
            prev_long = word.to_ascii_lowercase();
            &prev_long
        }
    };
    let before = text[..s].trim_end();
    // "husband of Kimberly", "mother of": the relation before "of" is the cue.
    if prev == "of" {
        let of_start = before.len() - 2;
        let rel = word_before(text, of_start).to_ascii_lowercase();
        let singular = rel.strip_suffix('s').unwrap_or(&rel);
        if en_sets().en_relations.contains(rel.as_str())
            || en_sets().en_relations.contains(singular)
        {
            // "husband of Kimberly", "parents of Valentine".
            return (0.3, false);
        } else if matches!(rel.as_str(), "estate" | "memory" | "behalf") {
            // "the estate of", "in memory of", "on behalf of": a person follows.
            return (0.3, false);
        }
    }
    let label = before.ends_with(':');
    // An invoice's or a waybill's party: `Bill to: Harcourt`, `SHIP TO Lowell`.
    if prev == "to" {
        let to_end = text[..s]
            .trim_end_matches([' ', ':', ',', '\t', '-', '—', '(', '[', '/'])
            .len();
        let verb = word_before(text, to_end.saturating_sub(2)).to_ascii_lowercase();
        if matches!(
            verb.as_str(),
            "bill" | "ship" | "sold" | "deliver" | "remit"
        ) {
            return (0.3, false);
        }
    }
    let mut lower_buf = [0u8; 16];
    let lower_before = super::lexicon::lower_into(
        before
            .trim_end_matches(',')
            .get(before.len().saturating_sub(16)..)
            .unwrap_or(""),
        &mut lower_buf,
    )
    .unwrap_or("");
    // Phrases whose last word is too common to be a cue alone: "thank you, Karima",
    // "according to Chapman", "ask for Clive". Asked only when the cue is not settled
    // before it, and only of a text ending in one of the phrases' last letters.
    let phrase = || {
        matches!(
            lower_before.as_bytes().last(),
            Some(b'u' | b'o' | b'r' | b'f' | b'n' | b's' | b'd' | b'e')
        ) && EN_CUE_PHRASES.iter().any(|p| lower_before.ends_with(p))
    };
    let lists = en_sets().prev_lists.get(prev).unwrap_or(0);
    if lists & prev_list::HONORIFIC != 0 {
        (0.35, true)
    } else if phrase()
        || (prev == "to" && handed_to(before))
        || lists & prev_list::CUE != 0
        || (label && prev.ends_with("name"))
    {
        (0.3, false)
    } else if (before.ends_with("it's") || before.ends_with("this is"))
        && introduces_itself(text, s)
    {
        // "hey it's Oneida, text me …", "this is Dawn here": the writer's own name.
        (0.3, false)
    } else if label
        || lists & prev_list::MID != 0
        || before.ends_with("it's")
        || before.ends_with("this is")
    {
        (0.2, false)
    } else if lists & prev_list::WEAK != 0 {
        (0.05, false)
    } else {
        (0.0, false)
    }
}

/// See `en_cue_before`; each ends in u, o, r, f or n (`cue_phrases_end_in_the_filtered_letters`).
const EN_CUE_PHRASES: [&str; 24] = [
    "thank you",
    "according to",
    "ask for",
    "asked for",
    "care of",
    "c/o",
    "thanks to",
    "shout-out to",
    "shout out to",
    "shoutout to",
    "say hi to",
    "say hello to",
    "married to",
    "looping in",
    "loop in",
    "looped in",
    "reservation for",
    "reserved for",
    "booking for",
    "booked for",
    "table for",
    // Naming: `my name is Štefanija`, `her maiden name is Coburn`, `a son named Kaypa`,
    // `people call me Wisława`.
    "name is",
    "named",
    "call me",
];

/// Whether `before` (the text before a candidate, ending in "to") has a verb of
/// handing over or passing on within the few words before that "to", in the same
/// clause: `escalated to Boyle`, `handed the letter to Smith`, `referred to Okafor`.
/// What is handed over or escalated goes to a person; a place follows "to" after verbs
/// of motion (`drove to Austin`) and of sending (`send the package to Boston`), which
/// are not among these.
fn handed_to(before: &str) -> bool {
    let Some(head) = before.strip_suffix("to") else {
        return false;
    };
    let clause = head
        .rsplit(['.', ',', ';', ':', '!', '?', '\n', '(', ')'])
        .next()
        .unwrap_or("");
    clause.split_ascii_whitespace().rev().take(5).any(|w| {
        let mut buf = [0u8; 16];
        super::lexicon::lower_into(w, &mut buf).is_some_and(|w| {
            matches!(
                w,
                "escalated"
                    | "escalate"
                    | "handed"
                    | "hand"
                    | "pass"
                    | "passed"
                    | "give"
                    | "gave"
                    | "given"
                    | "reassigned"
                    | "assigned"
                    | "assign"
                    | "referred"
                    | "refer"
                    | "introduced"
                    | "introduce"
                    | "reported"
                    | "report"
                    | "replied"
                    | "reply"
                    | "wrote"
                    | "write"
                    | "talked"
                    | "talk"
                    | "spoke"
                    | "speak"
                    | "lent"
                    | "lend"
                    | "emailed"
                    | "texted"
                    | "explained"
                    | "apologised"
                    | "apologized"
                    | "delegated"
            )
        })
    })
}

/// What `score_name` reads of the text before a candidate's start `s`: the same for
/// every candidate of a run starting at that word (up to four, `score_run`), so read
/// once per start, each when first asked (with `org_follows` once per end, and the
/// byte-wise trims of `org_follows` and `identified_after`: chat8 849.4 M -> 834.2 M
/// instructions).
struct StartFacts<'t> {
    s: usize,
    /// `word_before(text, s)`.
    word: Option<&'t str>,
    /// `en_cue_before(text, s)`.
    cue: Option<(f32, bool)>,
    /// Whether the word before is "to" after a verb of handing over (`handed_to`).
    handed_over: Option<bool>,
}

impl<'t> StartFacts<'t> {
    fn new(s: usize) -> Self {
        StartFacts {
            s,
            word: None,
            cue: None,
            handed_over: None,
        }
    }

    fn word(&mut self, text: &'t str) -> &'t str {
        let s = self.s;
        self.word.get_or_insert_with(|| word_before(text, s))
    }

    fn cue(&mut self, text: &'t str) -> (f32, bool) {
        if let Some(c) = self.cue {
            return c;
        }
        let c = en_cue_given(text, self.s, self.word(text));
        self.cue = Some(c);
        c
    }

    fn handed_over(&mut self, text: &'t str) -> bool {
        if let Some(h) = self.handed_over {
            return h;
        }
        let s = self.s;
        let h = self.word(text).eq_ignore_ascii_case("to") && handed_to(text[..s].trim_end());
        self.handed_over = Some(h);
        h
    }
}

/// Scores one candidate: the words `name` (no cue words among them). `start` holds
/// what is known of the text before `name` (it starts there); `org`, `org_follows` of
/// its end once asked.
#[allow(clippy::too_many_arguments)]
fn score_name<'t>(
    lex: &Lexicon,
    text: &'t str,
    name: &[(usize, usize, bool)],
    feats: &[EnWord],
    mut cue: f32,
    mut honorific: bool,
    start: &mut StartFacts<'t>,
    org: &mut Option<bool>,
) -> Option<(usize, usize, f32)> {
    if name.is_empty() || name[0].2 || name.last().is_some_and(|w| w.2) {
        return None;
    }
    let s = name[0].0;
    let e = name.last()?.1;
    // Most lone capitalised words (sentence starts, headings) are in no name list: they
    // can only be a name after a title or as an unknown speaker (below), so they stop
    // here, before the context is read.
    if name.len() == 1 {
        let t = &feats[0];
        if t.first == 0.0 && t.last == 0.0 {
            let mut buf = [0u8; 32];
            let titled = honorific
                || (cue == 0.0
                    && super::lexicon::lower_into(start.word(text), &mut buf).is_some_and(|w| {
                        en_sets().prev_lists.get(w).unwrap_or(0) & prev_list::HONORIFIC != 0
                    }));
            let speaker = speaker_position(text, s, e) && t.zipf < 2.0;
            if !titled && !speaker && t.flags & cue::STRANGER == 0 {
                return None;
            }
        }
    }
    debug_assert_eq!(start.s, s);
    if cue == 0.0 {
        (cue, honorific) = start.cue(text);
    }
    // One word in capitals (initials aside) is an acronym, a heading (IBAN, NOTE) or a
    // tag that de-identification left (`<PERSON>`), not a name, unless a title says so
    // (MR SMITH): decided here, before the rest of the context is read (nothing after
    // this sets `honorific`; the single-word branch below used to decide it last). The
    // re-scan of tagged text met one such tag per replaced value.
    if !honorific
        && name.iter().filter(|w| !w.2).count() == 1
        && text[s..e].bytes().all(|c| !c.is_ascii_lowercase())
    {
        return None;
    }
    // A stranger alone takes only the cue before it: a lone line near the end is as
    // often a town of an address block (`Voorburg`) as a signature.
    let cue_before = cue;
    if signature_position(text, s, e) {
        cue = cue.max(0.3);
    }
    if *org.get_or_insert_with(|| org_follows(text, e)) {
        return None;
    }
    let (toks, n_toks) = without_initials(name, feats);
    let toks = &toks[..n_toks];
    // A month reads as a date only beside a number or a date preposition (May 5, in
    // May); a weekday always; a state unless the word acts or is cued as a person
    // (`Georgia said maybe`, `first_name: September`).
    let person_like = cue >= 0.3 || speaks(text, e);
    let neg = !honorific
        && name.iter().filter(|w| !w.2).zip(toks).any(|(w, t)| {
            if t.flags & (cue::MONTH | cue::DAY) != 0 {
                t.flags & cue::MONTH == 0 || (!person_like && dated(text, w.0, w.1))
            } else {
                // A state after a first name or an initial is a surname (Patrick R.
                // Washington); a place's name starts with it (Virginia Beach).
                !person_like && t.state
            }
        });
    // A lone US city name is a place (Roswell), unless it is also a common first name
    // (Kyle, Austin, Tyler are towns too).
    // Places do not act: a town name followed by a verb (`Jenkins equalised`) is a person.
    // A town keeps its penalty after a verb of handing over (`passed to Houston`),
    // whose cue is otherwise as strong as a label's.
    let handed_over = start.handed_over(text);
    let place = !honorific
        && (cue < 0.3 || handed_over)
        && lex.us_city(&text[s..e])
        && toks[0].first < 0.5
        && !followed_by_action(text, e)
        && !identified_after(text, s, e)
        && !action_item(text, s, e)
        && !speaker_position(text, s, e)
        && !after_a_person_verb(text, s);
    let score = if toks.len() == 1 {
        let t = &toks[0];
        // `… and Sons`, `… Brothers`: the end of a firm's name.
        if t.flags & cue::ORG_AFTER != 0 {
            return None;
        }
        let known = t.first.max(t.last);
        // Two surnames joined by an ampersand name a firm (Procter & Gamble, Marks &
        // Spencer); people so joined are usually first names (Ann & Bob).
        let capital_at = |i: usize| text.as_bytes().get(i).is_some_and(u8::is_ascii_uppercase);
        let amp_pair = (text[e..].starts_with(" & ") && capital_at(e + 3))
            || (text[..s].ends_with(" & ")
                && text[..s - 3]
                    .rsplit(' ')
                    .next()
                    .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_uppercase())));
        if amp_pair && !honorific && t.first < 0.5 {
            return None;
        }
        if known == 0.0 && !honorific {
            // A speaker at the start of a chat line (`[10:45] Clarinda: …`) whose
            // name is in no list but is no English word either.
            let word = &text[s..e];
            let title_case = word.len() > 2 && word[1..].bytes().all(|c| c.is_ascii_lowercase());
            if title_case && speaker_position(text, s, e) && t.zipf < 2.0 {
                return Some((s, e, 0.55 - if neg { 0.4 } else { 0.0 }));
            }
            // A word no list knows, alone: a name after a strong cue (`My name is
            // Štefanija`, `call me Wisława`), or listed after a name, which
            // `coordinated_names` raises it for (`Ann Lee, Evdokim and Mary`).
            if t.flags & cue::STRANGER != 0 {
                return Some((
                    s,
                    e,
                    S_LONE_STRANGER + cue_before - if neg { 0.4 } else { 0.0 },
                ));
            }
            return None;
        }
        0.15 + 0.15 * known
            + if known > 0.0 { 0.1 } else { 0.0 }
            + cue
            + if honorific { 0.1 } else { 0.0 }
            // In a name list and no English word (Tonisha, Okafor): rarely anything
            // but a name.
            + if known > 0.0 && t.zipf < 2.5 {
                0.08
            } else {
                0.0
            }
            + lone_name_evidence(text, s, e, t.first)
            - common_penalty_of(t)
    } else {
        several_words_score(toks, cue)
    };
    let score = score - if neg { 0.4 } else { 0.0 } - if place { 0.3 } else { 0.0 };
    // "the Jackson game", "the St. Louis Park branch": a capitalised name between
    // "the" and a noun names a team, a shop or a place, not a person.
    let saint = last_word_is(
        text[..s].trim_end(),
        &["St.", "St", "Mt.", "Mt", "Ft.", "Ft"],
    );
    let saint = saint && !honorific;
    let attributive = !honorific
        && start.word(text).eq_ignore_ascii_case("the")
        && text[e..].starts_with(' ')
        && text[e + 1..].starts_with(|c: char| c.is_ascii_lowercase());
    Some((
        s,
        e,
        score - if attributive { 0.3 } else { 0.0 } - if saint { 0.4 } else { 0.0 },
    ))
}

/// The list entries of a candidate's words, its initials left out: (entries, count).
fn without_initials(
    name: &[(usize, usize, bool)],
    feats: &[EnWord],
) -> ([EnWord; MAX_RUN_WORDS], usize) {
    let mut toks = [EnWord::default(); MAX_RUN_WORDS];
    let mut n = 0;
    for (w, f) in name.iter().zip(feats) {
        if !w.2 {
            toks[n] = *f;
            n += 1;
        }
    }
    (toks, n)
}

/// What a word in no list (`cue::STRANGER`) adds in a first name's or a surname's
/// place: names from outside the US lists (`Lars Wiik`, `Frederikke Jorgensen`,
/// `Mali Masaev`) are half known or unknown. Beside a listed name word it lifts the
/// candidate over the floor (0.45 + 0.12); two strangers (0.44) need a cue.
const S_STRANGER: f32 = 0.12;

/// A stranger alone, before its cue: over the floor only after a strong cue (0.3), and
/// at `COORDINATED_WEAK` so that a list with a name raises it.
const S_LONE_STRANGER: f32 = 0.22;

/// The score of a candidate of two or more words (`toks`, initials left out) before
/// the adjustments for where it stands: first name and surname evidence, the cue,
/// less each word's commonness.
fn several_words_score(toks: &[EnWord], cue: f32) -> f32 {
    let (first, last) = (&toks[0], &toks[toks.len() - 1]);
    let f = first.first;
    let l = last.last;
    let stranger = |t: &EnWord| t.flags & cue::STRANGER != 0;
    let mut sc =
        0.2 + if f > 0.0 {
            0.25 + 0.1 * f
        } else if stranger(first) {
            S_STRANGER
        } else {
            0.0
        } + if l > 0.0 {
            0.25 + 0.1 * l
        } else if stranger(last) {
            S_STRANGER
        } else {
            0.0
        } + cue;
    // Surname first (Zhang Wei, Smith John) still reads as a name.
    if f == 0.0 || l == 0.0 {
        let alt = first.last.min(last.first);
        if alt > 0.0 {
            sc += 0.15;
        }
    }
    sc - toks.iter().map(common_penalty_of).sum::<f32>()
}

/// Whether the word at `s..e` stands where a month does in a date: beside a number
/// (`May 5`, `5 May`, `May 2024`) or after a date preposition (`in May`, `since March`).
fn dated(text: &str, s: usize, e: usize) -> bool {
    let after = text[e..].trim_start_matches([' ', '.', ',']);
    let before = text[..s].trim_end_matches([' ', ',']);
    if after.starts_with(|c: char| c.is_ascii_digit())
        || before.ends_with(|c: char| c.is_ascii_digit())
    {
        return true;
    }
    let prev = word_before(text, s).to_ascii_lowercase();
    matches!(
        prev.as_str(),
        "in" | "on"
            | "since"
            | "until"
            | "till"
            | "by"
            | "of"
            | "from"
            | "through"
            | "during"
            | "early"
            | "late"
            | "mid"
            | "next"
            | "last"
            | "this"
            | "every"
            | "before"
            | "after"
    )
}

/// Whether `before` (the text before a Latin word, spaces trimmed) ends a Chinese
/// sentence: in mixed text the English after `。`, `！` or `？` starts afresh, as after a
/// line break, whatever the Chinese before it (`……已封禁。Romero scored twice`,
/// `……记得续签。 Orval, can you …`). Without it, the English heuristics that read a
/// line or sentence start (speakers, people addressed, action items, sign-offs,
/// sentence subjects) saw the middle of a line.
fn after_cjk_sentence(before: &str) -> bool {
    before.ends_with(['。', '！', '？'])
}

/// A word at the start of a line (after a timestamp or a bullet) followed by a colon.
fn speaker_position(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].trim_end_matches([' ', '\t']);
    (before.is_empty() || before.ends_with(['\n', ']']) || after_cjk_sentence(before))
        && text[e..].starts_with(':')
        && !text[e..].starts_with("://")
        && !contact_label(&text[s..e])
}

/// Whether `word` is an abbreviated label of a contact line (`Tel: 86-21-…`) or of a
/// document's field (`Ref: INV-2024-00123`, `Memo:`), which a name list may hold (`Tel`
/// and `Ref` are given names in the Census list) but which before a colon labels a
/// field, not a speaker.
fn contact_label(word: &str) -> bool {
    ["Ph", "Ext", "Email", "Mail", "Web", "Skype", "Ref", "Memo"]
        .iter()
        .chain(super::recognizers::PHONE_LABELS)
        .any(|l| l.eq_ignore_ascii_case(word))
}

/// Evidence that a lone capitalised first name or surname at `s..e` is a name, from where it
/// stands: capitalised right after a lower-case word (where capitals mark names, not
/// sentence starts), a speaker before a colon at the start of a line (`[10:42] Sara: …`), a
/// person addressed at the start of a line (`Steven, can you …`), or followed by a
/// possessive or a verb of speech (`Ellis posted`, `Hazel's`).
fn lone_name_evidence(text: &str, s: usize, e: usize, first: f32) -> f32 {
    let before = text[..s].trim_end_matches([' ', '\t']);
    let line_start = before.is_empty()
        || before.ends_with(['\n', ']', '-', '*', '•', '>', '"', '“'])
        || before.ends_with(|c: char| c.is_ascii_digit()) && before.ends_with(". ")
        || after_cjk_sentence(before);
    let sentence_start = line_start || before.ends_with(['.', '!', '?', ':', ';']);
    // An all-capitals word is a heading or an acronym (IBAN:, NOTE,), not a name.
    if text[s..e]
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .all(|c| c.is_ascii_uppercase())
    {
        return 0.0;
    }
    let after = &text[e..];
    if line_start && after.starts_with(':') && !after.starts_with("://") {
        // A speaker (`Sara: …`), unless the word is a common noun and no first name:
        // then it is a form's field label (`Tutor: Wells`), as a contact label is.
        if contact_label(&text[s..e]) {
            return 0.0;
        }
        let lex = lexicon();
        let word = text[s..e].to_ascii_lowercase();
        if lex.en_first(&word) == 0.0 && lex.en_zipf(&word) >= 3.5 {
            return 0.05;
        }
        return 0.25;
    }
    if line_start && after.starts_with(", ") {
        return 0.2;
    }
    if identified_after(text, s, e) {
        return 0.3;
    }
    // The second word of a place's name (`South Carolina beat …`, `New Jersey`).
    if last_word_is(
        before,
        &[
            "North", "South", "East", "West", "New", "Port", "Fort", "Lake", "Mount", "San",
            "Santa", "Los", "Las", "El",
        ],
    ) {
        return 0.0;
    }
    let mut buf = [0u8; 16];
    let lower_after = head_lower(text, e, &mut buf);
    let speaks = followed_by_action(text, e);
    // An action item in minutes or a to-do list: the line or sentence opens with the
    // person, then "to" and a verb (`Deane to follow up with …`).
    if action_item(text, s, e) {
        return 0.25;
    }
    // "Tiny and I are driving up": a person coordinated with the speaker.
    if lower_after.starts_with(" and i ") || lower_after.starts_with(" and me ") {
        return 0.3;
    }
    // Right after a lower-case word ("tell Hazel", "and Olene"): not after a comma or
    // a number, where a capitalised word is as often a town (…Pine Dr, Roswell). At a
    // sentence start, followed by a lower-case word ("Bradley was very helpful"):
    // not the first word of a capitalised title.
    let prev_word = before
        .rsplit(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    let lex = lexicon();
    // Part of a longer capitalised name (Petra Diamonds, Helios Air, Pro Max): the
    // whole is an organisation's or a product's more often than a person's.
    let in_longer_run =
        after.starts_with(' ') && after[1..].starts_with(|c: char| c.is_ascii_uppercase());
    let before_prev = before[..before.len() - prev_word.len()].trim_end();
    let opens_sentence = before_prev.is_empty()
        || before_prev.ends_with(['.', '!', '?', '\n'])
        || after_cjk_sentence(before_prev);
    let place_preposition = matches!(
        prev_word,
        "in" | "at" | "near" | "around" | "outside" | "inside" | "toward" | "towards" | "across"
    );
    let position = if in_longer_run || place_preposition {
        0.0
    } else if before.ends_with(|c: char| c.is_ascii_lowercase())
        && (prev_word.starts_with(|c: char| c.is_ascii_lowercase())
            || (opens_sentence && lex.en_zipf(prev_word) >= 4.5 && lex.en_first(prev_word) == 0.0))
    {
        // After a lower-case word, or a capitalised common word opening the sentence
        // (`Join Oscar and …`), not after "in" or "at" (in Charlotte).
        0.18
    } else if (sentence_start || after_an_opening_phrase(before))
        && after.starts_with(' ')
        && after[1..].starts_with(|c: char| c.is_ascii_lowercase())
    {
        0.08
    } else {
        0.0
    };
    // A possessive marks a person or a firm; a firm's name is in no first-name list.
    let possessive = after.starts_with("'s ") || after.starts_with("\u{2019}s ");
    // A common first name acting (`…, Stefan counted the coins`) is its sentence's
    // subject; a surname alone acting is as often a firm or a team.
    // `first` is the word's `EnWord::first`, which is `lex.en_first(&text[s..e])`
    // (`en_word_table_agrees_with_the_lists`), read once per run (`run_words`)
    // instead of twice here.
    position
        + if speaks && first >= 0.5 {
            0.2
        } else if speaks {
            0.1
        } else {
            0.0
        }
        + if possessive && first >= 0.3 {
            0.05
        } else {
            0.0
        }
        // A common first name introduced by where the person works (`Winston from
        // accounts`, `Sara from the bank`); a town before "from" is rarely a first name.
        + if first >= 0.5
            && lower_after.starts_with(" from ")
            && after[6..].starts_with(|c: char| c.is_ascii_lowercase())
        {
            0.15
        } else {
            0.0
        }
}

/// Words that open an adverbial phrase set off by a comma before a sentence's subject
/// (`Behind the counter, Lachelle counted …`, `After lunch, …`).
const EN_OPENERS: &[&str] = &[
    "After",
    "Before",
    "Behind",
    "During",
    "At",
    "In",
    "On",
    "Outside",
    "Inside",
    "Later",
    "Yesterday",
    "Today",
    "Tonight",
    "Meanwhile",
    "Then",
    "Afterwards",
    "Earlier",
    "Suddenly",
    "Finally",
    "Back",
    "Across",
    "Near",
    "Once",
    "Minutes",
    "Moments",
    "Seconds",
];

/// Whether `before` (the text before a word, spaces trimmed) ends with an opening phrase
/// and its comma: at most six words from the sentence's start, the first one of
/// `EN_OPENERS`, none of them after a digit (`12 Pine Dr, Roswell` is an address).
fn after_an_opening_phrase(before: &str) -> bool {
    let Some(phrase) = before.strip_suffix(',') else {
        return false;
    };
    let start = phrase
        .rfind(['.', '!', '?', '\n', ';', ':', ','])
        .map_or(0, |i| i + 1);
    let phrase = phrase[start..].trim_start();
    let first = phrase.split(' ').next().unwrap_or("");
    EN_OPENERS.contains(&first)
        && phrase.split(' ').count() <= 6
        && !phrase.bytes().any(|c| c.is_ascii_digit())
}

/// Whether what follows the word ending at `e` identifies it as a person: a birth date
/// or an age (`(date of birth …)`, `(b. 1970)`, `, 34,`), a citation (`et al.`), a
/// relative "who" (not after a preposition of place: `tourists in Paris who …`), or an
/// airline's passenger title (`SMITH/DAMIEN MR`).
fn identified_after(text: &str, s: usize, e: usize) -> bool {
    let after = &text[e..];
    // Read only for a "who" (this runs for most lone-name candidates).
    let placed = || {
        let prev = word_before(text, s);
        [
            "in", "at", "of", "from", "near", "to", "around", "across", "outside", "inside",
        ]
        .iter()
        .any(|p| prev.eq_ignore_ascii_case(p))
    };
    let mut buf = [0u8; 16];
    let lower_after = head_lower(text, e, &mut buf);
    // Trimmed once, not once per opening; each opening starts with "(".
    let opened = lower_after.trim_start();
    (opened.starts_with('(')
        && [
            "(date of birth",
            "(dob",
            "(d.o.b",
            "(b. ",
            "(born",
            "(age",
            "(aged",
        ]
        .iter()
        .any(|w| opened.starts_with(w)))
        || age_follows(after)
        || lower_after.starts_with(" et al")
        || (lower_after.starts_with(" who ") && !placed())
        || [" MR", " MRS", " MS", " MISS", " MSTR"].iter().any(|t| {
            after
                .strip_prefix(t)
                .is_some_and(|r| r.is_empty() || r.starts_with([' ', ',', '\n']))
        })
}

/// Whether the name at `s..e` opens an action item in minutes or a to-do list: first on
/// its line or in its sentence, then "to" and a verb (`Deane to follow up with …`).
fn action_item(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].trim_end_matches([' ', '\t']);
    let opens = before.is_empty()
        || before.ends_with(['\n', ']', '-', '*', '•', '>', '.', '!', '?', ':', ';'])
        || after_cjk_sentence(before);
    opens && text[e..].strip_prefix(" to ").is_some_and(to_verb)
}

/// Whether `rest` (after "to ") starts with a verb of an action item: follow up, send,
/// book, check, call, review, draft, prepare, …
fn to_verb(rest: &str) -> bool {
    let word = rest
        .split(|c: char| !c.is_ascii_lowercase())
        .next()
        .unwrap_or("");
    matches!(
        word,
        "follow"
            | "send"
            | "book"
            | "check"
            | "call"
            | "review"
            | "draft"
            | "prepare"
            | "confirm"
            | "share"
            | "circulate"
            | "update"
            | "contact"
            | "email"
            | "arrange"
            | "organise"
            | "organize"
            | "schedule"
            | "investigate"
            | "chase"
            | "write"
            | "ask"
            | "look"
            | "set"
            | "reach"
            | "order"
            | "finalise"
            | "finalize"
            | "present"
            | "speak"
            | "liaise"
            | "compile"
            | "collect"
    )
}

/// Whether the word ending at `e` is followed by a verb of speech (`Georgia said`).
fn speaks(text: &str, e: usize) -> bool {
    let after = &text.as_bytes()[e..];
    [
        " said", " says", " asked", " told", " replied", " wrote", " texted", " thinks",
    ]
    .iter()
    .any(|w| after.len() >= w.len() && after[..w.len()].eq_ignore_ascii_case(w.as_bytes()))
}

/// Whether the word before `s` is a lower-case word that takes a person, not a place:
/// `with Jennings`, `tell Stanford`, `ask Gibson` (a town follows `in`, `at`, `to`,
/// `from`, `near`, a comma or a number).
fn after_a_person_verb(text: &str, s: usize) -> bool {
    let before = text[..s].strip_suffix(' ').unwrap_or("");
    let prev = before
        .rsplit(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    before.ends_with(|c: char| c.is_ascii_lowercase())
        && matches!(
            prev,
            "with"
                | "tell"
                | "ask"
                | "asked"
                | "told"
                | "thank"
                | "thanks"
                | "call"
                | "called"
                | "email"
                | "emailed"
                | "text"
                | "texted"
                | "ping"
                | "cc"
                | "met"
                | "meet"
                | "and"
                | "by"
                | "than"
                | "let"
                | "help"
                | "helped"
                | "saw"
                | "see"
                | "invite"
                | "invited"
                | "hired"
                | "paid"
                | "pay"
                | "congratulate"
                | "remind"
                | "reminded"
                | "adding"
                | "add"
                | "added"
                | "welcome"
                | "looping"
                | "sorry"
        )
}

/// Whether `after` starts with an age in apposition: `, 34,` or ` (34)`.
fn age_follows(after: &str) -> bool {
    let (rest, close) = if let Some(r) = after.strip_prefix(", ") {
        (r, ',')
    } else if let Some(r) = after.strip_prefix(" (") {
        (r, ')')
    } else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (1..=3).contains(&digits) && rest[digits..].starts_with(close)
}

/// True when the word ending at `e` is followed by a possessive or by a verb of speech
/// or action, as a person is (`Ellis posted`, `Hazel's`, `Crawford hit`).
fn followed_by_action(text: &str, e: usize) -> bool {
    // 24 bytes: a verb after an adverb (` already approved`).
    let mut buf = [0u8; 24];
    let after = head_lower(text, e, &mut buf);
    starts_with_follower(after) || acts(after)
}

/// Whether `after` starts with one of `EN_NAME_FOLLOWERS`: only those sharing its first
/// two bytes are compared (this runs after most capitalised words).
fn starts_with_follower(after: &str) -> bool {
    type ByPair = rustc_hash::FxHashMap<[u8; 2], Vec<&'static str>>;
    static BY_PAIR: std::sync::LazyLock<ByPair> = std::sync::LazyLock::new(|| {
        let mut m = ByPair::default();
        for w in EN_NAME_FOLLOWERS {
            let b = w.as_bytes();
            m.entry([b[0], b[1]]).or_default().push(*w);
        }
        m
    });
    let b = after.as_bytes();
    b.len() >= 2
        && BY_PAIR
            .get(&[b[0], b[1]])
            .is_some_and(|ws| ws.iter().any(|w| after.starts_with(w)))
}

/// Up to `N` bytes of `text` from `e`, cut at a character boundary and lower-cased into
/// `buf`: the few words after a candidate, read without allocating.
fn head_lower<'a, const N: usize>(text: &str, e: usize, buf: &'a mut [u8; N]) -> &'a str {
    let t = &text[e..];
    let mut n = t.len().min(buf.len());
    while !t.is_char_boundary(n) {
        n -= 1;
    }
    super::lexicon::lower_into(&t[..n], buf).unwrap_or("")
}

/// True when `after` (lower-case, starting with the space after a capitalised word)
/// starts with a verb in the past tense, the way a subject is followed in reports
/// (`Crawford hit a homer`, `Wise equalised`): a word in -ed of five letters or more
/// (not an adjective of the -ed kind that follows names of places: "based"), or a
/// common irregular past.
fn acts(after: &str) -> bool {
    let Some(rest) = after.strip_prefix(' ') else {
        return false;
    };
    let mut words = rest.split(|c: char| !c.is_ascii_lowercase());
    let mut word: &str = words.next().unwrap_or("");
    // One adverb before the verb (`Fitzgerald already approved`, `Hu quickly left`).
    if matches!(word, "already" | "also" | "just" | "never" | "finally")
        || (word.len() > 4 && word.ends_with("ly"))
    {
        word = words.next().unwrap_or("");
    }
    (word.len() >= 5 && word.ends_with("ed") && !matches!(word, "based" | "located" | "listed"))
        || matches!(
            word,
            "hit"
                | "won"
                | "ran"
                | "got"
                | "made"
                | "took"
                | "led"
                | "saw"
                | "came"
                | "went"
                | "kept"
                | "threw"
                | "struck"
                | "beat"
                | "sent"
                | "gave"
                | "found"
                | "met"
                | "paid"
                | "brought"
                | "bought"
                | "wrote"
                | "spoke"
                | "drove"
                | "flew"
        )
}

/// What follows a person's name as its subject or owner: a possessive or a verb of
/// speech or action (lower-case, with the space before).
const EN_NAME_FOLLOWERS: &[&str] = &[
    "'s ",
    "\u{2019}s ",
    " said",
    " says",
    " wrote",
    " posted",
    " asked",
    " told",
    " replied",
    " confirmed",
    " called",
    " texted",
    " emailed",
    " mentioned",
    " was ",
    " is ",
    " has ",
    " had ",
    " will ",
    " would ",
    " to send",
    " to book",
    " scored",
    " opened",
    " joined",
    " left",
    " added",
    " agreed",
    " noted",
    " thinks",
    " thought",
    " works",
    " worked",
    " can you",
    " could you",
    " can ",
    " could ",
    " should ",
    " did ",
    " does ",
    " from the ",
];

/// The list entries of a run's words (at most `MAX_RUN_WORDS`), each read once: every
/// candidate stretch of the run asks them again.
fn run_words(text: &str, words: &[(usize, usize, bool)]) -> [EnWord; MAX_RUN_WORDS] {
    let mut feats = [EnWord::default(); MAX_RUN_WORDS];
    for (f, w) in feats.iter_mut().zip(words) {
        let word = text[w.0..w.1].trim_end_matches('.');
        *f = EnWord::of(en_words(), word);
        if !w.2 && *f == EnWord::default() && stranger_shape(word) {
            f.flags = cue::STRANGER;
        }
    }
    feats
}

/// Whether `w` is written as a name is (one capital, then three or more lower-case
/// letters; a hyphen or apostrophe inside), the shape `cue::STRANGER` needs.
fn stranger_shape(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() >= 4
        && b[0].is_ascii_uppercase()
        && b[1..].iter().filter(|c| c.is_ascii_lowercase()).count() >= 3
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || matches!(c, b'-' | b'\''))
}

/// Whether the word before `s` is a title (`prev_list::HONORIFIC`), the only way
/// `en_cue_given` says `honorific`; true too for a word too long to look up on the stack
/// (never a title), so that a caller that skips on false skips only what it may.
fn after_a_title(text: &str, s: usize) -> bool {
    let mut buf = [0u8; 32];
    match super::lexicon::lower_into(word_before(text, s), &mut buf) {
        Some(w) => en_sets().prev_lists.get(w).unwrap_or(0) & prev_list::HONORIFIC != 0,
        None => true,
    }
}

/// Scores the name candidates in one run of capitalised words and keeps the best:
/// every stretch of one to three words (not starting or ending with an initial) after
/// the leading cue words ("Dear", "Hi", "Dr") is scored, so a capitalised word before
/// the name ("Follow", "Admin", "Yesterday") or after it ("Street") is left out when it
/// reads as a common word.
fn score_run(lex: &Lexicon, text: &str, words: &[(usize, usize, bool)], out: &mut Vec<Detection>) {
    // A run of one word in capitals names no one unless the word before it is a title
    // (MR SMITH): what `score_name` would answer (its only way to `honorific` here is
    // `en_cue_given`'s, a title before), found without the word's list entries or the
    // rest of its context. The re-scan of tagged text meets one such run per tag or
    // part of a tag (`<PERSON>`, `<CN_ID_CARD>`): with the same answer given early in
    // `score_name`, 11.5 % fewer instructions on 20,000 changed chat values as tagged
    // (422.9 -> 374.5 M; the untagged chat sample 325.8 -> 323.0 M).
    if let [(s, e, false)] = words {
        if text[*s..*e].bytes().all(|c| !c.is_ascii_lowercase()) && !after_a_title(text, *s) {
            return;
        }
    }
    let feats = run_words(text, words);
    let mut k = 0;
    let mut cue = 0.0f32;
    let mut honorific = false;
    while k < words.len() {
        let f = &feats[k];
        if f.flags & cue::HONORIFIC != 0 {
            honorific = true;
            cue = cue.max(0.35);
        } else if f.flags & (cue::CUE | cue::GREETING) != 0 && f.first < 0.5 {
            cue = cue.max(0.3);
        } else {
            break;
        }
        k += 1;
    }
    // A street word that is not a usual surname ends the name (Dylan Harbor).
    let mut end = words.len();
    let mut org_cut = false;
    for (idx, w) in words.iter().enumerate().skip(k + 1) {
        let f = &feats[idx];
        if f.flags & cue::ORG_AFTER != 0 {
            end = idx;
            org_cut = true;
            break;
        }
        if text[w.0..w.1].trim_end_matches('.').len() > 2
            && f.flags & cue::HONORIFIC == 0
            && f.suffix
            && f.zipf >= 3.5
            && f.last < 0.5
        {
            end = idx;
            break;
        }
    }
    let (words, feats) = (&words[k..end], &feats[k..end]);
    let mut best: Option<(usize, usize, f32)> = None;
    // `org_follows` of each word's end, once asked.
    let mut org = [None; MAX_RUN_WORDS];
    for a in 0..words.len() {
        let mut start = StartFacts::new(words[a].0);
        for b in a + 1..=(a + 4).min(words.len()) {
            // The words right before an organisation word name it (Burger King
            // Holdings, Star Merchant Services), not a person.
            if org_cut && b == words.len() {
                continue;
            }
            let n_words = words[a..b].iter().filter(|w| !w.2).count();
            if n_words > 3 {
                break;
            }
            let (c, h) = if a == 0 {
                (cue, honorific)
            } else {
                (0.0, false)
            };
            let (name, f) = (&words[a..b], &feats[a..b]);
            if let Some(hit) = score_name(lex, text, name, f, c, h, &mut start, &mut org[b - 1]) {
                if best.is_none_or(|x| hit.2 > x.2 + 1e-6) {
                    best = Some(hit);
                }
            }
        }
    }
    if let Some((s, e, score)) = best {
        push(out, s, e, score);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(String, f32)> {
        let mut out = Vec::new();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let has = super::super::recognizers::needs::of(text);
        let n = Names::new(0.0);
        let mut starts = Vec::new();
        let listing = super::super::wordfind::FirstChars::new(&n.marks(), &LISTING, &[])
            .mark(&chars, &mut starts);
        n.scan(text, &chars, &starts, listing, has, &mut out);
        out.retain(|d| d.score >= 0.5);
        super::super::resolve(&mut out);
        out.iter()
            .map(|d| (text[d.start..d.end].to_string(), d.score))
            .collect()
    }

    fn spans(text: &str) -> Vec<String> {
        names(text).into_iter().map(|x| x.0).collect()
    }

    proptest::proptest! {
        #[test]
        fn last_word_is_rsplit(t in "(?s)[ a-z.é\n]{0,8}", w in "[a-z.]{0,3}", v in "[a-z]{1,2}") {
            for t in [t.clone(), format!("{t}{w}"), format!("{t} {w}"), format!("{t}{v} {w}")] {
                for words in [&[w.as_str()][..], &[w.as_str(), "st.", v.as_str()]] {
                    let want = words.contains(&t.rsplit(' ').next().unwrap());
                    proptest::prop_assert_eq!(last_word_is(&t, words), want, "{:?} {:?}", t, words);
                }
            }
        }

        /// Every line in which two neighbouring cells are name cells (as
        /// `scan_row_names` splits it) passes `may_be_a_row_of_names`.
        #[test]
        fn a_row_of_names_passes_the_quick_test(
            parts in proptest::collection::vec("Ann|Lee|ann| Lee|O'Neil|\"Ann|x|", 1..6),
            d in proptest::sample::select(vec![b',', b'\t', b';', b'|']),
            noise in "([,;|\t\" ]|Ann|x){0,3}",
        ) {
            use super::super::table::{cells, Delim};
            let line = parts.join(char::from(d).to_string().as_str()) + &noise;
            let cs = cells(&line, Delim::Char(char::from(d)));
            let pair = cs.len() >= 3
                && cs.windows(2).any(|p| {
                    name_cell(&line[p[0].0..p[0].1]).is_some()
                        && name_cell(&line[p[1].0..p[1].1]).is_some()
                });
            proptest::prop_assert!(!pair || may_be_a_row_of_names(&line, d), "{:?}", line);
        }
    }

    /// A lone word in capitals is a name only after a title (`score_run` decides the
    /// rest before reading the word's list entries): a tag left by de-identification,
    /// an acronym or a heading is not one.
    /// A romanised Chinese given name with a lower-case syllable after a hyphen is
    /// found whole; a common English word after a hyphen is not taken along.
    #[test]
    fn hyphenated_romanised_given_names_are_whole() {
        assert_eq!(
            spans("Approved by Lee Ka-shing on Monday."),
            ["Lee Ka-shing"]
        );
        assert_eq!(
            spans("Forward it to Tsai Ing-wen's office."),
            ["Tsai Ing-wen"]
        );
        assert_eq!(
            spans("Our agent Chen Chih-Ming will call you."),
            ["Chen Chih-Ming"]
        );
        assert_eq!(
            spans("The John Smith-led team met Mary Jones."),
            ["John Smith", "Mary Jones"]
        );
    }

    #[test]
    fn a_lone_word_in_capitals_is_a_name_only_after_a_title() {
        assert_eq!(spans("please ask mr SMITH at the desk"), ["SMITH"]);
        assert_eq!(spans("please ask mrs. PERSON at the desk"), ["PERSON"]);
        for text in [
            "please ask <PERSON> at the desk",
            "call <PERSON> on <PHONE> about <CN_ID_CARD>",
            "please ask SMITH at the desk",
            "NOTE: the desk is closed",
        ] {
            assert!(spans(text).is_empty(), "{text}: {:?}", spans(text));
        }
    }

    /// The quick tests before the cue phrases and organisation words let through every
    /// text that ends or starts as one of them.
    #[test]
    fn cue_phrases_end_in_the_filtered_letters() {
        for p in EN_CUE_PHRASES {
            assert!(
                matches!(
                    p.as_bytes().last(),
                    Some(b'u' | b'o' | b'r' | b'f' | b'n' | b's' | b'd' | b'e')
                ),
                "{p}"
            );
        }
    }

    #[test]
    fn org_words_start_with_the_filtered_letters() {
        for w in ORG_WORDS {
            let c = w.as_bytes()[0];
            assert!(b"lpicg&as".contains(&c), "{w}");
            assert!(
                c == b'&' || b"LPICGAS".contains(&c.to_ascii_uppercase()),
                "{w}"
            );
        }
        assert!(org_follows("Smith LLC", 5));
        assert!(org_follows("Smith & Sons", 5));
        assert!(!org_follows("Smith said", 5));
    }

    /// Every list of `prev_lists` is lower-case (so the folding lookup finds only what
    /// an exact comparison finds), and its bits are the lists' memberships.
    #[test]
    fn prev_lists_agree_with_the_lists() {
        let lists = [
            (EN_HONORIFIC, prev_list::HONORIFIC),
            (EN_CUE_WORDS, prev_list::CUE),
            (EN_CUE_MID, prev_list::MID),
            (EN_CUE_WEAK, prev_list::WEAK),
        ];
        for (list, _) in lists {
            for w in list {
                assert_eq!(*w, w.to_ascii_lowercase(), "{w}");
            }
        }
        let bits = |w: &str| {
            lists
                .iter()
                .filter(|(l, _)| l.contains(&w))
                .fold(0, |b, (_, bit)| b | bit)
        };
        for (list, _) in lists {
            for w in list {
                assert_eq!(en_sets().prev_lists.get(w).unwrap_or(0), bits(w), "{w}");
            }
        }
    }

    proptest::proptest! {
        /// The one lookup of the word before a candidate finds the lists that contain it.
        #[test]
        fn prev_lists_are_the_lists_memberships(w in "[a-z']{0,8}|[a-z]{12,20}") {
            let lists = [
                (EN_HONORIFIC, prev_list::HONORIFIC),
                (EN_CUE_WORDS, prev_list::CUE),
                (EN_CUE_MID, prev_list::MID),
                (EN_CUE_WEAK, prev_list::WEAK),
            ];
            let bits = lists
                .iter()
                .filter(|(l, _)| l.contains(&w.as_str()))
                .fold(0, |b, (_, bit)| b | bit);
            proptest::prop_assert_eq!(en_sets().prev_lists.get(&w).unwrap_or(0), bits);
        }
    }

    /// The follower lookup by first two bytes finds what a comparison with each
    /// follower finds.
    #[test]
    fn followers_by_pair_same_as_the_list() {
        let mut heads: Vec<String> = EN_NAME_FOLLOWERS
            .iter()
            .flat_map(|w| {
                [
                    w.to_string(),
                    format!("{w}xyz"),
                    w[..w.len() - 1].to_string(),
                ]
            })
            .collect();
        heads
            .extend(["", " ", "'", " s", " said", " sa", "\u{2019}", " from th"].map(String::from));
        for h in &heads {
            let linear = EN_NAME_FOLLOWERS.iter().any(|w| h.starts_with(w));
            assert_eq!(starts_with_follower(h), linear, "{h:?}");
        }
    }

    #[test]
    fn lone_first_names_from_where_they_stand() {
        assert_eq!(spans("omg tell Hazel the party starts at 9"), ["Hazel"]);
        assert_eq!(spans("[10:42] Sara: are we still on for lunch?"), ["Sara"]);
        assert_eq!(spans("Steven, can you take a look at this?"), ["Steven"]);
        assert_eq!(
            spans(r#"{"first_name": "Karine", "last_name": "Dorsey"}"#),
            ["Karine", "Dorsey"]
        );
        // An acronym before a colon is not a speaker, nor one after a label.
        assert!(spans("IBAN: GB82 WEST 1234").is_empty());
        assert!(spans("Bank details: IBAN <IBAN>, account holder").is_empty());
    }

    #[test]
    fn names_in_table_columns_under_a_name_header() {
        assert_eq!(
            spans("姓名,出生日期,电话\n蓝遭颡,1990-01-01,13800000000"),
            ["蓝遭颡"]
        );
        assert_eq!(
            spans("| Name | DOB |\n|---|---|\n| Muoi Tran | 1990-01-01 |"),
            ["Muoi Tran"]
        );
        // A product column is not a name column.
        assert!(spans("product_name,price\nApple Watch,300").is_empty());
    }

    #[test]
    fn compound_and_rare_surnames_of_the_hundred_families() {
        assert_eq!(spans("出租人：公孙林，联系电话待补"), ["公孙林"]);
        assert_eq!(spans("请把发票寄给尉迟淑华，地址见附件"), ["尉迟淑华"]);
        assert_eq!(spans("您好，我是殳定轩，订单一直没发货"), ["殳定轩"]);
    }

    /// A letter's closing formulae are no names though they start with a surname (敬礼
    /// is even tagged as a name in the word list), and 和 before a nickname is the
    /// conjunction, not a surname.
    #[test]
    fn letter_formulae_and_the_conjunction_before_nicknames() {
        for text in [
            "此致\n敬礼\n",
            "祝好\n",
            "即颂\n时祺\n",
            "我和小李去吃饭",
            "老张和小李都去了。",
        ] {
            assert!(spans(text).is_empty(), "{text}: {:?}", spans(text));
        }
        assert_eq!(spans("此致\n敬礼\n王建国"), ["王建国"]);
        assert_eq!(spans("我和李建国去吃饭"), ["李建国"]);
        // 年 and 时 after a number are units, 转 no given name (请把钱转到).
        for text in [
            "张三丰，男，1985年生，",
            "2020年生产的",
            "下午三时许",
            "请把钱转到卡里",
        ] {
            assert!(
                !spans(text).iter().any(|n| n.contains(['年', '时', '钱'])),
                "{text}: {:?}",
                spans(text)
            );
        }
    }

    #[test]
    fn chinese_names_with_and_without_cues() {
        assert_eq!(spans("联系人：王芳超，电话"), ["王芳超"]);
        assert_eq!(spans("收件人【 李娜 】"), ["李娜"]);
        assert_eq!(spans("负责人是欧阳娜娜。"), ["欧阳娜娜"]);
        assert_eq!(spans("请转告赵玲女士尽快回电"), ["赵玲"]);
        assert_eq!(spans("张伟昨天去了医院。"), ["张伟"]);
        assert!(spans("今天是周末，马上就到。").is_empty());
        assert!(spans("王者荣耀很好玩").is_empty());
        assert!(spans("上周三收到短信说要退货").is_empty());
        // Ticket roles, parties in court and police records; relatives after a name.
        assert_eq!(spans("处理人 林涛，状态 已解决"), ["林涛"]);
        assert_eq!(spans("嫌疑人贾建华，男，汉族"), ["贾建华"]);
        assert_eq!(spans("原告：库佩芬，男"), ["库佩芬"]);
        assert_eq!(spans("李建国家属请到护士站"), ["李建国"]);
        assert!(spans("国家的法律").is_empty());
        // The value of a data key naming a person; not a division's name.
        assert_eq!(
            spans("[INFO] 实名认证通过 name=茅镶藐 csrq=1990-01-01"),
            ["茅镶藐"]
        );
        assert_eq!(spans(r#"{"xm": "殳君昊", "xb": "男"}"#), ["殳君昊"]);
        assert!(spans(r#"{"city": {"name": "北京"}}"#).is_empty());
    }

    #[test]
    fn english_names() {
        assert_eq!(spans("My name is Chloe Walker and I"), ["Chloe Walker"]);
        assert_eq!(spans("Dear Mr. O'Brien,"), ["O'Brien"]);
        assert_eq!(
            spans("Olivia Bennett moved to Ohio last year."),
            ["Olivia Bennett"]
        );
        assert_eq!(spans("Thanks for the help.\n\nBest,\nEmily"), ["Emily"]);
        assert_eq!(spans("Hi Sarah, the parcel is late."), ["Sarah"]);
        assert!(spans("The Great Wall is long").is_empty());
        assert!(spans("Hi Team, the New York office").is_empty());
        assert!(spans("We met at Garcia LLC in May.").is_empty());
    }

    /// Names from outside the US lists (`cue::STRANGER`): a listed first name with a
    /// surname no list knows, an unknown first name with a listed surname (as the shadow
    /// reads them, diacritics folded); two unknown words need a cue; a common word is no
    /// stranger.
    #[test]
    fn half_known_names_from_outside_the_lists() {
        assert_eq!(spans("A tribute to Lars Wiik, sadly."), ["Lars Wiik"]);
        assert_eq!(
            spans("I want to add Frederikke Jorgensen as a beneficiary"),
            ["Frederikke Jorgensen"]
        );
        assert_eq!(
            spans("I'm Nicephorus Baranov, originally from Oslo."),
            ["Nicephorus Baranov"]
        );
        assert!(spans("the Nicephorus Baranov effect").is_empty());
        assert!(spans("A tribute to Lars Everywhere, sadly.").is_empty());
    }

    /// A stranger alone is a name after a naming phrase (`my name is`, `named`, `call
    /// me`) or listed after a name; elsewhere (a town's line in an address block, before
    /// a name) it is not.
    #[test]
    fn lone_strangers_after_naming_or_listed_with_names() {
        assert_eq!(spans("My name is Stefanija"), ["Stefanija"]);
        assert_eq!(spans("Her maiden name is Ivancic"), ["Ivancic"]);
        assert_eq!(spans("Sometimes people call me Wislawa"), ["Wislawa"]);
        assert_eq!(
            spans("They had 3: Ann Lee, Evdokim and Mary."),
            ["Ann Lee", "Evdokim", "Mary"]
        );
        assert!(!spans("Sihgned, Ann Lee").contains(&"Sihgned".to_string()));
        assert!(spans("We flew to Reykjavik yesterday").is_empty());
        assert!(spans("Kringlan is nice").is_empty());
        assert!(spans("This is Kubernetes").is_empty());
    }

    /// English after a Chinese sentence starts as after a line break: the heuristics
    /// that read a line or sentence start (a person addressed, a subject acting, an
    /// action item, a speaker, a sign-off) find the same names as in English text alone.
    /// A contact line's label is no speaker, though `Tel` is in the first-name list.
    #[test]
    fn a_contact_label_is_not_a_speaker() {
        for text in [
            "Tel: 86-21-6234-5678",
            "Bob Smith\nTel: 020 7946 0958",
            "Fax: 555",
            "Ref: INV-2024-00123",
            "Memo: budget for Q3",
        ] {
            assert!(
                spans(text)
                    .iter()
                    .all(|s| !["Tel", "Fax", "Ref", "Memo"].contains(&s.as_str())),
                "{text}: {:?}",
                spans(text)
            );
        }
        assert_eq!(spans("[10:45] Clarinda: on my way"), ["Clarinda"]);
    }

    #[test]
    fn english_names_after_a_chinese_sentence() {
        for (english, name) in [
            ("Orval, can you take a look at the contract?", "Orval"),
            ("Romero scored twice before half-time.", "Romero"),
            ("Deane to follow up with the vendor by Friday.", "Deane"),
            ("Walton: did you lock up?", "Walton"),
            ("Cleo looked at the clock and sighed.", "Cleo"),
        ] {
            assert_eq!(spans(english), [name], "{english}");
            for chinese in ["手续已经办好了。", "请问您在吗？", "太好了！", "已封禁。 "]
            {
                let text = format!("{chinese}{english}");
                assert_eq!(spans(&text), [name], "{text}");
            }
        }
        // A sign-off after a dash, and the line before it read back over the full stop's
        // three bytes (a one-byte line break was assumed: a panic on a char boundary).
        assert_eq!(spans("航班日期：2026/06/07。— Frida"), ["Frida"]);
        assert_eq!(spans("谢谢。\nBest,\nFrida"), ["Frida"]);
    }

    #[test]
    fn english_names_from_citations_action_items_handovers_and_rows() {
        assert_eq!(
            spans("Lloyd et al. (2019) showed that the effect persists."),
            ["Lloyd"]
        );
        assert_eq!(spans("It was Murray who found the keys."), ["Murray"]);
        assert_eq!(
            spans("Passenger: Smith/Damien MR  Seat 14C"),
            ["Smith", "Damien"]
        );
        assert_eq!(
            spans("Deane to follow up with the vendor by Friday."),
            ["Deane"]
        );
        assert_eq!(spans("Escalated to Gallagher in tier 2."), ["Gallagher"]);
        assert_eq!(spans("She handed the letter to Smith and left."), ["Smith"]);
        assert_eq!(spans("Reservation for Jones, party of 4."), ["Jones"]);
        assert_eq!(spans("Grandma Mellie's apple pie"), ["Mellie"]);
        assert_eq!(
            spans("This confirms that Leoma (date of birth 1990-01-01) is on leave."),
            ["Leoma"]
        );
        assert_eq!(spans("1024,Forster,Paul,M,1987-03-02"), ["Forster", "Paul"]);
        assert_eq!(
            spans("first,last,plan\nEmily,Stone,basic"),
            ["Emily", "Stone"]
        );
        // Not people: a drive to a town, a state's second word, towns in a row.
        assert!(spans("We drove to Boston on Friday.").is_empty());
        assert!(spans("Please send the package to Boston by Friday.").is_empty());
        assert!(spans("Please forward the parcel to Boston.").is_empty());
        assert!(spans("Tourists in Paris who arrive early get a discount.").is_empty());
        assert!(spans("South Carolina beat the visitors again.")
            .iter()
            .all(|s| s != "Carolina"));
        assert!(spans("id,city,state\n7,Austin,Dallas").is_empty());
    }

    /// A list raises its weak names one after another from a strong one: a raised name
    /// raises the next (`Bobby` raises `Derek`).
    #[test]
    fn a_list_raises_its_names_in_a_chain() {
        assert_eq!(
            spans("On the rota: Ann Lee (Mon), Bobby (Tue), Derek (Wed)"),
            ["Ann Lee", "Bobby", "Derek"]
        );
    }

    /// A rare first name acting after an opening phrase and its comma is the sentence's
    /// subject, as at the sentence's start; a town after an address's comma is not.
    #[test]
    fn lone_names_after_an_opening_phrase() {
        assert_eq!(
            spans("Behind the counter, Lachelle counted the coins twice."),
            ["Lachelle"]
        );
        assert_eq!(spans("After lunch, Ellyn called the bank."), ["Ellyn"]);
        assert!(after_an_opening_phrase("Well. After lunch,"));
        assert!(!after_an_opening_phrase("Ship to 12 Pine Dr,"));
        assert!(!after_an_opening_phrase("In 2019,"));
        assert!(!after_an_opening_phrase(
            "After the long and boring meeting with the board,"
        ));
        assert!(spans("Behind the counter, Coins were counted twice.").is_empty());
    }

    #[test]
    fn lone_english_names_from_rarity_sign_offs_adverbs_and_workplaces() {
        // In a name list and no English word.
        assert_eq!(
            spans("Yesterday Okafor said the invoice was wrong."),
            ["Okafor"]
        );
        assert_eq!(spans("Assigned to: Kowalczyk"), ["Kowalczyk"]);
        // A sign-off after a spaced dash ending a one-line message.
        assert_eq!(spans("Goodnight everyone - Tobias"), ["Tobias"]);
        // A verb after an adverb.
        assert_eq!(
            spans("I think Fitzgerald already approved it."),
            ["Fitzgerald"]
        );
        // A first name and where the person works.
        assert_eq!(
            spans("Winston from accounts will call you back."),
            ["Winston"]
        );
        // Roles in court filings and police reports; an invoice's party; data keys
        // and label separators of logs and waybills.
        assert_eq!(
            spans("Plaintiff Hargrove argues that the lease was void."),
            ["Hargrove"]
        );
        assert_eq!(spans("BILL TO: Harcourt"), ["Harcourt"]);
        assert_eq!(spans("Consignee / Okonkwo"), ["Okonkwo"]);
        assert_eq!(
            spans("[10:22:05] INFO user=Fenwick action=login"),
            ["Fenwick"]
        );
        assert_eq!(spans(r#"{"approved_by": "Thorne"}"#), ["Thorne"]);
        assert!(spans("the defendant, Rentokil Initl., failed to pay").is_empty());
        // Not people: surnames joined by an ampersand name a firm.
        assert!(spans("She joined Procter & Gamble in 2010.").is_empty());
        assert!(spans("finance chief of Procter & Gamble on Monday").is_empty());
    }

    #[test]
    fn english_names_from_mentions_appositions_and_listings() {
        assert_eq!(spans("@Rachel can you review the PR?"), ["Rachel"]);
        assert_eq!(spans("Atkinson, 34, was charged with theft."), ["Atkinson"]);
        assert_eq!(
            spans("IN RE THE ESTATE OF Laura Mendez, Deceased."),
            ["Laura Mendez"]
        );
        assert_eq!(spans("hey it's Oneida, text me later"), ["Oneida"]);
        assert_eq!(spans("Great quote.\n— Gonzalo"), ["Gonzalo"]);
        assert_eq!(spans("— Gonzalo"), ["Gonzalo"]);
        assert_eq!(
            spans("Dear parents of Valentine, the trip is on."),
            ["Valentine"]
        );
        assert_eq!(
            spans("On call: Ann Lee (Mon–Wed), Austin (Thu–Sun)."),
            ["Ann Lee", "Austin"]
        );
        // A month or a state reads as a name beside a name, a cue or a verb of speech,
        // and as a date or a place beside a number or a preposition.
        assert_eq!(
            spans("Lauran May moved to Vista last year."),
            ["Lauran May"]
        );
        assert_eq!(
            spans("Jan T. Moses presented with chest pain."),
            ["Jan T. Moses"]
        );
        assert_eq!(spans("ok so Georgia said maybe"), ["Georgia"]);
        assert!(spans("We met on May 5 and again in May.").is_empty());
        // Between "the" and a noun, or after "St.", a capitalised name is a place's.
        assert!(spans("we are going to the Jackson game tonight").is_empty());
        assert!(spans("Five stars for the St. Louis Park branch!").is_empty());
        // A common noun before a colon on a form is a label, not a speaker.
        assert!(!spans("Student: Ann Lee\nTutor: Wells").contains(&"Tutor".to_string()));
    }
}

/// The Chinese scan as it read before its lookups were made lazy and pruned (every
/// context looked at, the word list read from the text): the fast scan must find the
/// same candidates with the same scores for any text and floor.
#[cfg(test)]
mod zh_reference {
    use super::*;

    fn left(chars: &[(usize, char)], k: usize) -> (bool, bool, bool) {
        let mut t = k;
        while t > 0 && is_sep(chars[t - 1].1) {
            t -= 1;
        }
        let had_sep = t < k;
        let trimmed = &chars[..t];
        let particle = if had_sep {
            None
        } else {
            cue_before_particle(trimmed)
        };
        let strong = cues().strong.ends(trimmed) || particle == Some(0.4);
        let weak = !had_sep && cues().weak.ends(trimmed) || particle == Some(0.15);
        let boundary = trimmed.is_empty()
            || had_sep
            || trimmed
                .last()
                .is_some_and(|&(_, c)| !is_han(c) || matches!(c, '。' | '！' | '？' | '；'));
        (strong, weak, boundary)
    }

    fn right(after: &[(usize, char)]) -> (bool, bool, bool) {
        let gap = after
            .iter()
            .take_while(|&&(_, c)| matches!(c, ',' | '，' | '(' | '（' | ' ' | '、'))
            .count();
        let sex = matches!(after.get(gap), Some((_, '男' | '女')))
            && after
                .get(gap + 1)
                .is_none_or(|&(_, c)| !is_han(c) || c == '性');
        let strong = sex || cues().after_strong.starts(after);
        let weak = cues().after_weak.starts(after);
        let boundary = after.first().is_none_or(|&(_, c)| !is_han(c));
        (strong, weak, boundary)
    }

    fn words_from(lex: &Lexicon, text: &str, s: usize) -> Vec<(usize, usize, ZhWordAt)> {
        let mut out = Vec::new();
        let mut key = Packer::default();
        for (i, (off, c)) in text[s..].char_indices().enumerate() {
            if i > 0 && !(is_han(c) && i <= 3) {
                break;
            }
            key.push(c);
            if i > 0 {
                let e = s + off + c.len_utf8();
                let w = key
                    .key()
                    .and_then(|key| lex.zh_word_key(key))
                    .map(|(f, k)| (e, f, k));
                out.push((i, e, w));
            }
        }
        out
    }

    fn word_at(lex: &Lexicon, text: &str, s: usize) -> ZhWordAt {
        words_from(lex, text, s).into_iter().rev().find_map(|w| w.2)
    }

    fn word_pen(lex: &Lexicon, text: &str, s: usize, min_end: usize) -> f32 {
        let mut pen: f32 = 0.0;
        for (i, e, w) in words_from(lex, text, s) {
            if e < min_end {
                continue;
            }
            if let Some((_, f, k)) = w {
                let full_name =
                    k == WordKind::Person && i == 2 && lex.zh_division(&text[s..e]).is_none();
                if !full_name {
                    pen = pen.max(word_penalty(k, f));
                }
            }
        }
        pen
    }

    fn scan(text: &str, floor: f32, matters: f32) -> Vec<Detection> {
        let lex = lexicon();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let chars = &chars[..];
        let mut out = Vec::new();
        let prune = matters - 0.02 - 1e-4;
        let mut last_end = 0;
        let n = chars.len();
        let byte_at = |k: usize| chars.get(k).map_or(text.len(), |c| c.0);
        for k in 0..n {
            let (s, c) = chars[k];
            if !is_han(c) || conjunction_before_nickname(chars, k) || unit_after_number(chars, k) {
                continue;
            }
            let (sl_chars, sur) = match lex.zh_compound_at(&text[s..]) {
                Some((_, score)) => (2, 0.6 + 0.4 * score),
                None if lex.zh_surname(c) > 0.0 => (1, lex.zh_surname(c)),
                None => continue,
            };
            if s < last_end {
                continue;
            }
            let mut g = Vec::new();
            for &(_, c) in &chars[(k + sl_chars).min(n)..(k + sl_chars + 2).min(n)] {
                if !is_han(c) || not_given(c) {
                    break;
                }
                g.push((c, lex.zh_given(c)));
            }
            if g.is_empty() {
                continue;
            }
            let (strong, weak, boundary) = left(chars, k);
            let left = if strong {
                0.4
            } else if weak {
                0.15
            } else if boundary {
                0.12
            } else if zh_word_ends_at(lex, chars, k) {
                0.08
            } else {
                0.0
            };
            let mut best: Option<(usize, f32)> = None;
            for glen in 1..=g.len() {
                let e = byte_at(k + sl_chars + glen);
                let given: f32 = g[..glen].iter().map(|x| x.1).sum::<f32>() / glen as f32;
                let (t_strong, t_weak, t_boundary) = right(&chars[k + sl_chars + glen..]);
                let base = 0.05
                    + 0.2 * sur
                    + 0.3 * given
                    + if glen == 2 { 0.03 } else { 0.0 }
                    + if given == 0.0 { -0.15 } else { 0.0 }
                    + left;
                let right = if t_strong {
                    0.35
                } else if t_boundary {
                    0.12
                } else if t_weak {
                    0.1
                } else if base + 0.05 >= floor
                    && word_at(lex, text, e).is_some_and(|w| w.2 == WordKind::Common)
                {
                    0.05
                } else {
                    0.0
                };
                let evidence = base + right;
                if evidence < floor {
                    continue;
                }
                let mut pen = word_pen(lex, text, s, byte_at(k + sl_chars + 1));
                if evidence - pen < prune {
                    continue;
                }
                let covering = zh_covering_penalty(lex, chars, k);
                if evidence - covering < prune {
                    continue;
                }
                if !t_strong {
                    let last_given = byte_at(k + sl_chars + glen - 1);
                    if let Some((we, f, kind)) = word_at(lex, text, last_given) {
                        if we > e {
                            let full = matches!(kind, WordKind::Place | WordKind::Org);
                            pen = pen.max(word_penalty(kind, f) - if full { 0.0 } else { 0.25 });
                        }
                    }
                }
                if cues().org_suffix.starts(&chars[k + sl_chars + glen..]) {
                    pen = pen.max(0.5);
                }
                let given_span = &text[byte_at(k + sl_chars)..e];
                if glen == 2 && !strong && !weak && !boundary {
                    if let Some((_, WordKind::Place | WordKind::Org)) = lex.zh_word(given_span) {
                        pen = pen.max(0.5);
                    }
                }
                let score = evidence - pen.max(covering);
                if best.is_none_or(|(_, b)| score > b + 0.02) {
                    best = Some((e, score));
                }
            }
            if let Some((e, score)) = best.filter(|&(e, _)| !letter_formula(&text[s..e])) {
                push(&mut out, s, e, score);
                if score >= 0.5 {
                    last_end = e;
                }
            }
        }
        out
    }

    fn digest(found: &[Detection]) -> Vec<(usize, usize, u32)> {
        found
            .iter()
            .map(|d| (d.start, d.end, d.score.to_bits()))
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Surnames, given-name characters, cues, titles, followers, common words,
        /// separators and a few other characters in any order (not any character: a
        /// class with `\PC` draws almost none of the listed ones), at the default
        /// floor and higher ones.
        #[test]
        fn fast_scan_finds_what_the_full_scan_finds(
            text in "[王李张欧阳司马上官东方长孙诸葛伟芳娜建国华明海燕小姐先生经理女士说的在是已和与叫给请由姓名联系人收件人：:，、。！ （）男女性高兴周末温马上公司科技有限开会李建国家属签字老敬礼年时三a1 \\né]{0,24}",
            floor in proptest::sample::select(vec![0.3f32, 0.35, 0.45, 0.5, 0.6, 0.8]),
            matters in proptest::sample::select(vec![0.05f32, 0.2, 0.3, 0.5]),
        ) {
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            let may_start: Vec<usize> = (0..chars.len())
                .filter(|&k| may_start_surname(chars[k].1))
                .collect();
            let mut fast = Vec::new();
            scan_zh_chars(lexicon(), &text, &chars, &may_start, floor, matters, &mut fast);
            proptest::prop_assert_eq!(digest(&fast), digest(&scan(&text, floor, matters)));
        }
    }
}
