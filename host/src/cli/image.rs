//! `attestor image verify`: what `cosign verify` tells an operator, with attestor's
//! configuration: every signature and attestation found for the image, where, who signed it and
//! its log entry, or which check refused it; then the verdict the attestor would reach.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::out;
use super::{ConfigArgs, Output};
use crate::facts::sigstore::evaluate::{Checked, Evaluation, Kind};
use crate::facts::sigstore::{ImageVerifier, SigstoreSettings, VerifiedSignature};

/// `attestor image …`.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Verify an image's Sigstore signatures as the attestor would (exit 0 when at least one
    /// signature verifies, 1 when none does, 2 on a usage or configuration error).
    Verify(VerifyArgs),
}

/// `attestor image verify <image-ref>`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The image, by digest, as a kubelet reports a container's `imageID`
    /// (`registry/repository@sha256:<hex>`; `nginx@sha256:…` is Docker Hub's library/nginx).
    pub image: String,
    /// The configuration whose `sigstore { }` block to use (default: SPIRE's defaults with the
    /// embedded Sigstore public-good root).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// The longest signer field (subject, issuer, predicate type) the text output repeats.
const SHOWN: usize = 512;

/// A configuration that cannot be used is a usage error (exit 2), distinct from "not verified".
const USAGE: u8 = 2;

pub(super) fn run(cmd: ImageCommand) -> anyhow::Result<ExitCode> {
    let ImageCommand::Verify(args) = cmd;
    let settings = match settings(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("attestor: error: {}", super::one_line(&e));
            return Ok(ExitCode::from(USAGE));
        }
    };
    let tokio = super::tokio_runtime()?;
    let evaluation = tokio.block_on(async {
        let verifier = ImageVerifier::new(&settings)?;
        anyhow::Ok(verifier.evaluate_uncached(&args.image).await)
    });
    let evaluation = match evaluation {
        Ok(e) => e,
        Err(e) => {
            eprintln!("attestor: error: {}", super::one_line(&e));
            return Ok(ExitCode::from(USAGE));
        }
    };
    match args.output {
        Output::Json => out!("{}", serde_json::to_string_pretty(&to_json(&args.image, &evaluation))?),
        Output::Text => super::emit_text(&to_text(&args.image, &evaluation)),
    }
    let any_signature = evaluation.checked.iter().any(|c| c.kind == Kind::Signature && c.result.is_ok());
    Ok(if any_signature { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The `sigstore` block of `--config`, or generation 2's defaults without one.
fn settings(args: &ConfigArgs) -> anyhow::Result<SigstoreSettings> {
    match &args.config {
        Some(_) => {
            let config = super::load_config(args)?;
            Ok(config.sigstore.unwrap_or_else(SigstoreSettings::generation_two))
        }
        None => Ok(SigstoreSettings::generation_two()),
    }
}

fn kind(k: Kind) -> &'static str {
    match k {
        Kind::Signature => "signature",
        Kind::Attestation => "attestation",
    }
}

fn signer(v: &VerifiedSignature) -> Value {
    let certificate = v.certificate.as_ref();
    json!({
        "subject": certificate.and_then(|c| c.spire_subject().ok()),
        "issuer": certificate.and_then(|c| c.oidc_issuer().ok()),
        "key": v.key,
        "predicate_type": v.predicate_type,
        "log_index": v.log.as_ref().map(|l| l.index),
        "log_id": v.log.as_ref().map(|l| l.log_id.clone()),
        "integrated_time": v.log.as_ref().and_then(|l| l.integrated_time),
    })
}

fn item_json(c: &Checked) -> Value {
    let mut item = json!({ "kind": kind(c.kind), "location": c.location.to_string() });
    match &c.result {
        Ok(v) => {
            item["verified"] = json!(true);
            item["signer"] = signer(v);
        }
        Err(e) => {
            item["verified"] = json!(false);
            item["error"] = json!(e);
        }
    }
    item
}

fn to_json(image: &str, e: &Evaluation) -> Value {
    json!({
        "image": image,
        "resolved": e.image.as_ref().map(ToString::to_string),
        "found": e.checked.iter().map(item_json).collect::<Vec<_>>(),
        "verified": e.outcome.is_ok(),
        "error": e.outcome.as_ref().err().map(ToString::to_string),
    })
}

fn to_text(image: &str, e: &Evaluation) -> String {
    let mut out = String::new();
    let resolved = e.image.as_ref().map(ToString::to_string).unwrap_or_else(|| image.to_owned());
    let _ = writeln!(out, "image: {resolved}");
    if e.checked.is_empty() {
        let _ = writeln!(out, "found: nothing");
    }
    for c in &e.checked {
        let _ = writeln!(out, "{} at {}:", kind(c.kind), c.location);
        match &c.result {
            Ok(v) => {
                let s = signer(v);
                for field in ["subject", "issuer", "key", "predicate_type", "log_index", "integrated_time"] {
                    if let Some(value) = s.get(field).filter(|v| !v.is_null()) {
                        // A signer's certificate is outside text: escaped, so that a subject
                        // cannot forge a line (a "verdict: verified") or a terminal sequence.
                        let value =
                            value.as_str().map_or_else(|| value.to_string(), |v| crate::text::bounded(v, SHOWN));
                        let _ = writeln!(out, "  {field}: {value}");
                    }
                }
                let _ = writeln!(out, "  verified");
            }
            Err(reason) => {
                let _ = writeln!(out, "  refused: {reason}");
            }
        }
    }
    match &e.outcome {
        Ok(_) => {
            let _ = writeln!(out, "verdict: verified");
        }
        Err(f) => {
            let _ = writeln!(out, "verdict: not verified: {f}");
        }
    }
    out
}
