//! `cargo xtask demo sigstore`: a real cosign v3 signature verified offline by the real
//! `attestor image verify` binary.
//!
//! The signature is the one kubewarden's release workflow made for
//! `ghcr.io/kubewarden/kubewarden-controller:v1.34.0` (a Sigstore bundle from the project's test
//! data, see `src/facts/sigstore/testdata/PROVENANCE.md`). It is served from a registry on
//! loopback (Debian's `docker-registry` when installed, else the project's fake registry from
//! `tests/common/registry.rs`), attached to the image's digest the way cosign v3 does on a
//! registry without the OCI referrers API: through the `sha256-<hex>` fallback index tag. Then
//! three runs, each with its own `sigstore { }` block:
//!
//! 1. `bundle_formats = ["legacy", "referrers"]` and kubewarden's workflow allowed: verified,
//!    against the Sigstore public-good root compiled into attestor (nothing is fetched);
//! 2. SPIRE-identical mode (`bundle_formats` left at `["legacy"]`): no signatures found, which is
//!    what SPIRE says about a cosign v3 image;
//! 3. another workflow allowed instead: the signature is refused, naming the check.
//!
//! Environment: `ATTESTOR_BIN` (the `attestor` binary; default: beside this example's directory,
//! `target/<profile>/attestor`), `ATTESTOR_DEMO_DIR` (where the configurations are written;
//! default: a temporary directory), `ATTESTOR_DOCKER_REGISTRY` (another `docker-registry`
//! binary; a missing path selects the fake registry). Exits 1 when a run's outcome is not the
//! one the demo expects.

#[path = "../../tests/common/distribution.rs"]
#[allow(clippy::unwrap_used, missing_docs)]
mod distribution;
#[path = "../../tests/common/registry.rs"]
#[allow(clippy::unwrap_used, missing_docs)]
mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The signed image: kubewarden-controller v1.34.0's manifest digest.
const IMAGE_DIGEST: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const REPOSITORY: &str = "kubewarden/kubewarden-controller";
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/facts/sigstore/testdata/cosign-v3/kubewarden-controller-v1.34.0.sigstore.json"
);
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str =
    "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const OTHER_WORKFLOW: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("demo: FAILED: a run did not end as expected (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("demo: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The loopback registry serving the bundle.
enum Served {
    /// Debian's docker-registry, with its version.
    Real(distribution::Distribution, String),
    /// The project's fake registry, and why the real one is not used.
    Fake(registry::FakeRegistry, String),
}

impl Served {
    fn host(&self) -> String {
        match self {
            Self::Real(r, _) => r.host(),
            Self::Fake(r, _) => r.host(),
        }
    }

    fn ca_pem(&self) -> String {
        match self {
            Self::Real(r, _) => r.ca_pem().to_owned(),
            Self::Fake(r, _) => r.ca_pem(),
        }
    }
}

fn run() -> Result<bool> {
    let started = Instant::now();
    let attestor = attestor_binary()?;
    let work = WorkDir::new()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // The fake registry's tasks run on this runtime's workers while the binary runs.
    let served = runtime.block_on(serve())?;
    let image = format!("{}/{REPOSITORY}@{IMAGE_DIGEST}", served.host());
    std::fs::write(work.path().join("registry-ca.pem"), served.ca_pem()).context("cannot write the registry's CA")?;

    println!("attestor sigstore demo: a real cosign v3 signature, verified offline\n");
    println!("  image:     ghcr.io/{REPOSITORY}:v1.34.0 = {IMAGE_DIGEST}");
    println!("  signed by: {WORKFLOW}");
    println!("             (issuer {ISSUER}, Rekor log index 1261105807)");
    match &served {
        Served::Real(_, version) => println!("  registry:  {version} on https://{}", served.host()),
        Served::Fake(_, why) => {
            println!("  registry:  the project's fake registry on https://{} ({why})", served.host())
        }
    }
    println!("  served as: an OCI referrer listed by the fallback tag {}", distribution::tag_of(IMAGE_DIGEST));
    println!("             (this registry has no OCI referrers API, as distribution 2.8 has none)");
    println!("  files in:  {}\n", work.path().display());

    let mut ok = true;
    let both = r#"["legacy", "referrers"]"#;
    ok &= step(
        &attestor,
        &work,
        &image,
        Step {
            title: "1. cosign v3 bundles enabled, kubewarden's release workflow allowed",
            file: "verify.hcl",
            formats: Some(both),
            allowed: WORKFLOW,
            expect_success: true,
            expect_text: "verdict: verified",
            note: "the bundle's certificate chains to Fulcio in the public-good root, its Rekor entry and SCT \
               check out, its statement names this digest, and the signer is the allowed workflow",
        },
    )?;
    ok &= step(
        &attestor,
        &work,
        &image,
        Step {
            title: "2. SPIRE-identical mode: bundle_formats left at [\"legacy\"] (the .sig tag only)",
            file: "spire-identical.hcl",
            formats: None,
            allowed: WORKFLOW,
            expect_success: false,
            expect_text: "no signatures found",
            note: "SPIRE's sigstore block reads only the legacy .sig tag, so for a cosign v3 image it fails the \
               attestation with this same \"no signatures found\"",
        },
    )?;
    ok &= step(
        &attestor,
        &work,
        &image,
        Step {
            title: "3. another workflow allowed instead: the signature is refused",
            file: "wrong-identity.hcl",
            formats: Some(both),
            allowed: OTHER_WORKFLOW,
            expect_success: false,
            expect_text: "is not in allowed_identities",
            note: "a valid signature by someone not allowed counts for nothing; the refusal names the signer",
        },
    )?;
    drop(served);
    println!("demo: {} in {:.1} s", if ok { "done" } else { "FAILED" }, started.elapsed().as_secs_f64());
    Ok(ok)
}

/// Start a registry and attach the bundle to the image through the fallback tag.
async fn serve() -> Result<Served> {
    let bundle = std::fs::read(BUNDLE).with_context(|| format!("cannot read {BUNDLE}"))?;
    let real = distribution::binary().and_then(|_| distribution::Distribution::start(distribution::Access::Anonymous));
    match real {
        Ok(registry) => {
            let version = distribution::Distribution::version().unwrap_or_else(|_| "docker-registry".into());
            // "/usr/bin/docker-registry github.com/docker/distribution 2.8.2+ds1" → "distribution 2.8.2+ds1"
            let version = version.rsplit('/').next().unwrap_or(&version).to_owned();
            registry.push_fallback_referrer(REPOSITORY, IMAGE_DIGEST, &bundle).await.map_err(anyhow::Error::msg)?;
            let label =
                format!("Debian's docker-registry ({version}), started in {} ms", registry.startup().as_millis());
            Ok(Served::Real(registry, label))
        }
        Err(why) => {
            let registry = registry::FakeRegistry::start(registry::Auth::Anonymous).await;
            registry.set_referrers_api(false);
            registry.put_referrer(REPOSITORY, IMAGE_DIGEST, &bundle, registry::Via::FallbackTag);
            Ok(Served::Fake(registry, format!("docker-registry not used: {why}")))
        }
    }
}

/// One run of `attestor image verify` and what it should say.
struct Step {
    title: &'static str,
    file: &'static str,
    /// `bundle_formats`, or `None` to leave SPIRE's default.
    formats: Option<&'static str>,
    allowed: &'static str,
    expect_success: bool,
    expect_text: &'static str,
    /// What the outcome means, for the operator.
    note: &'static str,
}

/// Write the step's configuration, run the binary on the image, print both, and say whether
/// the outcome was the expected one.
fn step(attestor: &Path, work: &WorkDir, image: &str, step: Step) -> Result<bool> {
    let config = sigstore_config(step.formats, step.allowed);
    let path = work.path().join(step.file);
    std::fs::write(&path, &config).with_context(|| format!("cannot write {}", path.display()))?;
    println!("── {}\n", step.title);
    println!("   {}:", step.file);
    for line in config.lines() {
        println!("   │ {line}");
    }
    println!("\n   $ attestor image verify {image} --config {}\n", step.file);
    let out = Command::new(attestor)
        .args(["image", "verify", image, "--config"])
        .arg(&path)
        .output()
        .with_context(|| format!("cannot run {}", attestor.display()))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for line in text.lines() {
        println!("   {line}");
    }
    let code = out.status.code().map_or_else(|| out.status.to_string(), |c| c.to_string());
    let as_expected = out.status.success() == step.expect_success && text.contains(step.expect_text);
    let verdict = if as_expected { "as expected" } else { "NOT AS EXPECTED" };
    println!("\n   exit status {code}: {verdict}: {}\n", step.note);
    Ok(as_expected)
}

/// A configuration whose `sigstore` block allows `allowed` (from GitHub Actions) and looks for
/// signatures in `formats`.
fn sigstore_config(formats: Option<&str>, allowed: &str) -> String {
    let formats = match formats {
        Some(f) => format!(
            "  # cosign v3 bundles are OCI referrers of the image (SPIRE reads only the legacy .sig tag).\n  bundle_formats = {f}\n"
        ),
        None => String::new(),
    };
    format!(
        r#"sigstore {{
  # Who may sign, by OIDC issuer: exact subjects here (a regex when a metacharacter appears).
  allowed_identities = {{
    "{ISSUER}" = ["{allowed}"]
  }}
{formats}  # The loopback registry's CA, made for this run.
  registry_ca_path = "registry-ca.pem"
  # The image has no attestation (.att); SPIRE's generation 2 would otherwise require one.
  ignore_attestations = true
  # No trusted_root: the Sigstore public-good root compiled into attestor; nothing is fetched.
}}
"#
    )
}

/// `ATTESTOR_BIN`, or the `attestor` binary of the profile this example was built in.
fn attestor_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ATTESTOR_BIN") {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe().context("cannot find this example's path")?;
    // target/<profile>/examples/sigstore_demo → target/<profile>/attestor
    let beside = me.parent().and_then(Path::parent).map(|p| p.join("attestor"));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        _ => bail!(
            "no attestor binary: build it (cargo build -p attestor --bin attestor) or run `cargo xtask demo sigstore`, \
             or set ATTESTOR_BIN"
        ),
    }
}

/// Where the configurations go: `ATTESTOR_DEMO_DIR`, kept, or a temporary directory.
enum WorkDir {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkDir {
    fn new() -> Result<Self> {
        match std::env::var_os("ATTESTOR_DEMO_DIR") {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                Ok(Self::Kept(dir))
            }
            None => Ok(Self::Temporary(tempfile::tempdir().context("cannot create a temporary directory")?)),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Self::Kept(p) => p,
            Self::Temporary(t) => t.path(),
        }
    }
}
