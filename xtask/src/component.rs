//! Core module → component, with `wit-component`.
//!
//! wit-bindgen leaves the world's type information in a custom section of the core module; the
//! encoder reads it and wraps the module into a component that imports and exports exactly
//! that world.

use std::path::Path;

use anyhow::{Context, Result};

/// Encode `core` (a core module carrying its component type) as a component at `dest`.
pub fn componentize(core: &Path, dest: &Path) -> Result<()> {
    let bytes = std::fs::read(core).with_context(|| format!("cannot read {}", core.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&bytes)
        .with_context(|| {
            format!("{} carries no usable component type (was it built with wit-bindgen?)", core.display())
        })?
        .validate(true)
        .encode()
        .with_context(|| format!("cannot encode {} as a component", core.display()))?;
    let tmp = dest.with_extension("wasm.tmp");
    std::fs::write(&tmp, &component).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(())
}
