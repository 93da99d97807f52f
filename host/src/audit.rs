//! Answer: the audit record, one JSON line per attestation (a workload's, or an agent's in node
//! attestation: `node.rs`), and where it is written.
//!
//! Invariant: a record never carries a secret unless the operator asked for debug records.
//! Pod annotations (which can hold credentials) appear only as SHA-256 digests, and the full
//! facts only as one digest; `policy explain` and `audit { debug = true }` show everything.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

mod node;

pub use node::{NodeEnd, node_record};

use crate::attestation::{Attestation, Outcome, RenderedRecord};
use crate::fault::Fault;
use crate::workload::{Pid, Workload};

/// The config's `audit { … }` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditSettings {
    /// Append records to this file; without it, records go to the log (target
    /// `attestor::audit`, level info).
    pub path: Option<PathBuf>,
    /// Put the full facts (annotations included) in every record. For debugging only: the
    /// records then carry whatever secrets pods keep in annotations.
    pub debug: bool,
}

/// Where records go.
#[derive(Debug)]
enum Sink {
    Log,
    File { path: PathBuf, file: Mutex<File> },
}

/// The audit log of one attestor.
#[derive(Debug)]
pub struct AuditLog {
    sink: Sink,
    debug: bool,
}

/// The audit file cannot be opened: an operator's configuration problem.
#[derive(Debug, thiserror::Error)]
#[error("cannot open audit log {path}: {source}")]
pub struct AuditError {
    /// The configured path.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

impl AuditError {
    /// Always the operator's: the configured path cannot be opened for appending.
    pub fn fault(&self) -> Fault {
        Fault::Config
    }
}

impl AuditLog {
    /// Open the configured sink (a file is created if missing and appended to).
    pub fn open(settings: &AuditSettings) -> Result<Self, AuditError> {
        let sink = match &settings.path {
            None => Sink::Log,
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| AuditError { path: path.clone(), source })?;
                Sink::File { path: path.clone(), file: Mutex::new(file) }
            }
        };
        Ok(Self { sink, debug: settings.debug })
    }

    /// Records go to the log.
    pub fn to_log() -> Self {
        Self { sink: Sink::Log, debug: false }
    }

    fn enabled(&self) -> bool {
        match self.sink {
            Sink::Log => tracing::enabled!(target: "attestor::audit", tracing::Level::INFO),
            Sink::File { .. } => true,
        }
    }

    /// Record one attestation.
    ///
    /// A fresh outcome gets the full §C.6 record, with an `outcome` id. An outcome reused for the
    /// same facts (the same process attesting again in the same generation) gets a short record
    /// naming that id, its PID, generation and issued IDs, as long as its full record was written
    /// in the last [`FULL_RECORD_EVERY`]: repeating a kilobyte of identical JSON per SVID fetch
    /// cost the SPIRE agent, which parses every plugin log line, more CPU than the attestation
    /// itself (go-plugin's client spent 95 µs per full line, 170 µs per attestation in all, at
    /// 8 streams), and it bought no information.
    pub fn attested(&self, a: &Attestation) {
        if !self.enabled() {
            return;
        }
        let now = SystemTime::now();
        let time = crate::time::clock::rfc3339_seconds(now);
        let outcome = a.outcome();
        if self.debug {
            let rendered = render(outcome, true);
            let reused = if a.is_reused() { "\"reused\":true," } else { "" };
            self.write(format!("{{\"time\":\"{time}\",{reused}{}", rendered.body));
            return;
        }
        let rendered = outcome.audit.get_or_init(|| render(outcome, false));
        let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let last = outcome.audited_at.load(std::sync::atomic::Ordering::Relaxed);
        let recent = a.is_reused() && last != 0 && secs.saturating_sub(last) < FULL_RECORD_EVERY.as_secs();
        if recent {
            self.write(format!(
                "{{\"time\":\"{time}\",\"pid\":{},\"reused\":true,\"outcome\":\"{}\",{}}}",
                outcome.workload.unix.pid.0, rendered.id, rendered.short
            ));
            return;
        }
        outcome.audited_at.store(secs, std::sync::atomic::Ordering::Relaxed);
        let reused = if a.is_reused() { "\"reused\":true," } else { "" };
        self.write(format!("{{\"time\":\"{time}\",{reused}{}", rendered.body));
    }

    /// Record an attestation that failed (nothing was emitted), and who is at fault.
    pub fn failed(&self, pid: Pid, generation: &str, error: &dyn std::error::Error, fault: Fault) {
        if self.enabled() {
            let time = crate::time::clock::rfc3339_seconds(SystemTime::now());
            let record = json!({
                "time": time,
                "policy_generation": generation,
                "pid": pid.0,
                "failed": error.to_string(),
                "fault": fault,
                "issued": [],
            });
            self.write(record.to_string());
        }
    }

    /// Record one event of another kind (the registrar's entry changes): `record` gets a
    /// `time` field first, then its own fields.
    pub fn event(&self, record: Value) {
        if !self.enabled() {
            return;
        }
        let mut r = Map::new();
        r.insert("time".into(), json!(crate::time::clock::rfc3339_seconds(SystemTime::now())));
        if let Value::Object(fields) = record {
            r.extend(fields);
        }
        self.write(Value::Object(r).to_string());
    }

    fn write(&self, mut line: String) {
        match &self.sink {
            // hclog's JSON layer lifts this record's fields to the top level of the log line.
            Sink::Log => tracing::info!(target: "attestor::audit", record = line.as_str(), "attestation"),
            Sink::File { path, file } => {
                line.push('\n');
                // One write per record: with O_APPEND, concurrent writers never interleave lines.
                let mut file = file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Err(e) = file.write_all(line.as_bytes()) {
                    tracing::error!(path = %path.display(), error = %e, "cannot write audit record");
                }
            }
        }
    }
}

/// `sha256:<hex>` of some bytes.
fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Who the workload is, in a few fields an operator greps for.
fn summary(w: &Workload, debug: bool) -> Value {
    let mut s = Map::new();
    s.insert("uid".into(), json!(w.unix.euid.0));
    if let Some(user) = &w.unix.user {
        s.insert("user".into(), json!(user));
    }
    if let Some(exe) = &w.unix.exe_path {
        s.insert("exe".into(), json!(exe));
    }
    if let Some(k) = &w.kubernetes {
        s.insert("ns".into(), json!(k.pod.namespace));
        s.insert("sa".into(), json!(k.pod.service_account));
        s.insert("pod".into(), json!(k.pod.name));
        if let Some(c) = &k.container {
            s.insert("container".into(), json!(c.name));
            let image = if c.image.id.is_empty() { &c.image.name } else { &c.image.id };
            s.insert("image".into(), json!(image));
        }
        if !debug && !k.pod.annotations.is_empty() {
            let digests: Map<String, Value> =
                k.pod.annotations.iter().map(|(k, v)| (k.clone(), json!(digest(v.as_bytes())))).collect();
            s.insert("annotations".into(), Value::Object(digests));
        }
    }
    let facts = serde_json::to_vec(w).unwrap_or_default();
    s.insert("facts_digest".into(), json!(digest(&facts)));
    if debug {
        s.insert("facts".into(), serde_json::to_value(w).unwrap_or(Value::Null));
    }
    Value::Object(s)
}

/// The §C.6 record of one outcome at `now`. `debug` includes the full facts.
pub fn record(o: &Outcome, debug: bool, now: SystemTime) -> Value {
    let mut r = fields(o, debug);
    r.insert("time".into(), json!(crate::time::clock::rfc3339_seconds(now)));
    Value::Object(r)
}

/// A reused outcome's full record is written again at least this often, so the short records
/// that name it always have a full one close by in the log.
pub const FULL_RECORD_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// An outcome's record without its time (see [`RenderedRecord`]).
fn render(o: &Outcome, debug: bool) -> RenderedRecord {
    let mut fields = fields(o, debug);
    let id = hex::encode(&Sha256::digest(Value::Object(fields.clone()).to_string().as_bytes())[..8]);
    let short = Value::Object(
        ["policy_generation", "issued"]
            .into_iter()
            .filter_map(|k| Some((k.to_owned(), fields.get(k)?.clone())))
            .collect(),
    )
    .to_string();
    fields.insert("outcome".into(), json!(id));
    let mut body = Value::Object(fields).to_string();
    body.remove(0);
    RenderedRecord { id, body, short: short[1..short.len() - 1].to_owned() }
}

/// Every field of the record but the time.
fn fields(o: &Outcome, debug: bool) -> Map<String, Value> {
    let d = &o.decision;
    let mut r = Map::new();
    r.insert("policy_generation".into(), json!(d.policy_generation));
    r.insert("pid".into(), json!(o.workload.unix.pid.0));
    r.insert("workload".into(), summary(&o.workload, debug));
    r.insert("gate".into(), json!(d.gate));
    r.insert("candidates".into(), json!(d.candidates));
    r.insert("issued".into(), json!(d.issued.iter().map(|i| i.id.to_string()).collect::<Vec<_>>()));
    // What each issued SVID should carry (rules, hint, DNS names, TTLs, federation).
    r.insert("identities".into(), json!(d.issued));
    r.insert("selectors".into(), json!(d.selectors));
    if !o.modules.is_empty() {
        let modules: Vec<Value> = o
            .modules
            .iter()
            .map(|m| {
                let mut v = json!({"name": m.name, "fuel_used": m.fuel_used, "elapsed_us": m.elapsed_us});
                if let Some(e) = &m.error {
                    v["error"] = json!(e);
                }
                v
            })
            .collect();
        r.insert("modules".into(), Value::Array(modules));
    }
    r.insert("errors".into(), json!(d.errors));
    r.insert("eval_us".into(), json!(d.eval_us));
    r
}

#[cfg(test)]
mod tests;
