//! `report.html`: the customs declaration a reviewer reads — one self-contained file (no
//! script, no external font, style or image), printable, in Chinese or English. Summary
//! first, then charts as inline SVG, then the field table and the evidence list.
//!
//! Invariants: rendered from the report as it ships (so an aggregates-only export's page
//! holds no exact count either); every string from the data is HTML-escaped.

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

pub const FILE: &str = "report.html";

/// Report language.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    Default,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Zh,
}

fn t(lang: Lang, en: &'static str, zh: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A horizontal bar chart; `err` gives optional ± half-widths (DP error bars).
fn bars(title: &str, items: &[(String, f64, Option<f64>)], color: &str) -> String {
    if items.is_empty() {
        return String::new();
    }
    let items = &items[..items.len().min(40)];
    let label_w = 180.0;
    let width = 640.0;
    let row = 22.0;
    let h = items.len() as f64 * row + 30.0;
    let max = chart_max(items);
    let scale = (width - label_w - 70.0) / max;
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{h}\" role=\"img\">",
        esc(title)
    );
    for (i, (label, v, e)) in items.iter().enumerate() {
        let y = 10.0 + i as f64 * row;
        // A value past the chart's scale is drawn to the edge, broken, with its number.
        let clipped = v.abs() > max;
        let w = (v.max(0.0) * scale).clamp(0.5, max * scale);
        let e = if clipped { &None } else { e };
        // Error bars end at the chart's edge.
        let e = &e.map(|e| e.min(max * 1.08 - v.max(0.0)).max(0.0));
        let _ = write!(
            s,
            "<text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"12\">{l}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bh}\" fill=\"{color}\"/>",
            x = label_w - 6.0,
            ty = y + 13.0,
            l = esc(&truncate(label, 28)),
            bh = row - 6.0,
        );
        if let Some(e) = e {
            let (x0, x1) = (
                label_w + ((v - e).max(0.0)) * scale,
                label_w + (v + e) * scale,
            );
            let cy = y + (row - 6.0) / 2.0;
            let _ = write!(
                s,
                "<line x1=\"{x0:.1}\" y1=\"{cy}\" x2=\"{x1:.1}\" y2=\"{cy}\" stroke=\"#333\"/><line x1=\"{x0:.1}\" y1=\"{a}\" x2=\"{x0:.1}\" y2=\"{b}\" stroke=\"#333\"/><line x1=\"{x1:.1}\" y1=\"{a}\" x2=\"{x1:.1}\" y2=\"{b}\" stroke=\"#333\"/>",
                a = cy - 4.0,
                b = cy + 4.0
            );
        }
        if clipped {
            let _ = write!(
                s,
                "<rect x=\"{bx:.1}\" y=\"{y}\" width=\"4\" height=\"{bh}\" fill=\"#fff\" transform=\"skewX(-20)\" transform-origin=\"{bx:.1} {y}\"/>",
                bx = label_w + w - 14.0,
                bh = row - 6.0,
            );
        }
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{ty}\" font-size=\"11\" fill=\"#444\">{v}{mark}</text>",
            x = label_w + w + 4.0 + e.map_or(0.0, |e| e * scale),
            ty = y + 13.0,
            v = num(*v),
            mark = if clipped { " ≫" } else { "" }
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// The value a chart's full width stands for: the largest bar, unless one bar is more
/// than four times the next (one noisy group must not flatten every other bar): then
/// 1.25 times the next, and the larger bars are drawn broken at the edge.
fn chart_max(items: &[(String, f64, Option<f64>)]) -> f64 {
    // Values only: an error bar past the edge is cut there, never rescales the chart.
    let mut v: Vec<f64> = items.iter().map(|(_, v, _)| v.abs()).collect();
    v.sort_by(|a, b| b.total_cmp(a));
    let top = v.first().copied().unwrap_or(0.0).max(1e-9);
    match v.get(1) {
        Some(&second) if v.len() >= 3 && second > 0.0 && top > 4.0 * second => 1.25 * second,
        _ => top,
    }
}

/// One summary row: a label, its cell (HTML, already escaped) and, for a verdict, whether
/// it passed (green) or not (red).
fn row(h: &mut String, label: &str, cell: &str, passed: Option<bool>) {
    let class = match passed {
        Some(true) => " class=\"ok\"",
        Some(false) => " class=\"bad\"",
        None => "",
    };
    let _ = write!(h, "<tr><th>{}</th><td{class}>{cell}</td></tr>", esc(label));
}

/// The strings of a JSON array, joined by ", ".
fn joined(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

fn counts(v: &Value) -> Vec<(String, f64, Option<f64>)> {
    let mut out: Vec<(String, f64, Option<f64>)> = v
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, n)| n.as_f64().map(|n| (k.clone(), n, None)))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// Renders the page for an export staged in `dir`, from its report as shipped.
pub fn render(report: &Value, dir: &Path, lang: Lang) -> String {
    let mut h = String::new();
    page_head(&mut h, report, lang);
    summary(&mut h, report, lang);
    pi_notice(&mut h, report, lang);
    dp_section(&mut h, report, lang);
    charts(&mut h, report, dir, lang);
    fields_table(&mut h, report, lang);
    evidence_list(&mut h, report, dir, lang);
    h
}

/// The document head, style and title line.
fn page_head(h: &mut String, report: &Value, lang: Lang) {
    let title = t(lang, "Customs declaration", "数据出境申报");
    let _ = write!(
        h,
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{title} — {}</title><style>\
         body{{font-family:system-ui,'Noto Sans CJK SC','PingFang SC',sans-serif;max-width:960px;margin:2em auto;color:#222}}\
         h1{{font-size:1.6em}}h2{{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:.92em}}\
         .ok{{color:#176b2c;font-weight:bold}}.bad{{color:#a40000;font-weight:bold}}figure{{margin:1em 0}}figcaption{{font-weight:600;margin-bottom:.3em}}\
         .note{{background:#f6f6f6;padding:.6em 1em;border-left:4px solid #888}}.pi{{background:#fff4e5;border-left-color:#d08a2c}}\
         table.summary th{{width:32%;white-space:nowrap}}@media print{{h2{{break-after:avoid}}figure{{break-inside:avoid}}}}\
         </style></head><body>",
        if lang == Lang::Zh { "zh-CN" } else { "en" },
        esc(report["run_id"].as_str().unwrap_or(""))
    );
    let _ = write!(
        h,
        "<h1>{title}</h1><p>{} <code>{}</code> · {} {} · {}</p>",
        t(lang, "Run", "运行"),
        esc(report["run_id"].as_str().unwrap_or("")),
        t(lang, "pipeline", "流水线"),
        esc(report["pipeline"]["name"].as_str().unwrap_or("")),
        esc(report["finished_at"].as_str().unwrap_or(""))
    );
}

/// The summary table: status, rows, the assessment's verdicts.
fn summary(h: &mut String, report: &Value, lang: Lang) {
    let status = report["status"].as_str().unwrap_or("?");
    let _ = write!(
        h,
        "<h2>{}</h2><table class=\"summary\">",
        t(lang, "Summary", "概要")
    );
    let status_text = match (lang, status) {
        (Lang::Zh, "complete") => "完成",
        (Lang::Zh, "refused") => "已拒绝",
        _ => status,
    };
    row(
        h,
        t(lang, "Status", "状态"),
        &esc(status_text),
        Some(status == "complete"),
    );
    let rows = &report["rows"];
    if rows.is_object() {
        for (k, en, zh) in [
            ("in", "Rows in", "输入行数"),
            ("out", "Rows out", "输出行数"),
            ("duplicates", "Dropped as duplicates", "去重删除"),
            ("quarantined", "Quarantined", "隔离"),
        ] {
            row(h, t(lang, en, zh), &rows[k].to_string(), None);
        }
    } else if let Some(w) = report["withheld"]["why"].as_str() {
        let w = match lang {
            Lang::Zh => "仅输出聚合结果：只发布差分隐私统计；精确计数会泄露噪声所保护的信息",
            Lang::En => w,
        };
        row(h, t(lang, "Row counts", "行数"), &esc(w), None);
    }
    let a = &report["assessment"];
    if a.is_object() {
        assessment_rows(h, a, lang);
    }
    let r = &report["residual"];
    if r["scanned"] == true {
        let cell = format!("{} {}", r["hits"], t(lang, "detections left", "处残留"));
        let passed = r["gate"]["passed"].as_bool().unwrap_or(true);
        row(
            h,
            t(lang, "Residual PII re-scan", "残留个人信息复扫"),
            &cell,
            Some(passed),
        );
    }
    h.push_str("</table>");
}

/// A mechanism's name on the page.
fn mechanism(lang: Lang, m: &str) -> String {
    match (lang, m) {
        (Lang::Zh, "exempt") => "免予申报".into(),
        (Lang::Zh, "standard_contract") => "个人信息出境标准合同".into(),
        (Lang::Zh, "certification") => "个人信息保护认证".into(),
        (Lang::Zh, "security_assessment") => "数据出境安全评估".into(),
        (_, m) => m.replace('_', " "),
    }
}

/// The assessment's rows of the summary: exporter and recipient, the mechanism of this
/// export and of the year to date (red when the year's totals need more than this
/// export alone), subjects, k-anonymity, important data.
fn assessment_rows(h: &mut String, a: &Value, lang: Lang) {
    use crate::evidence::assessment::rank;
    for (k, en, zh) in [
        ("exporter", "Exporter", "数据处理者（出境方）"),
        ("recipient", "Recipient", "境外接收方"),
    ] {
        if let Some(v) = a[k].as_str() {
            row(h, t(lang, en, zh), &esc(v), None);
        }
    }
    let this = a["mechanism"].as_str().unwrap_or("");
    let ytd = a["year_to_date"]["mechanism"].as_str().unwrap_or("");
    let cell = format!(
        "<b>{}</b><br><small>{}</small>",
        esc(&mechanism(lang, this)),
        esc(a["basis"].as_str().unwrap_or(""))
    );
    row(
        h,
        t(
            lang,
            "Cross-border mechanism (this export)",
            "出境路径（本次）",
        ),
        &cell,
        None,
    );
    let escalated = rank(ytd) > rank(this);
    let cell = format!(
        "<b>{}</b> ({})<br><small>{}</small>{}",
        esc(&mechanism(lang, ytd)),
        a["year_to_date"]["year"],
        esc(a["year_to_date"]["basis"].as_str().unwrap_or("")),
        if escalated {
            format!(
                "<br>{}",
                t(
                    lang,
                    "The year's totals need more than this export alone: the export may leave only under that mechanism.",
                    "本年累计已超出本次单独所需：数据须按该路径方可出境。"
                )
            )
        } else {
            String::new()
        }
    );
    row(
        h,
        t(
            lang,
            "Cross-border mechanism (year to date)",
            "出境路径（本年累计）",
        ),
        &cell,
        escalated.then_some(false),
    );
    for (k, en, zh) in [
        ("distinct_subjects", "Data subjects", "个人信息主体"),
        (
            "sensitive_subjects",
            "Subjects with sensitive PI",
            "含敏感个人信息的主体",
        ),
    ] {
        if !a[k].is_null() {
            let cell = format!(
                "{} ({} {})",
                a[k],
                t(lang, "this year:", "本年："),
                a["year_to_date"][k]
            );
            row(h, t(lang, en, zh), &cell, None);
        }
    }
    let k = &a["k_anonymity"];
    if k.is_object() {
        let cell = format!(
            "k = {}{}{} ({})",
            k["k"],
            k["l"]
                .as_u64()
                .map(|l| format!(", l = {l}"))
                .unwrap_or_default(),
            k["min_k"]
                .as_u64()
                .map(|m| format!(", [gate] min_k = {m}"))
                .unwrap_or_default(),
            esc(&joined(&k["quasi_identifiers"]))
        );
        let passed = k["passed"].as_bool().unwrap_or(true);
        row(
            h,
            t(lang, "k-anonymity of the rows", "行级 k-匿名"),
            &cell,
            Some(passed),
        );
    }
    if a["important_data"]["fields"].is_array() {
        let cell = format!(
            "{} — {} <code>{}</code>",
            esc(&joined(&a["important_data"]["fields"])),
            t(lang, "acknowledged:", "确认："),
            esc(a["important_data"]["acknowledged"].as_str().unwrap_or(""))
        );
        row(
            h,
            t(
                lang,
                "Important data (GB/T 43697)",
                "重要数据（GB/T 43697）",
            ),
            &cell,
            None,
        );
    }
}

/// Fields that still carry personal information in the export (tokens, ciphertext,
/// masked text): named in a notice, whatever the assessment says.
fn pi_notice(h: &mut String, report: &Value, lang: Lang) {
    let mut kept: Vec<String> = Vec::new();
    if let Some(o) = report["techniques"].as_object() {
        for (f, ts) in o {
            let ts = joined(ts);
            if ts.contains("token") || ts.contains("encryption") {
                kept.push(format!("{f} ({ts})"));
            }
        }
    }
    let a = &report["assessment"];
    // The assessment's own words, or the same statement when there is none.
    let text = match (lang, a["status"].as_str()) {
        (_, None) if kept.is_empty() => return,
        (Lang::Zh, _) => crate::evidence::assessment::STATUS_ZH,
        (Lang::En, s) => s.unwrap_or(crate::evidence::assessment::STATUS),
    };
    let fields = if kept.is_empty() {
        String::new()
    } else {
        format!(
            " {} {}",
            t(lang, "Fields:", "字段："),
            esc(&kept.join("; "))
        )
    };
    let _ = write!(h, "<p class=\"note pi\">{}{fields}</p>", esc(text));
}

/// The DP vocabulary of the report, in the page's language.
fn dp_words(lang: Lang, s: &str) -> String {
    if lang == Lang::En {
        return s.to_string();
    }
    let mut out = s.to_string();
    for (en, zh) in [
        ("clamped to the sign the bounds allow", "按界限截断符号"),
        ("clamped to the bounds", "截断到界限内"),
        ("negative counts set to 0", "负计数置为 0"),
        ("not clamped", "未截断"),
        ("rounded to the resolution", "按精度取整"),
        ("rounded to integers", "取整"),
        ("discrete Laplace", "离散拉普拉斯"),
        ("discrete Gaussian", "离散高斯"),
        ("private (Laplace thresholding)", "私有键（拉普拉斯阈值）"),
        ("public", "公开键"),
        ("; ", "；"),
    ] {
        out = out.replace(en, zh);
    }
    out
}

/// The differential-privacy facts of each release: privacy unit, mechanism, ε, ρ, δ,
/// contribution bounds, threshold, post-processing, and the dataset's budget.
fn dp_section(h: &mut String, report: &Value, lang: Lang) {
    let stages = report["stages"].as_array().cloned().unwrap_or_default();
    let Some(st) = stages.iter().find(|s| s["type"] == "dp_release") else {
        return;
    };
    let info = &st["findings"]["info"];
    let unit = info["privacy_unit"]["column"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| {
            t(
                lang,
                "each record (no privacy_unit)",
                "每条记录（未设隐私单位）",
            )
            .into()
        });
    let _ = write!(
        h,
        "<h2>{}</h2><p>{} <b>{}</b> · {} <code>{}</code></p><table><tr><th>{}</th><th>{}</th><th>ε</th><th>ρ</th><th>δ</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(lang, "Differential privacy", "差分隐私"),
        t(lang, "Privacy unit:", "隐私单位："),
        esc(&unit),
        t(lang, "dataset", "数据集"),
        esc(&truncate(info["dataset_id"].as_str().unwrap_or(""), 20)),
        t(lang, "Release", "发布"),
        t(lang, "Mechanism", "机制"),
        t(lang, "Contribution bounds", "贡献上限"),
        t(lang, "Threshold", "发布阈值"),
        t(lang, "Post-processing", "后处理"),
    );
    for rel in info["releases"].as_array().cloned().unwrap_or_default() {
        let b = &rel["bounding"];
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{} {} · {} {}{}</td><td>{}</td><td>{}</td></tr>",
            esc(rel["name"].as_str().unwrap_or("")),
            esc(&dp_words(lang, rel["mechanism"].as_str().unwrap_or(""))),
            esc(&dp_words(lang, rel["group_keys"].as_str().unwrap_or(""))),
            rel["epsilon"],
            rel["rho"],
            rel["delta"],
            b["max_partitions"],
            t(lang, "groups", "个分组"),
            b["max_rows_per_partition"],
            t(lang, "rows per group", "行/组"),
            rel["clamp"].as_array().map(|c| format!(" · {} [{}, {}]", t(lang, "clamp", "截断"), c[0], c[1])).unwrap_or_default(),
            rel["threshold"].as_u64().map(|x| x.to_string()).unwrap_or_else(|| "—".into()),
            esc(&dp_words(lang, rel["post_processing"].as_str().unwrap_or(""))),
        );
    }
    h.push_str("</table>");
    let tot = &info["ledger"]["totals_after"];
    let caps = &info["ledger"]["caps"];
    let part = |k: &str, sym: &str, cap: &str| -> String {
        let spent = tot[k].as_f64().unwrap_or(0.0);
        match caps[cap].as_f64() {
            Some(c) => format!(
                "{sym} {} / {c} ({} {})",
                num(spent),
                t(lang, "left", "剩余"),
                num((c - spent).max(0.0))
            ),
            None => format!("{sym} {}", num(spent)),
        }
    };
    let _ = write!(
        h,
        "<p>{} {} {}: {}; {}; δ {:e}{}</p>",
        t(
            lang,
            "Budget of this dataset after this run,",
            "本次运行后该数据集的预算："
        ),
        tot["releases"],
        t(lang, "release(s)", "次发布"),
        part("epsilon", "ε", "total_epsilon"),
        part("rho", "ρ", "total_rho"),
        tot["delta"].as_f64().unwrap_or(0.0),
        caps["total_delta"]
            .as_f64()
            .map(|c| format!(" / {c:e}"))
            .unwrap_or_default(),
    );
}

/// Charts, as inline SVG; no heading when there is nothing to chart.
fn charts(page: &mut String, report: &Value, dir: &Path, lang: Lang) {
    let a = &report["assessment"];
    let r = &report["residual"];
    let k = &a["k_anonymity"];
    let mut charts = String::new();
    let h = &mut charts;
    stage_charts(h, report, dir, lang);
    let fields = a["fields"].as_array().cloned().unwrap_or_default();
    let before: Vec<(String, f64, Option<f64>)> = fields
        .iter()
        .filter_map(|f| {
            let n: f64 = f["detected"]
                .as_object()?
                .values()
                .filter_map(Value::as_f64)
                .sum();
            (n > 0.0).then(|| (f["name"].as_str().unwrap_or("").to_string(), n, None))
        })
        .collect();
    h.push_str(&bars(
        t(
            lang,
            "PII found by field, as read (before any stage)",
            "各字段发现的个人信息（读入时，处理前）",
        ),
        &before,
        "#4a78b5",
    ));
    if r["scanned"] == true {
        h.push_str(&bars(
            t(
                lang,
                "PII left by field after every stage (after)",
                "全部处理后各字段残留的个人信息",
            ),
            &r["by_field"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(f, v)| {
                            let n = v
                                .as_object()
                                .map(|o| o.values().filter_map(Value::as_f64).sum())
                                .unwrap_or(0.0);
                            (f.clone(), n, None)
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
            "#c0504d",
        ));
    }
    if k.is_object() {
        let min_k = k["min_k"].as_u64();
        let items: Vec<(String, f64, Option<f64>)> = k["class_sizes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|b| {
                        (
                            format!(
                                "{} {}",
                                t(lang, "class size", "等价类大小"),
                                b["size"].as_str().unwrap_or("")
                            ),
                            b["records"].as_f64().unwrap_or(0.0),
                            None,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cap = format!(
            "{}{}",
            t(
                lang,
                "k-anonymity: records by the size of their equivalence class",
                "k-匿名：按所在等价类大小统计的记录数",
            ),
            min_k.map(|m| format!(" (min_k = {m})")).unwrap_or_default()
        );
        h.push_str(&bars(&cap, &items, "#d08a2c"));
    }
    if r["scanned"] == true {
        h.push_str(&bars(
            t(
                lang,
                "PII left after every stage, by type (after)",
                "全部处理后残留的个人信息（按类型）",
            ),
            &counts(&r["by_type"]),
            "#c0504d",
        ));
    }
    if !charts.is_empty() {
        let _ = write!(page, "<h2>{}</h2>{charts}", t(lang, "Charts", "图表"));
    }
}

/// Each stage's own chart: PII by type, duplicate clusters, DP releases with 95% bars.
fn stage_charts(h: &mut String, report: &Value, dir: &Path, lang: Lang) {
    let stages = report["stages"].as_array().cloned().unwrap_or_default();
    for st in &stages {
        let f = &st["findings"];
        match st["type"].as_str() {
            Some("deidentify") => {
                let mut by_type = counts(&f["totals"]);
                by_type.retain(|(k, _, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
                h.push_str(&bars(
                    t(
                        lang,
                        "PII found and replaced, by type (before)",
                        "发现并替换的个人信息（处理前，按类型）",
                    ),
                    &by_type,
                    "#4a78b5",
                ));
            }
            Some("dedup") => {
                let mut sizes = counts(&f["info"]["cluster_sizes"]);
                sizes.sort_by(|a, b| a.0.cmp(&b.0));
                h.push_str(&bars(
                    t(lang, "Duplicate clusters by size", "重复簇大小分布"),
                    &sizes,
                    "#8a6bb8",
                ));
            }
            Some("dp_release") => {
                for rel in f["info"]["releases"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let name = rel["name"].as_str().unwrap_or("");
                    let csv = dir.join("aggregates").join(format!("{name}.csv"));
                    let items = std::fs::read_to_string(&csv)
                        .map(|s| dp_items(&s))
                        .unwrap_or_default();
                    let cap = format!(
                        "{} {name} ({}, ε {} ρ {}; {})",
                        t(lang, "DP release", "差分隐私发布"),
                        dp_words(lang, rel["mechanism"].as_str().unwrap_or("")),
                        rel["epsilon"],
                        rel["rho"],
                        t(lang, "bars: 95% interval", "误差线：95% 区间")
                    );
                    h.push_str(&bars(&cap, &items, "#3f9a6b"));
                }
            }
            _ => {}
        }
    }
}

/// Every field: PI found, data grade, techniques, residual PII.
fn fields_table(h: &mut String, report: &Value, lang: Lang) {
    let a = &report["assessment"];
    let r = &report["residual"];
    let fields = a["fields"].as_array().cloned().unwrap_or_default();
    let _ = write!(
        h,
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(lang, "Fields", "字段"),
        t(lang, "Field", "字段"),
        t(lang, "PI found (as read)", "个人信息（读入时）"),
        t(lang, "Data grade", "数据级别"),
        t(lang, "Technique applied", "处理方式"),
        t(lang, "Residual PII", "残留")
    );
    let grade_of = |n: &str| -> (String, String) {
        match fields.iter().find(|f| f["name"] == n) {
            Some(f) => {
                let types = f["detected"]
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                let pi = match f["pi"].as_str() {
                    Some("sensitive PI") => t(lang, "sensitive PI", "敏感个人信息"),
                    Some("general PI") => t(lang, "general PI", "一般个人信息"),
                    Some(_) => t(lang, "no PI detected", "未发现个人信息"),
                    // Withheld from an aggregates-only export.
                    None => "—",
                };
                let grade = match f["data_grade"].as_str().unwrap_or("") {
                    "important" => t(lang, "important", "重要数据"),
                    "core" => t(lang, "core", "核心数据"),
                    _ => t(lang, "general", "一般数据"),
                };
                (
                    if types.is_empty() {
                        esc(pi)
                    } else {
                        format!("{}<br><small>{}</small>", esc(pi), esc(&types))
                    },
                    esc(grade),
                )
            }
            None => ("—".into(), "—".into()),
        }
    };
    let mut names: Vec<String> = report["output"]["schema"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // With an assessment, every input field is graded: list those (dropped or renamed
    // fields included).
    if !fields.is_empty() {
        names = fields
            .iter()
            .filter_map(|f| f["name"].as_str().map(String::from))
            .collect();
    }
    if names.is_empty() {
        names = report["input"]["schema"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
    }
    for n in names {
        let tech = techniques_of(&report["techniques"], &n)
            .unwrap_or_else(|| t(lang, "none", "无").to_string());
        let res = if r["scanned"] == true {
            r["by_field"][&n]
                .as_object()
                .map(|o| o.values().filter_map(Value::as_u64).sum::<u64>())
                .unwrap_or(0)
                .to_string()
        } else {
            t(lang, "not scanned", "未复扫").to_string()
        };
        let (mut pi, grade) = grade_of(&n);
        if pi == "—" {
            // Without an assessment: what the de-identification stages found in it.
            pi = found_by_stages(report, &n).unwrap_or(pi);
        }
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{pi}</td><td>{grade}</td><td>{}</td><td>{}</td></tr>",
            esc(&n),
            esc(&tech),
            esc(&res)
        );
    }
    h.push_str("</table>");
}

/// The techniques applied to field `n` and to the fields nested in it
/// (`masking (messages.content)`), or None.
fn techniques_of(all: &Value, n: &str) -> Option<String> {
    let o = all.as_object()?;
    let mut parts = Vec::new();
    for (path, ts) in o {
        if path == n {
            parts.push(joined(ts));
        } else if nested_in(path, n) {
            parts.push(format!("{} ({path})", joined(ts)));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Whether the field path `path` lies inside the top-level field `n` (`messages.content`
/// in `messages`).
fn nested_in(path: &str, n: &str) -> bool {
    path.strip_prefix(n)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// PII types the de-identification stages found in field `n` or below it, with counts
/// (escaped HTML), when any.
fn found_by_stages(report: &Value, n: &str) -> Option<String> {
    let mut by_type: std::collections::BTreeMap<String, u64> = Default::default();
    for st in report["stages"].as_array()? {
        if st["type"] != "deidentify" {
            continue;
        }
        for (path, counts) in st["findings"]["fields"].as_object()? {
            if path != n && !nested_in(path, n) {
                continue;
            }
            for (k, v) in counts.as_object()? {
                if k.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    *by_type.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                }
            }
        }
    }
    (!by_type.is_empty()).then(|| {
        esc(&by_type
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "))
    })
}

/// The evidence list: hashes, audit head, key ids.
fn evidence_list(h: &mut String, report: &Value, dir: &Path, lang: Lang) {
    // Evidence.
    let _ = write!(
        h,
        "<h2>{}</h2><ul><li>{}: <code>{}</code></li>",
        t(lang, "Evidence", "证据"),
        t(lang, "Pipeline SHA-256", "流水线 SHA-256"),
        esc(report["pipeline"]["sha256"].as_str().unwrap_or(""))
    );
    if let Ok(head) = crate::evidence::audit::head(&dir.join("audit.jsonl")) {
        let _ = write!(
            h,
            "<li>{}: <code>{head}</code></li>",
            t(lang, "Audit chain head (so far)", "审计链头（截至此时）")
        );
    }
    if report["keys"]["key_ids"].is_array() {
        let _ = write!(
            h,
            "<li>{}: <code>{}</code> — {}</li>",
            t(lang, "Key ids", "密钥标识"),
            esc(&joined(&report["keys"]["key_ids"])),
            esc(report["keys"]["custody"].as_str().unwrap_or(""))
        );
    }
    let _ = writeln!(
        h,
        "<li>{}</li></ul></body></html>",
        t(
            lang,
            "manifest.json lists every file with its SHA-256 and is signed (manifest.sig); run `datacustoms verify` on this folder to check it offline.",
            "manifest.json 列出每个文件及其 SHA-256，并已签名（manifest.sig）；可离线运行 `datacustoms verify` 校验本目录。"
        )
    );
}

/// Bars with error bars from an aggregates CSV (last two columns: value, half-width).
fn dp_items(csv: &str) -> Vec<(String, f64, Option<f64>)> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let n = header.split(',').count();
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() != n || n < 2 {
                return None;
            }
            let v: f64 = f[n - 2].parse().ok()?;
            let e: f64 = f[n - 1].parse().ok()?;
            let key = if n > 2 {
                f[..n - 2].join(" · ")
            } else {
                "(all)".into()
            };
            Some((key, v, Some(e)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_is_self_contained() {
        let r = serde_json::json!({
            "run_id": "r<1>", "status": "complete",
            "pipeline": {"name": "<script>alert(1)</script>", "sha256": "ab"},
            "rows": {"in": 3, "out": 2, "duplicates": 1, "quarantined": 0},
            "output": {"schema": [{"name": "text"}]},
            "residual": {"scanned": true, "hits": 0, "by_type": {}, "by_field": {}, "gate": {"passed": true}},
            "stages": [{"type": "deidentify", "findings": {"totals": {"PHONE": 5, "EMAIL": 2}}}]
        });
        let dir = tempfile::tempdir().unwrap();
        let html = render(&r, dir.path(), Lang::Zh);
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script"));
        assert!(!html.contains(" src=") && !html.contains(" href="));
        assert!(html.contains("<svg") && html.contains("数据出境申报"));
    }

    #[test]
    fn the_page_tells_what_the_report_knows() {
        let r = serde_json::json!({
            "run_id": "r1", "status": "complete",
            "pipeline": {"name": "p", "sha256": "ab"},
            "rows": {"in": 3, "out": 3, "duplicates": 0, "quarantined": 0},
            "output": {"schema": [{"name": "messages"}, {"name": "phone"}]},
            "techniques": {"messages.content": ["masking"], "phone": ["token"]},
            "residual": {"scanned": false},
            "stages": [{"type": "deidentify", "findings": {"totals": {"PERSON": 937},
                "fields": {"messages.content": {"PERSON": 937, "values_changed": 900}}}}],
            "assessment": {
                "exporter": "acme-cn", "recipient": "lab-eu",
                "mechanism": "standard_contract", "basis": "12 people with sensitive PI",
                "year_to_date": {"year": 2026, "mechanism": "security_assessment", "basis": "over 10,000"},
                "status": "not anonymised"
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let html = render(&r, dir.path(), Lang::En);
        assert!(
            html.contains("acme-cn") && html.contains("lab-eu"),
            "{html}"
        );
        assert!(html.contains("12 people with sensitive PI"));
        // The year's escalation is red.
        assert!(
            html.contains("<td class=\"bad\"><b>security assessment</b>"),
            "{html}"
        );
        assert!(html.contains("masking (messages.content)"), "{html}");
        assert!(html.contains("phone (token)"), "{html}");
        let zh = render(&r, dir.path(), Lang::Zh);
        assert!(zh.contains("数据出境安全评估") && zh.contains("完成"));
        // Without an assessment the field table still says what was found.
        let mut r2 = r.clone();
        r2.as_object_mut().unwrap().remove("assessment");
        let html = render(&r2, dir.path(), Lang::En);
        assert!(html.contains("PERSON 937"), "{html}");
        assert!(html.contains("remain personal information"), "{html}");
    }

    #[test]
    fn one_dominant_bar_does_not_flatten_the_chart() {
        let items: Vec<(String, f64, Option<f64>)> = [100000.0, 30.0, 20.0, 10.0]
            .iter()
            .map(|v| ("g".to_string(), *v, None))
            .collect();
        assert_eq!(chart_max(&items), 37.5);
        assert_eq!(chart_max(&items[1..]), 30.0);
        let svg = bars("t", &items, "#000");
        assert!(svg.contains("100000 ≫"), "{svg}");
    }
}
