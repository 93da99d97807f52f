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
    obj.insert("@timestamp".into(), Value::from(crate::clock::rfc3339_micros(std::time::SystemTime::now())));
    obj.insert("@module".into(), Value::from("attestor"));
    for (k, v) in fields {
        // hclog's reserved keys stay ours.
        if !k.starts_with('@') {
            obj.insert(k, v);
        }
    }
    Value::Object(obj).to_string()
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let text = line(event.metadata().level(), &f.message, f.fields);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }
}

#[cfg(test)]
mod tests;
