//! Typed reads from an HCL body, remembering which keys were read so that every key nobody read
//! can be reported at once.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::time::Duration;

use hcl::eval::Evaluate;
use hcl::{Body, Structure, Value};

use super::ConfigError;
use crate::time::DurationRange;

/// Named lists of strings, in file order.
pub(crate) type StringLists = Vec<(String, Vec<String>)>;

/// One HCL body (the file, a block, or an object value) being read.
#[derive(Debug)]
pub(crate) struct Table {
    prefix: String,
    entries: Vec<(String, Vec<String>, Entry)>,
    read: BTreeSet<String>,
}

#[derive(Debug)]
enum Entry {
    Value(Value),
    Body(Body),
}

impl Table {
    /// Parse HCL text.
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        super::syntax::check(text)?;
        let body = hcl::parse(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        Self::from_body(String::new(), body)
    }

    fn from_body(prefix: String, body: Body) -> Result<Self, ConfigError> {
        let mut entries = Vec::new();
        let mut attrs = BTreeSet::new();
        for structure in body {
            match structure {
                Structure::Attribute(attr) => {
                    let key = attr.key.to_string();
                    if !attrs.insert(key.clone()) {
                        return Err(ConfigError::invalid(join(&prefix, &key), "set more than once"));
                    }
                    let value =
                        literal(attr.expr).map_err(|problem| ConfigError::invalid(join(&prefix, &key), problem))?;
                    entries.push((key, Vec::new(), Entry::Value(value)));
                }
                Structure::Block(block) => {
                    let labels = block.labels.iter().map(|l| l.as_str().to_owned()).collect();
                    entries.push((block.identifier.to_string(), labels, Entry::Body(block.body)));
                }
            }
        }
        Ok(Self { prefix, entries, read: BTreeSet::new() })
    }

    fn from_object(prefix: String, map: hcl::Map<String, Value>) -> Self {
        let entries = map.into_iter().map(|(k, v)| (k, Vec::new(), Entry::Value(v))).collect();
        Self { prefix, entries, read: BTreeSet::new() }
    }

    /// Whether the table sets `key` (as a value or a block).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _, _)| k == key)
    }

    /// Count `key` as read without reading it (a key refused by name, not reported again as
    /// unknown).
    pub(crate) fn skip(&mut self, key: &str) {
        self.read.insert(key.to_owned());
    }

    /// Dotted path of a key in this table.
    pub(crate) fn key(&self, key: &str) -> String {
        join(&self.prefix, key)
    }

    fn value(&mut self, key: &str) -> Result<Option<Value>, ConfigError> {
        self.read.insert(key.to_owned());
        let mut found = self.entries.iter().filter(|(k, _, _)| k == key);
        match found.next() {
            None => Ok(None),
            Some((_, _, Entry::Value(v))) => Ok(Some(v.clone())),
            Some((_, _, Entry::Body(_))) => Err(ConfigError::invalid(self.key(key), "expected a value, found a block")),
        }
    }

    /// A string (numbers and booleans are not silently turned into strings).
    pub(crate) fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ConfigError::invalid(self.key(key), format!("expected a string, got {}", kind(&other)))),
        }
    }

    /// A boolean; `"true"`/`"false"` strings are accepted because SPIRE's HCL v1 decoder accepts them.
    pub(crate) fn bool(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.value(key)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(other) => {
                Err(ConfigError::invalid(self.key(key), format!("expected true or false, got {}", kind(&other))))
            }
        }
    }

    /// A whole number; numeric strings are accepted, as SPIRE's HCL v1 decoder accepts them.
    pub(crate) fn int(&mut self, key: &str) -> Result<Option<i64>, ConfigError> {
        let v = match self.value(key)? {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        v.map(Some).ok_or_else(|| ConfigError::invalid(self.key(key), "expected a whole number"))
    }

    /// A whole number in `range`; outside it, an error that names the range.
    pub(crate) fn int_in(&mut self, key: &str, range: RangeInclusive<i64>) -> Result<Option<i64>, ConfigError> {
        match self.int(key)? {
            Some(n) if !range.contains(&n) => Err(ConfigError::invalid(
                self.key(key),
                format!("must be between {} and {}, got {n}", range.start(), range.end()),
            )),
            other => Ok(other),
        }
    }

    /// A count in `range` (which starts at zero or above).
    pub(crate) fn count_in(&mut self, key: &str, range: RangeInclusive<u32>) -> Result<Option<u32>, ConfigError> {
        let wide = i64::from(*range.start())..=i64::from(*range.end());
        // In range, so it fits.
        Ok(self.int_in(key, wide)?.map(|n| u32::try_from(n).unwrap_or(*range.end())))
    }

    /// A Go duration in `range`.
    pub(crate) fn duration_in(&mut self, key: &str, range: DurationRange) -> Result<Option<Duration>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => {
                range.check(&text).map_err(|problem| ConfigError::invalid(self.key(key), problem.to_string()))
            }
        }
    }

    /// A single unlabelled block `key { … }`, or an object value `key = { … }` (equivalent in
    /// SPIRE's HCL v1).
    pub(crate) fn block(&mut self, key: &str) -> Result<Option<Table>, ConfigError> {
        self.read.insert(key.to_owned());
        let prefix = self.key(key);
        let mut tables = Vec::new();
        for (k, labels, entry) in std::mem::take(&mut self.entries) {
            if k != key {
                self.entries.push((k, labels, entry));
                continue;
            }
            if !labels.is_empty() {
                return Err(ConfigError::invalid(&prefix, format!("takes no label, got {labels:?}")));
            }
            tables.push(match entry {
                Entry::Body(body) => Table::from_body(prefix.clone(), body)?,
                Entry::Value(Value::Object(map)) => Table::from_object(prefix.clone(), map),
                Entry::Value(other) => {
                    return Err(ConfigError::invalid(&prefix, format!("expected a block, got {}", kind(&other))));
                }
            });
        }
        match tables.len() {
            0 => Ok(None),
            1 => Ok(tables.pop()),
            n => Err(ConfigError::invalid(prefix, format!("block given {n} times; give it once"))),
        }
    }

    /// Blocks with one label, `key "name" { … }`, in file order; also the object form
    /// `key = { name = { … } }`. A name given twice is an error.
    pub(crate) fn labelled_blocks(&mut self, key: &str) -> Result<Vec<(String, Table)>, ConfigError> {
        self.read.insert(key.to_owned());
        let mut out: Vec<(String, Table)> = Vec::new();
        for (k, labels, entry) in std::mem::take(&mut self.entries) {
            if k != key {
                self.entries.push((k, labels, entry));
                continue;
            }
            let named: Vec<(String, Table)> = match (entry, labels.as_slice()) {
                (Entry::Body(body), [name]) => {
                    vec![(name.clone(), Table::from_body(join(&self.key(key), name), body)?)]
                }
                (Entry::Body(_), labels) => {
                    return Err(ConfigError::invalid(
                        self.key(key),
                        format!("takes exactly one label (its name), got {}", labels.len()),
                    ));
                }
                (Entry::Value(Value::Object(map)), []) => {
                    let mut v = Vec::new();
                    for (name, value) in map {
                        let Value::Object(inner) = value else {
                            return Err(ConfigError::invalid(join(&self.key(key), &name), "expected a block"));
                        };
                        v.push((name.clone(), Table::from_object(join(&self.key(key), &name), inner)));
                    }
                    v
                }
                (Entry::Value(other), _) => {
                    return Err(ConfigError::invalid(self.key(key), format!("expected blocks, got {}", kind(&other))));
                }
            };
            for (name, table) in named {
                if out.iter().any(|(n, _)| *n == name) {
                    return Err(ConfigError::invalid(join(&self.key(key), &name), "defined more than once"));
                }
                out.push((name, table));
            }
        }
        Ok(out)
    }

    /// Add every key of this table that nobody read to `unknown`, with the table's path.
    pub(crate) fn finish(self, unknown: &mut Vec<String>) {
        for (k, _, _) in &self.entries {
            if !self.read.contains(k) {
                unknown.push(join(&self.prefix, k));
            }
        }
    }

    /// The keys of this table nobody read, bare and sorted (SPIRE reports each block's unknown
    /// keys on their own, without a path).
    pub(crate) fn unknown_bare(&self) -> Vec<String> {
        let mut keys: Vec<String> =
            self.entries.iter().map(|(k, _, _)| k.clone()).filter(|k| !self.read.contains(k)).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// A map of strings to lists of strings (`key = { a = ["x"] }`).
    pub(crate) fn string_lists(&mut self, key: &str) -> Result<Option<StringLists>, ConfigError> {
        match self.value(key)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::Array(items) => items
                        .into_iter()
                        .map(|i| {
                            i.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| ConfigError::invalid(self.key(key), "expected lists of strings"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(|l| (k, l)),
                    _ => Err(ConfigError::invalid(self.key(key), "expected lists of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(ConfigError::invalid(self.key(key), format!("expected a map, got {}", kind(&other)))),
        }
    }

    /// Every entry of this table as a named sub-table (`{ name = { … } }`); all are read.
    pub(crate) fn labelled_or_keys(&mut self) -> Result<Vec<(String, Table)>, ConfigError> {
        let mut out = Vec::new();
        for (k, labels, entry) in std::mem::take(&mut self.entries) {
            self.read.insert(k.clone());
            let prefix = join(&self.prefix, &k);
            let table = match entry {
                Entry::Body(body) if labels.is_empty() => Table::from_body(prefix, body)?,
                Entry::Value(Value::Object(map)) => Table::from_object(prefix, map),
                _ => return Err(ConfigError::invalid(prefix, "expected a block")),
            };
            out.push((k, table));
        }
        Ok(out)
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.value(key)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ConfigError::invalid(self.key(key), "expected a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => {
                Err(ConfigError::invalid(self.key(key), format!("expected a list of strings, got {}", kind(&other))))
            }
        }
    }
}

/// The value of a literal expression. A configuration is data: arithmetic, conditionals,
/// functions, variables and template interpolation are refused rather than evaluated (HCL's
/// evaluator multiplies `u64`s unchecked, which the fuzzer turned into a panic from a
/// `Configure` body; SPIRE's HCL v1 has no expressions at all). A negative number (`-1`, which
/// HCL2 parses as negation) and heredocs without interpolation are literals.
fn literal(expr: hcl::Expression) -> Result<Value, String> {
    use hcl::expr::{Operation, UnaryOperator};
    use hcl::{Expression as E, ObjectKey};
    Ok(match expr {
        E::Null => Value::Null,
        E::Bool(b) => Value::Bool(b),
        E::Number(n) => Value::Number(n),
        E::String(s) => Value::String(s),
        E::Parenthesis(e) => literal(*e)?,
        E::Array(items) => Value::Array(items.into_iter().map(literal).collect::<Result<_, _>>()?),
        E::Object(object) => {
            let mut map = hcl::Map::new();
            for (k, v) in object {
                let key = match k {
                    ObjectKey::Identifier(id) => id.to_string(),
                    ObjectKey::Expression(e) => match literal(e)? {
                        Value::String(s) => s,
                        other => return Err(format!("an object key must be a string, got {}", kind(&other))),
                    },
                    _ => return Err("an object key must be a string".into()),
                };
                map.insert(key, literal(v)?);
            }
            Value::Object(map)
        }
        E::Operation(op) => match *op {
            Operation::Unary(u) if u.operator == UnaryOperator::Neg => match literal(u.expr)? {
                Value::Number(n) => Value::Number(negate(&n)?),
                other => return Err(format!("only a number can be negated, got {}", kind(&other))),
            },
            _ => return Err("must be a literal value, not an operation".into()),
        },
        E::TemplateExpr(t) => {
            let template = hcl::Template::from_expr(&t).map_err(|e| format!("invalid string: {e}"))?;
            if !template.elements().iter().all(|e| matches!(e, hcl::template::Element::Literal(_))) {
                return Err(
                    "must be a literal string: interpolation (`${…}`) and directives (`%{…}`) are not allowed".into()
                );
            }
            // Literal text only: evaluating it just joins and, for `<<-`, unindents it.
            t.evaluate(&hcl::eval::Context::new()).map_err(|e| format!("invalid string: {e}"))?
        }
        E::Variable(_) | E::Traversal(_) => return Err("must be a literal value, not a variable".into()),
        E::FuncCall(_) => return Err("must be a literal value, not a function call".into()),
        E::Conditional(_) | E::ForExpr(_) => return Err("must be a literal value, not an expression".into()),
        _ => return Err("must be a literal value".into()),
    })
}

/// `-n`, within the range of the number's kind.
fn negate(n: &hcl::Number) -> Result<hcl::Number, String> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(hcl::Number::from).ok_or_else(|| format!("-{n} is out of range"));
    }
    if let Some(u) = n.as_u64() {
        return (u == i64::MIN.unsigned_abs())
            .then(|| hcl::Number::from(i64::MIN))
            .ok_or_else(|| format!("-{n} is out of range"));
    }
    n.as_f64().and_then(|f| hcl::Number::from_f64(-f)).ok_or_else(|| format!("-{n} is not a number"))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
