//! Logs in go-plugin's hclog JSON format, one object per line on stderr: `@level`, `@message`,
//! `@timestamp` (exactly six fractional digits, or SPIRE logs the line raw), `@module`, and every
//! event field as its own key. stdout is reserved for the handshake line.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The layer.
pub struct HclogLayer;

#[derive(Default)]
struct Fields {
    message: String,
    fields: Map<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.insert(field.name().to_owned(), Value::String(value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.insert(field.name().to_owned(), Value::String(text));
        }
    }
}

fn level(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// One event as an hclog JSON line (without the newline).
pub fn line(lvl: &Level, message: &str, fields: Map<String, Value>) -> String {
    let mut obj = Map::new();
    obj.insert("@level".into(), Value::from(level(lvl)));
    obj.insert("@message".into(), Value::from(message));
    obj.insert("@timestamp".into(), Value::from(crate::time::clock::rfc3339_micros(std::time::SystemTime::now())));
    obj.insert("@module".into(), Value::from("attestor"));
    for (k, v) in fields {
        // hclog's reserved keys stay ours.
        if !k.starts_with('@') {
            obj.insert(k, v);
        }
    }
    Value::Object(obj).to_string()
}

/// The target whose `record` field is a JSON object rendered by attestor (the audit record).
pub const AUDIT_TARGET: &str = "attestor::audit";

/// An audit record as one hclog line whose fields are the record's own, so log pipelines index
/// them (`policy_generation`, `issued`, `workload.ns`, …) instead of one escaped `@message`.
/// The record is a JSON object attestor rendered itself: its fields follow hclog's, no re-parse.
pub fn audit_line(record: &str) -> Option<String> {
    let inner = record.strip_prefix('{')?.strip_suffix('}')?;
    let timestamp = crate::time::clock::rfc3339_micros(std::time::SystemTime::now());
    let mut line = String::with_capacity(record.len() + 128);
    line.push_str(r#"{"@level":"info","@message":"attestation","@timestamp":""#);
    line.push_str(&timestamp);
    line.push_str(r#"","@module":"attestor.audit""#);
    if !inner.is_empty() {
        line.push(',');
        line.push_str(inner);
    }
    line.push('}');
    Some(line)
}

/// Captures the `record` field of an audit event.
struct AuditField(Option<String>);

impl Visit for AuditField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "record" {
            self.0 = audit_line(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let text = if event.metadata().target() == AUDIT_TARGET {
            let mut audit = AuditField(None);
            event.record(&mut audit);
            audit.0
        } else {
            None
        };
        let mut text = text.unwrap_or_else(|| {
            let mut f = Fields::default();
            event.record(&mut f);
            line(event.metadata().level(), &f.message, f.fields)
        });
        text.push('\n');
        // One write per line: lines from concurrent threads never interleave.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests;
