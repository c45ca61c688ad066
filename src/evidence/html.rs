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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
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
    let max = items
        .iter()
        .map(|(_, v, e)| v.abs() + e.unwrap_or(0.0))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let scale = (width - label_w - 70.0) / max;
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{h}\" role=\"img\">",
        esc(title)
    );
    for (i, (label, v, e)) in items.iter().enumerate() {
        let y = 10.0 + i as f64 * row;
        let w = (v.max(0.0) * scale).max(0.5);
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
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{ty}\" font-size=\"11\" fill=\"#444\">{v}</text>",
            x = label_w + w + 4.0 + e.map_or(0.0, |e| e * scale),
            ty = y + 13.0,
            v = num(*v)
        );
    }
    s.push_str("</svg></figure>");
    s
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
    let title = t(lang, "Customs declaration", "数据出境申报");
    let _ = write!(
        h,
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{title} — {}</title><style>\
         body{{font-family:system-ui,'Noto Sans CJK SC','PingFang SC',sans-serif;max-width:960px;margin:2em auto;color:#222}}\
         h1{{font-size:1.6em}}h2{{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:.92em}}\
         .ok{{color:#176b2c;font-weight:bold}}.bad{{color:#a40000;font-weight:bold}}figure{{margin:1em 0}}figcaption{{font-weight:600;margin-bottom:.3em}}\
         .note{{background:#f6f6f6;padding:.6em 1em;border-left:4px solid #888}}@media print{{h2{{break-after:avoid}}figure{{break-inside:avoid}}}}\
         </style></head><body>",
        if lang == Lang::Zh { "zh-CN" } else { "en" },
        esc(report["run_id"].as_str().unwrap_or(""))
    );
    let status = report["status"].as_str().unwrap_or("?");
    let _ = write!(
        h,
        "<h1>{title}</h1><p>{} <code>{}</code> · {} {} · {}</p>",
        t(lang, "Run", "运行"),
        esc(report["run_id"].as_str().unwrap_or("")),
        t(lang, "pipeline", "流水线"),
        esc(report["pipeline"]["name"].as_str().unwrap_or("")),
        esc(report["finished_at"].as_str().unwrap_or(""))
    );

    // Summary.
    let _ = write!(h, "<h2>{}</h2><table>", t(lang, "Summary", "概要"));
    row(
        &mut h,
        t(lang, "Status", "状态"),
        &esc(status),
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
            row(&mut h, t(lang, en, zh), &rows[k].to_string(), None);
        }
    } else if let Some(w) = report["withheld"]["why"].as_str() {
        row(&mut h, t(lang, "Row counts", "行数"), &esc(w), None);
    }
    let a = &report["assessment"];
    if a.is_object() {
        let cell = format!(
            "<b>{}</b> ({} {}: <b>{}</b>)",
            esc(a["mechanism"].as_str().unwrap_or("")),
            t(lang, "year to date", "本年累计"),
            a["year_to_date"]["year"],
            esc(a["year_to_date"]["mechanism"].as_str().unwrap_or(""))
        );
        let label = t(
            lang,
            "Cross-border mechanism (this export)",
            "出境路径（本次）",
        );
        row(&mut h, label, &cell, None);
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
                row(&mut h, t(lang, en, zh), &cell, None);
            }
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
            &mut h,
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
        let label = t(
            lang,
            "Important data (GB/T 43697)",
            "重要数据（GB/T 43697）",
        );
        row(&mut h, label, &cell, None);
    }
    let r = &report["residual"];
    if r["scanned"] == true {
        let cell = format!("{} {}", r["hits"], t(lang, "detections left", "处残留"));
        let passed = r["gate"]["passed"].as_bool().unwrap_or(true);
        row(
            &mut h,
            t(lang, "Residual PII re-scan", "残留个人信息复扫"),
            &cell,
            Some(passed),
        );
    }
    h.push_str("</table>");
    if let Some(s) = a["status"].as_str() {
        let s = match lang {
            Lang::Zh => crate::evidence::assessment::STATUS_ZH,
            Lang::En => s,
        };
        let _ = write!(h, "<p class=\"note\">{}</p>", esc(s));
    }

    // Charts.
    let _ = write!(h, "<h2>{}</h2>", t(lang, "Charts", "图表"));
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
                        esc(rel["mechanism"].as_str().unwrap_or("")),
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

    // Fields.
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
        let tech = match &report["techniques"][&n] {
            v if v.is_array() => joined(v),
            _ => t(lang, "none", "无").to_string(),
        };
        let res = if r["scanned"] == true {
            r["by_field"][&n]
                .as_object()
                .map(|o| o.values().filter_map(Value::as_u64).sum::<u64>())
                .unwrap_or(0)
                .to_string()
        } else {
            t(lang, "not scanned", "未复扫").to_string()
        };
        let (pi, grade) = grade_of(&n);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{pi}</td><td>{grade}</td><td>{}</td><td>{}</td></tr>",
            esc(&n),
            esc(&tech),
            esc(&res)
        );
    }
    h.push_str("</table>");

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
    h
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
}
