//! The budget ledger: an append-only SQLite file, kept at home, of every DP release per
//! dataset — mechanism, ε / ρ / δ, sensitivity, run id, time and the noisy results — and
//! the caps last set for the dataset.
//!
//! Invariants: rows are only ever inserted; a (dataset, run id, query) is recorded once,
//! so a retried run finds its release and re-emits it instead of spending again;
//! composition is additive (ε adds, ρ adds, δ adds) and the (ε, δ) total converts ρ with
//! ε = ε_pure + ρ + 2√(ρ·ln(1/δ_conv)).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::config::stages::Budget;
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    query TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    epsilon REAL NOT NULL,
    rho REAL NOT NULL,
    delta REAL NOT NULL,
    sensitivity TEXT NOT NULL,
    created_at TEXT NOT NULL,
    results TEXT NOT NULL,
    UNIQUE (dataset_id, run_id, query)
);
CREATE TABLE IF NOT EXISTS caps (
    dataset_id TEXT PRIMARY KEY,
    total_epsilon REAL,
    total_rho REAL,
    total_delta REAL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id TEXT PRIMARY KEY,
    described TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS releases_append_only_update BEFORE UPDATE ON releases
BEGIN SELECT RAISE(ABORT, 'the DP ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS releases_append_only_delete BEFORE DELETE ON releases
BEGIN SELECT RAISE(ABORT, 'the DP ledger is append-only'); END;
";

/// How long a run waits for another run's ledger transaction.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// δ used to convert ρ-zCDP into (ε, δ) when no δ cap says otherwise.
pub const DEFAULT_CONVERSION_DELTA: f64 = 1e-9;

pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

/// One release to record.
pub struct Release {
    pub dataset_id: String,
    pub run_id: String,
    pub query: String,
    pub mechanism: String,
    pub epsilon: f64,
    pub rho: f64,
    pub delta: f64,
    pub sensitivity: String,
    pub results: String,
}

/// A dataset's release chain in the ledger (see `Ledger::chain`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Chain {
    pub releases: u64,
    pub head: String,
}

/// A release already in the ledger.
pub struct Recorded {
    pub results: String,
    pub mechanism: String,
    pub epsilon: f64,
    pub rho: f64,
    pub delta: f64,
    pub sensitivity: String,
}

/// What a dataset has spent.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Totals {
    pub releases: u64,
    pub epsilon: f64,
    pub rho: f64,
    pub delta: f64,
    /// The whole spend as (ε, δ): ε_pure + ρ + 2√(ρ·ln(1/δ_conv)), δ + δ_conv.
    pub as_epsilon: f64,
    pub as_delta: f64,
    /// The δ used for the conversion of ρ (0 when no ρ was spent).
    pub conversion_delta: f64,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    crate::error::sqlite("DP ledger", path)
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
            }
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        conn.execute_batch(SCHEMA).map_err(sql(path))?;
        Ok(Ledger {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`), waiting up to `LOCK_WAIT` for
    /// another run that holds one. Checking the caps and recording the releases happen
    /// inside it, so two concurrent runs cannot both spend the same remaining budget.
    /// Dropped without `commit`, the connection rolls it back.
    pub fn begin(&self) -> Result<()> {
        tracing::debug!(ledger = %self.path.display(), "DP ledger: waiting for its write transaction");
        self.conn.busy_timeout(LOCK_WAIT).map_err(sql(&self.path))?;
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    Error::Refused(format!(
                        "DP ledger {} is held by another run for more than {} s; nothing released",
                        self.path.display(),
                        LOCK_WAIT.as_secs()
                    ))
                }
                e => sql(&self.path)(e),
            })
    }

    pub fn commit(&self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(sql(&self.path))?;
        tracing::debug!(ledger = %self.path.display(), "DP ledger: releases committed");
        Ok(())
    }

    pub fn open_existing(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::NotFound(format!(
                "DP ledger {} not found",
                path.display()
            )));
        }
        Self::open(path)
    }

    pub fn recorded(&self, dataset: &str, run: &str) -> Result<HashMap<String, Recorded>> {
        let mut st = self
            .conn
            .prepare("SELECT query, results, mechanism, epsilon, rho, delta, sensitivity FROM releases WHERE dataset_id = ?1 AND run_id = ?2")
            .map_err(sql(&self.path))?;
        let rows = st
            .query_map(params![dataset, run], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Recorded {
                        results: r.get(1)?,
                        mechanism: r.get(2)?,
                        epsilon: r.get(3)?,
                        rho: r.get(4)?,
                        delta: r.get(5)?,
                        sensitivity: r.get(6)?,
                    },
                ))
            })
            .map_err(sql(&self.path))?;
        rows.collect::<std::result::Result<HashMap<_, _>, _>>()
            .map_err(sql(&self.path))
    }

    pub fn caps(&self, dataset: &str) -> Result<Budget> {
        let r = self.conn.query_row(
            "SELECT total_epsilon, total_rho, total_delta FROM caps WHERE dataset_id = ?1",
            params![dataset],
            |r| {
                Ok(Budget {
                    total_epsilon: r.get(0)?,
                    total_rho: r.get(1)?,
                    total_delta: r.get(2)?,
                })
            },
        );
        match r {
            Ok(b) => Ok(b),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(Budget::default()),
            Err(e) => Err(sql(&self.path)(e)),
        }
    }

    pub fn totals(&self, dataset: &str) -> Result<Totals> {
        let (releases, epsilon, rho, delta): (i64, f64, f64, f64) = self
            .conn
            .query_row(
                "SELECT count(*), coalesce(sum(epsilon), 0), coalesce(sum(rho), 0), coalesce(sum(delta), 0) FROM releases WHERE dataset_id = ?1",
                params![dataset],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(sql(&self.path))?;
        let conv = if rho > 0.0 {
            self.caps(dataset)?
                .total_delta
                .map(|d| (d - delta).max(0.0))
                .filter(|d| *d > 0.0)
                .unwrap_or(DEFAULT_CONVERSION_DELTA)
        } else {
            0.0
        };
        let as_epsilon = epsilon
            + if rho > 0.0 {
                rho + 2.0 * (rho * (1.0 / conv).ln()).sqrt()
            } else {
                0.0
            };
        Ok(Totals {
            releases: releases as u64,
            epsilon,
            rho,
            delta,
            as_epsilon,
            as_delta: delta + conv,
            conversion_delta: conv,
        })
    }

    pub fn set_caps(&self, dataset: &str, b: &Budget) -> Result<()> {
        if b.total_epsilon.is_none() && b.total_rho.is_none() && b.total_delta.is_none() {
            return Ok(());
        }
        self.conn
            .execute(
                "INSERT INTO caps (dataset_id, total_epsilon, total_rho, total_delta, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(dataset_id) DO UPDATE SET total_epsilon = ?2, total_rho = ?3, total_delta = ?4, updated_at = ?5",
                params![dataset, b.total_epsilon, b.total_rho, b.total_delta, crate::evidence::now_rfc3339()],
            )
            .map_err(sql(&self.path))?;
        Ok(())
    }

    pub fn record(&mut self, r: &Release) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO releases (dataset_id, run_id, query, mechanism, epsilon, rho, delta, sensitivity, created_at, results)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![r.dataset_id, r.run_id, r.query, r.mechanism, r.epsilon, r.rho, r.delta, r.sensitivity, crate::evidence::now_rfc3339(), r.results],
            )
            .map_err(sql(&self.path))?;
        Ok(())
    }

    /// The dataset's release chain: how many releases the ledger holds for it and the
    /// hash over all of them in order (each step SHA-256 of the previous hash and the
    /// release's recorded fields). Passports carry it before and after their run, so a
    /// later passport shows whether the ledger an earlier one saw was kept, or reset.
    pub fn chain(&self, dataset: &str) -> Result<Chain> {
        use sha2::{Digest, Sha256};
        let mut st = self
            .conn
            .prepare("SELECT run_id, query, mechanism, epsilon, rho, delta, sensitivity, created_at, results FROM releases WHERE dataset_id = ?1 ORDER BY id")
            .map_err(sql(&self.path))?;
        let mut rows = st.query(params![dataset]).map_err(sql(&self.path))?;
        let mut head = hex::encode(Sha256::digest(format!("datacustoms dp ledger {dataset}")));
        let mut releases = 0u64;
        while let Some(r) = rows.next().map_err(sql(&self.path))? {
            let fields = serde_json::json!([
                r.get::<_, String>(0).map_err(sql(&self.path))?,
                r.get::<_, String>(1).map_err(sql(&self.path))?,
                r.get::<_, String>(2).map_err(sql(&self.path))?,
                r.get::<_, f64>(3).map_err(sql(&self.path))?,
                r.get::<_, f64>(4).map_err(sql(&self.path))?,
                r.get::<_, f64>(5).map_err(sql(&self.path))?,
                r.get::<_, String>(6).map_err(sql(&self.path))?,
                r.get::<_, String>(7).map_err(sql(&self.path))?,
                r.get::<_, String>(8).map_err(sql(&self.path))?,
            ]);
            let mut h = Sha256::new();
            h.update(head.as_bytes());
            h.update(fields.to_string().as_bytes());
            head = hex::encode(h.finalize());
            releases += 1;
        }
        Ok(Chain { releases, head })
    }

    /// Every dataset in the ledger with its totals and caps (`budget show`).
    /// Records what a dataset id stands for (the pipeline and its inputs), for
    /// `budget show`; the last run's words replace the earlier ones.
    pub fn describe(&self, dataset: &str, described: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO datasets (dataset_id, described, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(dataset_id) DO UPDATE SET described = ?2, updated_at = ?3",
                params![dataset, described, crate::evidence::now_rfc3339()],
            )
            .map_err(sql(&self.path))?;
        Ok(())
    }

    /// What `describe` recorded for a dataset, and the time of its last release.
    pub fn described(&self, dataset: &str) -> Result<(Option<String>, Option<String>)> {
        let described = self
            .conn
            .query_row(
                "SELECT described FROM datasets WHERE dataset_id = ?1",
                params![dataset],
                |r| r.get::<_, String>(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(sql(&self.path))?;
        let last = self
            .conn
            .query_row(
                "SELECT max(created_at) FROM releases WHERE dataset_id = ?1",
                params![dataset],
                |r| r.get::<_, Option<String>>(0),
            )
            .map_err(sql(&self.path))?;
        Ok((described, last))
    }

    pub fn summary(&self) -> Result<Vec<(String, Totals, Budget)>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT dataset_id FROM releases UNION SELECT dataset_id FROM caps ORDER BY 1")
            .map_err(sql(&self.path))?;
        let ids: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(sql(&self.path))?
            .collect::<std::result::Result<_, _>>()
            .map_err(sql(&self.path))?;
        ids.into_iter()
            .map(|id| Ok((id.clone(), self.totals(&id)?, self.caps(&id)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(run: &str, epsilon: f64) -> Release {
        Release {
            dataset_id: "d".into(),
            run_id: run.into(),
            query: "q".into(),
            mechanism: "laplace".into(),
            epsilon,
            rho: 0.0,
            delta: 0.0,
            sensitivity: "{}".into(),
            results: "[]".into(),
        }
    }

    /// Two runs on one ledger: the second's check of what was spent waits for the
    /// first's transaction, so it sees the first's release and is refused by the cap.
    #[test]
    fn concurrent_runs_are_serialized() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let cap = Budget {
            total_epsilon: Some(1.5),
            total_rho: None,
            total_delta: None,
        };
        let mut first = Ledger::open(&path).unwrap();
        first.begin().unwrap();
        assert_eq!(first.totals("d").unwrap().epsilon, 0.0);
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = path.clone();
        let cap2 = cap.clone();
        let second = std::thread::spawn(move || {
            let mut l = Ledger::open(&p2).unwrap();
            tx.send(()).unwrap();
            l.begin().unwrap();
            let spent = l.totals("d").unwrap().epsilon;
            let over = crate::dp::release::over_budget(&cap2, spent + 1.0, 0.0, 0.0);
            if over.is_empty() {
                l.record(&release("r2", 1.0)).unwrap();
            }
            l.commit().unwrap();
            (spent, over.len())
        });
        rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        first.record(&release("r1", 1.0)).unwrap();
        first.commit().unwrap();
        let (seen, refused) = second.join().unwrap();
        assert_eq!(seen, 1.0, "the second run saw the first's spend");
        assert_eq!(refused, 1);
        assert_eq!(
            Ledger::open(&path).unwrap().totals("d").unwrap().releases,
            1
        );
    }
}
