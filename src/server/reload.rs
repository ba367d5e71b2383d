//! Polling reload of the serving certificate and of the config file.
//!
//! Every `reload_interval` the paths are read again and compared, byte for byte, with what
//! was last seen there. Secret volumes are updated by the kubelet through an atomic rename of
//! a `..data` symlink, and cert-manager's files change the same way, so watching an inode
//! would miss updates; re-reading the path sees them. The files are a few kilobytes, so
//! reading them every few seconds costs nothing.
//!
//! A change that loads is put in force at once. One that does not is logged and counted once
//! (not once per poll): the old certificate or config stays in force until the files change
//! again.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use super::app::AppState;
use super::tls::{SwappableCert, parse_pem_pair};
use crate::config::Settings;

/// What a poll found at a path (or paths): their bytes, or why they could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Seen<T> {
    Contents(T),
    Unreadable(String),
}

/// The certificate and key files, and what was last seen in them.
#[derive(Debug)]
pub(super) struct CertWatch {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
    pub(super) last: Seen<(Vec<u8>, Vec<u8>)>,
    pub(super) resolver: Arc<SwappableCert>,
}

impl CertWatch {
    fn read(&self) -> Seen<(Vec<u8>, Vec<u8>)> {
        let read = |path: &PathBuf| fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        match (read(&self.cert), read(&self.key)) {
            (Ok(cert), Ok(key)) => Seen::Contents((cert, key)),
            (Err(e), _) | (_, Err(e)) => Seen::Unreadable(e),
        }
    }

    /// Reads the files; if they changed, loads and serves the new pair or keeps the old.
    pub(super) fn poll(&mut self, state: &AppState) {
        let seen = self.read();
        if seen == self.last {
            return;
        }
        let loaded = match &seen {
            Seen::Contents((cert, key)) => parse_pem_pair(cert, key).map_err(|e| format!("{e:#}")),
            Seen::Unreadable(e) => Err(e.clone()),
        };
        self.last = seen;
        match loaded {
            Ok(loaded) => {
                self.resolver.swap(loaded.certified);
                state.metrics().certificate_reload(true);
                state.metrics().set_certificate_not_after(loaded.not_after);
                tracing::info!(
                    cert = %self.cert.display(),
                    not_after = loaded.not_after,
                    "reloaded the TLS certificate"
                );
            }
            Err(e) => {
                state.metrics().certificate_reload(false);
                tracing::error!(
                    cert = %self.cert.display(),
                    key = %self.key.display(),
                    "cannot reload the TLS certificate; still serving the previous one: {e}"
                );
            }
        }
    }
}

/// The config file, and what was last seen in it.
#[derive(Debug)]
pub(super) struct ConfigWatch {
    pub(super) path: PathBuf,
    pub(super) last: Seen<Vec<u8>>,
}

impl ConfigWatch {
    /// Reads the file; if it changed, validates it and puts it in force, or keeps the old
    /// settings and logs every problem.
    pub(super) fn poll(&mut self, state: &AppState) {
        let seen = match fs::read(&self.path) {
            Ok(bytes) => Seen::Contents(bytes),
            Err(e) => Seen::Unreadable(format!("cannot read {}: {e}", self.path.display())),
        };
        if seen == self.last {
            return;
        }
        let loaded = match &seen {
            Seen::Contents(bytes) => parse_config(bytes),
            Seen::Unreadable(e) => Err(vec![e.clone()]),
        };
        self.last = seen;
        put_in_force(state, &self.path.display().to_string(), loaded);
    }
}

/// Puts a changed config in force, or keeps the old settings and logs every problem; counts
/// the attempt. `source` names where it came from (a path, `ConfigMap ns/name`).
pub(super) fn put_in_force(state: &AppState, source: &str, loaded: Result<Settings, Vec<String>>) {
    match loaded {
        Ok(settings) => {
            if settings.server != *state.limits() {
                tracing::warn!(
                    config = source,
                    "the config's server: section changed; its limits and client CA take effect at the next start"
                );
            }
            state.set_settings(settings);
            state.metrics().config_reload(true);
            tracing::info!(config = source, "reloaded the config");
        }
        Err(errors) => {
            state.metrics().config_reload(false);
            tracing::error!(
                config = source,
                errors = errors.len(),
                "cannot reload the config; the previous config stays in force"
            );
            for error in errors {
                tracing::error!(config = source, "{error}");
            }
        }
    }
}

/// Validates a config file's bytes (as `config::load_file` does with a path), with each error
/// as a line.
pub(super) fn parse_config(bytes: &[u8]) -> Result<Settings, Vec<String>> {
    let text = std::str::from_utf8(bytes).map_err(|e| vec![format!("config is not UTF-8: {e}")])?;
    Settings::from_yaml(text).map_err(|errors| errors.iter().map(ToString::to_string).collect())
}
