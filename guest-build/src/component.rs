//! Core module → component, with `wit-component`.
//!
//! wit-bindgen leaves the world's type information in a custom section of the core module; the
//! encoder reads it and wraps the module into a component that imports and exports exactly
//! that world. No adapter is involved: a module built for `wasm32-unknown-unknown` imports
//! nothing but the world's own interfaces.

use std::path::Path;

use crate::BuildError;

/// Encode a core module carrying its component type as a component. `path` names it in errors.
pub fn componentize(core: &[u8], path: &Path) -> Result<Vec<u8>, BuildError> {
    let not_a_module = |reason: String| BuildError::NotAModule { path: path.to_owned(), reason };
    if !core.starts_with(b"\0asm") {
        return Err(not_a_module("not a WebAssembly file".to_owned()));
    }
    // The encoder turns a core module without any component type into an empty component; say
    // what is wrong here instead of leaving it to the host's "exports nothing" at load.
    if !has_component_type(core) {
        return Err(not_a_module(
            "it carries no component type: a module is built with the attestor-guest SDK's \
             `export_module!` (or wit-bindgen for the `attestor-module` world)"
                .to_owned(),
        ));
    }
    wit_component::ComponentEncoder::default()
        .module(core)
        .map_err(|e| not_a_module(format!("its component type does not read: {e:#}")))?
        .validate(true)
        .encode()
        .map_err(|e| not_a_module(format!("it does not encode as a component: {e:#}")))
}

/// Whether a core module has a custom section `component-type*` (wit-bindgen's). A module
/// that does not parse has none; the encoder reports the parse error when there is one.
fn has_component_type(core: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(core).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::CustomSection(s)) if s.name().starts_with("component-type"))
    })
}

/// [`componentize`] the file `core` into `dest`, replaced whole (a temporary file renamed over).
pub fn componentize_file(core: &Path, dest: &Path) -> Result<(), BuildError> {
    let bytes = std::fs::read(core).map_err(BuildError::io(core))?;
    let component = componentize(&bytes, core)?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(BuildError::io(dir))?;
    }
    let tmp = dest.with_extension("wasm.tmp");
    std::fs::write(&tmp, &component).map_err(BuildError::io(&tmp))?;
    std::fs::rename(&tmp, dest).map_err(BuildError::io(dest))
}

#[cfg(test)]
mod tests;
