//! Progress: a bar on a terminal (input bytes processed, with rate and ETA from the input
//! size, and rows), fitting 80 columns; when stderr is not a terminal (a scheduler's log), one log
//! line every `DATACUSTOMS_PROGRESS_SECS` seconds (default 30), JSON with
//! `--log-format json`. Nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn new_bar(total_bytes: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    if !std::io::stderr().is_terminal() {
        // Hidden, but it still counts: a log line reads it now and then.
        let bar = ProgressBar::hidden();
        bar.set_length(total_bytes);
        log_periodically(&bar, total_bytes);
        return bar;
    }
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    // At most about 78 columns with a long row count in the message.
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:20}] {percent:>3}% {binary_bytes_per_sec:>11} eta {eta:>3} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A bar of tasks done (`run --workers`), on a terminal only; the tasks themselves run
/// quiet.
pub fn task_bar(tasks: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(tasks), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:20}] {pos}/{len} tasks")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Logs the bar's state every few seconds until it is finished (or dropped).
fn log_periodically(bar: &ProgressBar, total: u64) {
    let every = std::env::var("DATACUSTOMS_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(30.0);
    let weak = bar.downgrade();
    let started = std::time::Instant::now();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs_f64(every));
        let Some(bar) = weak.upgrade() else { return };
        if bar.is_finished() {
            return;
        }
        // Bytes of the input processed in order (see `engine::run`), not merely read.
        let read = bar.position();
        let secs = started.elapsed().as_secs_f64();
        let percent = if total > 0 {
            100.0 * read as f64 / total as f64
        } else {
            0.0
        };
        let eta = (read > 0 && read < total).then(|| secs * (total - read) as f64 / read as f64);
        tracing::info!(
            bytes_done = read,
            bytes_total = total,
            percent = (percent * 10.0).round() / 10.0,
            eta_seconds = eta.map(|e| e.round() as u64),
            rows = %bar.message(),
            "progress"
        );
    });
}

/// "12,345 rows".
pub fn rows_message(rows: u64) -> String {
    format!("{} rows", group_digits(rows))
}

pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits_are_grouped() {
        assert_eq!(super::group_digits(1234567), "1,234,567");
        assert_eq!(super::group_digits(12), "12");
    }
}
