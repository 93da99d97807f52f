//! The `sigstore { }` block: SPIRE's two generations of keys and attestor's own, read into
//! [`SigstoreSettings`].
//!
//! Where it stands says which SPIRE wrote it: the top-level `sigstore { }` is SPIRE 1.15's
//! (generation 2 only); `experimental { sigstore { } }` is SPIRE 1.6–1.14's, generation 1 when it
//! names a key only generation 1 has, generation 2 otherwise. Both at once, a block mixing the
//! two generations, and generation 1's keys at the top level are refused, naming the keys. No
//! key is accepted and ignored: where SPIRE would warn and carry on (credentials missing a
//! password), attestor refuses and says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::reader::Table;
use super::{ConfigError, Problems, ranges, resolve};
use crate::facts::kubernetes::{Endpoint, KubernetesSettings, SourceMode};
use crate::facts::sigstore::{
    AllowedIdentities, BundleFormats, Credentials, DEFAULT_REKOR_URL, GenerationOne, GenerationTwo, OnFailure,
    SigstoreSettings, SpireKeys,
};

/// Keys only generation 1 (SPIRE 1.6.0–1.10.1) reads; `rekor_url` is in both.
const GENERATION_ONE: [&str; 3] = ["enforce_sct", "skip_signature_verification_image_list", "allowed_subjects_list"];

/// Keys only generation 2 (SPIRE 1.10.2 and later) reads.
const GENERATION_TWO: [&str; 6] = [
    "allowed_identities",
    "skipped_images",
    "ignore_sct",
    "ignore_tlog",
    "ignore_attestations",
    "registry_credentials",
];

/// Where a block was found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// `sigstore { }` (SPIRE 1.15).
    TopLevel,
    /// `experimental { sigstore { } }` (SPIRE 1.6–1.14).
    Experimental,
}

impl Place {
    /// The block's dotted path, as errors name it.
    fn path(self) -> &'static str {
        match self {
            Self::TopLevel => "sigstore",
            Self::Experimental => "experimental.sigstore",
        }
    }
}

/// Read the block from where it was found (`top`: `sigstore`, `experimental`:
/// `experimental.sigstore`), knowing the Kubernetes source it needs. `None` when there is no
/// block, or when it has problems (all recorded in `p`).
pub(crate) fn parse(
    top: Option<Table>,
    experimental: Option<Table>,
    kubernetes: &KubernetesSettings,
    base: &Path,
    p: &mut Problems,
) -> Option<SigstoreSettings> {
    let before = p.len();
    if top.is_some() && experimental.is_some() {
        p.push(ConfigError::Rule(
            "sigstore is given twice: at the top level (SPIRE 1.15) and in experimental (SPIRE 1.6–1.14); \
             keep one block"
                .into(),
        ));
    }
    let mut found = None;
    for (table, place) in [(top, Place::TopLevel), (experimental, Place::Experimental)] {
        if let Some(table) = table {
            found = block(table, place, base, p);
            needs_pod_list(place, found.as_ref(), kubernetes, p);
        }
    }
    found.filter(|_| p.len() == before)
}

/// One block, whichever generation it speaks.
fn block(mut t: Table, place: Place, base: &Path, p: &mut Problems) -> Option<SigstoreSettings> {
    let before = p.len();
    let mut s = SigstoreSettings::generation_two();
    let spire = spire_keys(&mut t, place, &mut s, p);
    attestor_keys(&mut t, base, &mut s, p);
    super::kubernetes::push_unknown(p, &t);
    s.spire = spire?;
    (p.len() == before).then_some(s)
}

/// SPIRE's keys, in the generation the block names; registry credentials go into `s`.
fn spire_keys(t: &mut Table, place: Place, s: &mut SigstoreSettings, p: &mut Problems) -> Option<SpireKeys> {
    let one: Vec<&str> = GENERATION_ONE.into_iter().filter(|k| t.has(k)).collect();
    let two: Vec<&str> = GENERATION_TWO.into_iter().filter(|k| t.has(k)).collect();
    let conflict = match place {
        Place::TopLevel if !one.is_empty() => Some(format!(
            "{}: {} belong to SPIRE ≤ 1.10.1's experimental.sigstore (generation 1); the top-level sigstore block \
             is SPIRE 1.15's generation 2: use allowed_identities, skipped_images and ignore_sct instead, or move \
             the block into experimental",
            place.path(),
            one.join(", ")
        )),
        Place::Experimental if !one.is_empty() && !two.is_empty() => Some(format!(
            "{}: generation 1 keys ({}, read by SPIRE 1.6.0–1.10.1) are mixed with generation 2 keys ({}, read by \
             SPIRE 1.10.2 and later); keep one generation's keys",
            place.path(),
            one.join(", "),
            two.join(", ")
        )),
        _ => None,
    };
    let rekor_url = p.opt(t.string("rekor_url"));
    // Both generations' keys are read whatever the block turns out to be, so a mistyped value
    // is reported with the conflict rather than after it is fixed.
    let first = (!one.is_empty()).then(|| generation_one(t, p));
    let second = generation_two(t, s, p);
    if let Some(message) = conflict {
        p.push(ConfigError::Rule(message));
        return None;
    }
    match first {
        Some(mut first) => {
            first.rekor_url = generation_one_rekor(rekor_url, &t.key("rekor_url"), p)?;
            Some(SpireKeys::One(first))
        }
        None => {
            let key = t.key("rekor_url");
            let url = rekor_url.filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_REKOR_URL.to_owned());
            p.take(https_url(&url).map_err(|problem| ConfigError::invalid(key, problem)))?;
            Some(SpireKeys::Two(GenerationTwo { rekor_url: url, ..second }))
        }
    }
}

/// Generation 1's own keys (`rekor_url` is read by the caller).
fn generation_one(t: &mut Table, p: &mut Problems) -> GenerationOne {
    GenerationOne {
        rekor_url: String::new(),
        enforce_sct: p.opt(t.bool("enforce_sct")).unwrap_or(true),
        skip_images: p
            .opt(t.strings("skip_signature_verification_image_list"))
            .unwrap_or_default()
            .into_iter()
            .collect(),
        allowed_subjects: string_lists(t, "allowed_subjects_list", p)
            .into_iter()
            .map(|(issuer, subjects)| (issuer, subjects.into_iter().collect()))
            .collect(),
    }
}

/// SPIRE 1.10.1's message for a `rekor_url` without a host.
const HOST_REQUIRED: &str = "host is required on rekor URL";

/// Generation 1's required `rekor_url`, checked as SPIRE 1.10.1 checks it, with its messages.
fn generation_one_rekor(url: Option<String>, key: &str, p: &mut Problems) -> Option<String> {
    let problem = match url.as_deref() {
        None => "is required in generation 1's experimental.sigstore (SPIRE 1.6.0–1.10.1)".to_owned(),
        Some("") => "rekor URL is empty".to_owned(),
        Some(text) => match reqwest::Url::parse(text) {
            Ok(u) if u.host_str().is_none_or(str::is_empty) => HOST_REQUIRED.to_owned(),
            Ok(u) if u.scheme() != "https" => format!("invalid rekor URL Scheme {:?}", u.scheme()),
            Ok(_) => return url,
            // Go's parser takes text without a scheme as a path (no host: SPIRE's "host is
            // required"), or after `//` as a host without scheme; `url` refuses both as relative.
            Err(e) => match e.to_string().as_str() {
                "relative URL without a base" if text.starts_with("//") => "invalid rekor URL Scheme \"\"".to_owned(),
                "relative URL without a base" | "empty host" => HOST_REQUIRED.to_owned(),
                _ => format!("failed parsing rekor URI: parse {text:?}: {e}"),
            },
        },
    };
    p.push(ConfigError::invalid(key, problem));
    None
}

/// Generation 2's own keys (`rekor_url` is read by the caller); `registry_credentials` goes into `s`.
fn generation_two(t: &mut Table, s: &mut SigstoreSettings, p: &mut Problems) -> GenerationTwo {
    let allowed_identities: BTreeMap<String, Vec<String>> =
        string_lists(t, "allowed_identities", p).into_iter().collect();
    // Built here only to refuse a bad expression with its text; the verifier builds its own.
    if let Err(e) = AllowedIdentities::new(allowed_identities.clone()) {
        let message = e.to_string();
        let problem = message.strip_prefix("allowed_identities: ").unwrap_or(&message);
        p.push(ConfigError::invalid(t.key("allowed_identities"), problem));
    }
    // SPIRE turns each (issuer, subject) pair into an identity, so an issuer without subjects
    // adds none, and with no identity at all every signer of every issuer is accepted: a list
    // left empty by mistake would open verification to anyone. Refused, not ignored.
    for (issuer, subjects) in &allowed_identities {
        if subjects.is_empty() {
            let problem = format!(
                "issuer {issuer:?} lists no subjects, which SPIRE reads as no constraint at all (any signer of any \
                 issuer); list its subjects, or \".*\" for any subject of this issuer"
            );
            p.push(ConfigError::invalid(t.key("allowed_identities"), problem));
        }
    }
    s.registry.credentials = credentials(t, p);
    GenerationTwo {
        allowed_identities,
        skipped_images: p.opt(t.strings("skipped_images")).unwrap_or_default().into_iter().collect(),
        rekor_url: String::new(),
        ignore_sct: p.opt(t.bool("ignore_sct")).unwrap_or(false),
        ignore_tlog: p.opt(t.bool("ignore_tlog")).unwrap_or(false),
        ignore_attestations: p.opt(t.bool("ignore_attestations")).unwrap_or(false),
    }
}

/// `registry_credentials { "<host>" = { username, password } }`. SPIRE warns and falls back to
/// its default keychain when either is missing; attestor has no keychain, so it refuses.
fn credentials(t: &mut Table, p: &mut Problems) -> BTreeMap<String, Credentials> {
    let mut out = BTreeMap::new();
    let Some(mut hosts) = p.opt(t.block("registry_credentials")) else { return out };
    for (host, mut entry) in p.take(hosts.labelled_or_keys()).unwrap_or_default() {
        let at = hosts.key(&host);
        registry_host(&host, &at, p);
        let username = p.opt(entry.string("username")).filter(|v| !v.is_empty());
        let password = p.opt(entry.string("password")).filter(|v| !v.is_empty());
        super::kubernetes::push_unknown(p, &entry);
        let missing: Vec<&str> = [("username", username.is_none()), ("password", password.is_none())]
            .into_iter()
            .filter_map(|(k, gone)| gone.then_some(k))
            .collect();
        match (username, password) {
            (Some(username), Some(password)) => {
                out.insert(host, Credentials { username, password });
            }
            _ => p.push(ConfigError::invalid(
                &at,
                format!(
                    "{} missing for registry {host:?}: SPIRE would warn and use its default keychain, which attestor \
                     does not have; give both username and password, or remove the entry",
                    missing.join(" and ")
                ),
            )),
        }
    }
    super::kubernetes::push_unknown(p, &hosts);
    out
}

/// attestor's own keys, allowed with either generation.
fn attestor_keys(t: &mut Table, base: &Path, s: &mut SigstoreSettings, p: &mut Problems) {
    s.trusted_root = path(t, "trusted_root", base, p);
    s.public_keys = public_keys(t, base, p);
    if let Some(formats) = bundle_formats(t, p) {
        s.formats = formats;
    }
    s.registry.mirrors = mirrors(t, p);
    s.registry.ca_path = path(t, "registry_ca_path", base, p);
    match p.opt(t.string("on_failure")).as_deref() {
        None | Some("deny") => s.on_failure = OnFailure::Deny,
        Some("fact") => s.on_failure = OnFailure::Fact,
        Some(other) => p.push(ConfigError::invalid(
            t.key("on_failure"),
            format!("must be \"deny\" (SPIRE's behaviour) or \"fact\", got {other:?}"),
        )),
    }
    if let Some(ttl) = p.opt(t.duration_in("cache_ttl", ranges::SIGSTORE_CACHE_TTL)) {
        s.cache_ttl = ttl;
    }
    if let Some(n) = p.opt(t.count_in("cache_max_entries", ranges::SIGSTORE_CACHE_MAX_ENTRIES)) {
        s.cache_max_entries = n as usize;
    }
    if let Some(timeout) = p.opt(t.duration_in("registry_timeout", ranges::SIGSTORE_REGISTRY_TIMEOUT)) {
        s.registry.timeout = timeout;
    }
}

/// A file path, resolved against the config file's directory; empty is refused.
fn path(t: &mut Table, key: &str, base: &Path, p: &mut Problems) -> Option<PathBuf> {
    let value = p.opt(t.string(key))?;
    if value.is_empty() {
        p.push(ConfigError::invalid(t.key(key), "must name a file (remove the key for the default)"));
        return None;
    }
    Some(resolve(base, &value))
}

/// `public_keys = { "<name>" = "<path to PEM>" }`: the name becomes the selector
/// `image-signature-key:<name>`, so it must be non-empty and printable.
fn public_keys(t: &mut Table, base: &Path, p: &mut Problems) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Some(mut keys) = p.opt(t.block("public_keys")) else { return out };
    for name in keys.unknown_bare() {
        let file = path(&mut keys, &name, base, p);
        if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            p.push(ConfigError::invalid(
                keys.key(&name),
                format!("a key name must be non-empty, without spaces or control characters, got {name:?}"),
            ));
        } else if let Some(file) = file {
            out.insert(name, file);
        }
    }
    out
}

/// `bundle_formats`: a non-empty list of `"legacy"` and `"referrers"`, each once.
fn bundle_formats(t: &mut Table, p: &mut Problems) -> Option<BundleFormats> {
    let list = p.opt(t.strings("bundle_formats"))?;
    let key = t.key("bundle_formats");
    if list.is_empty() {
        p.push(ConfigError::invalid(key, "must name at least one of \"legacy\" and \"referrers\""));
        return None;
    }
    let mut formats = BundleFormats { legacy: false, referrers: false };
    let before = p.len();
    for name in &list {
        let slot = match name.as_str() {
            "legacy" => &mut formats.legacy,
            "referrers" => &mut formats.referrers,
            other => {
                p.push(ConfigError::invalid(&key, format!("must be \"legacy\" or \"referrers\", got {other:?}")));
                continue;
            }
        };
        if *slot {
            p.push(ConfigError::invalid(&key, format!("{name:?} is listed twice")));
        }
        *slot = true;
    }
    (p.len() == before).then_some(formats)
}

/// `registry_mirrors = { "<registry host>" = "<https URL>" }`.
fn mirrors(t: &mut Table, p: &mut Problems) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(mut hosts) = p.opt(t.block("registry_mirrors")) else { return out };
    for host in hosts.unknown_bare() {
        let key = hosts.key(&host);
        let ok = registry_host(&host, &key, p);
        let Some(url) = p.opt(hosts.string(&host)) else { continue };
        match https_url(&url) {
            Ok(()) if ok => {
                out.insert(host, url);
            }
            Ok(()) => {}
            Err(problem) => p.push(ConfigError::invalid(key, problem)),
        }
    }
    out
}

/// A registry host as image references name it (`ghcr.io`, `localhost:5000`): no scheme, no path.
fn registry_host(host: &str, key: &str, p: &mut Problems) -> bool {
    let ok = !host.is_empty() && !host.contains('/') && !host.chars().any(|c| c.is_control() || c.is_whitespace());
    if !ok {
        p.push(ConfigError::invalid(
            key,
            format!("{host:?} is not a registry host: write it as image references do (ghcr.io, localhost:5000), without scheme or path"),
        ));
    }
    ok
}

/// An https URL with a host and neither query nor fragment.
fn https_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!("must be an https URL, got scheme {:?}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must have no query (`?…`) nor fragment (`#…`)"));
    }
    Ok(())
}

/// A map of lists of strings (`key = { "<issuer>" = ["<subject>"] }`). Issuers are URLs, never
/// HCL identifiers, so only the object form can hold them.
fn string_lists(t: &mut Table, key: &str, p: &mut Problems) -> Vec<(String, Vec<String>)> {
    p.opt(t.string_lists(key)).unwrap_or_default()
}

/// Sigstore verifies the found container's `imageID`, which only the kubelet's pod list gives.
/// `s` is `None` when the block had problems of its own.
fn needs_pod_list(place: Place, s: Option<&SigstoreSettings>, kubernetes: &KubernetesSettings, p: &mut Problems) {
    const WHY: &str = "Sigstore verifies the found container's imageID from the kubelet's pod list";
    let at = place.path();
    if kubernetes.mode == Some(SourceMode::Disabled) {
        p.push(ConfigError::Rule(format!(
            "{at}: {WHY}, and k8s_source = \"disabled\" turns the Kubernetes source off: remove the block, or enable \
             the source"
        )));
    } else if kubernetes.endpoint == Endpoint::Disabled {
        p.push(ConfigError::Rule(format!(
            "{at}: {WHY}, and disable_kubelet_client = true means there is none: remove the block, or enable the \
             kubelet client"
        )));
    }
    if s.is_some_and(|s| matches!(s.spire, SpireKeys::One(_))) && kubernetes.disable_container_selectors {
        p.push(ConfigError::Rule(
            "experimental.sigstore: generation 1 (SPIRE ≤ 1.10.1) verifies images only when container selectors are \
             enabled, and disable_container_selectors = true disables them, so the block would do nothing: enable \
             container selectors, or use generation 2's keys"
                .into(),
        ));
    }
}

#[cfg(test)]
mod tests;
