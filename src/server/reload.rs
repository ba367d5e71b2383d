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
//! again. Refused as well: a certificate outside its validity period (expired, or not valid
//! yet: such a pair is retried at each poll and served once its notBefore has passed, counted
//! then as a success), and a config file that says nothing (empty, or only comments), which
//! would otherwise reset every policy to the built-in defaults. Config files are parsed with
//! the async worker handed over to blocking work (`block_in_place`), and are bounded in size
//! and nesting ([`crate::config::MAX_CONFIG_BYTES`]).

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use super::state::AppState;
use super::tls::{LoadedCert, SwappableCert, parse_pem_pair, unix_now};
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
    /// A pair read from the files that is not valid yet, served once it is.
    pub(super) pending: Option<LoadedCert>,
}

impl CertWatch {
    fn read(&self) -> Seen<(Vec<u8>, Vec<u8>)> {
        let read = |path: &PathBuf| fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        match (read(&self.cert), read(&self.key)) {
            (Ok(cert), Ok(key)) => Seen::Contents((cert, key)),
            (Err(e), _) | (_, Err(e)) => Seen::Unreadable(e),
        }
    }

    /// Reads the files; if they changed, loads and serves the new pair or keeps the old. A
    /// pair that is not valid yet waits in `pending` and is served at the first poll past its
    /// notBefore (if the files still hold it).
    pub(super) fn poll(&mut self, state: &AppState) {
        let seen = self.read();
        let now = unix_now();
        if seen == self.last {
            if let Some(pending) = self.pending.take_if(|p| p.invalid_at(now).is_none()) {
                self.serve(state, pending);
            }
            return;
        }
        self.pending = None;
        let loaded = match &seen {
            Seen::Contents((cert, key)) => parse_pem_pair(cert, key).map_err(|e| format!("{e:#}")),
            Seen::Unreadable(e) => Err(e.clone()),
        };
        self.last = seen;
        let refused = match loaded {
            Ok(loaded) => match loaded.invalid_at(now) {
                None => {
                    self.serve(state, loaded);
                    return;
                }
                Some(why) => {
                    if now < loaded.not_before && now < loaded.not_after {
                        self.pending = Some(loaded);
                    }
                    why
                }
            },
            Err(e) => e,
        };
        state.metrics().certificate_reload(false);
        tracing::error!(
            cert = %self.cert.display(),
            key = %self.key.display(),
            "cannot reload the TLS certificate; still serving the previous one: {refused}"
        );
    }

    fn serve(&self, state: &AppState, loaded: LoadedCert) {
        self.resolver.swap(loaded.certified);
        state.metrics().certificate_reload(true);
        state.metrics().set_certificate_not_after(loaded.not_after);
        tracing::info!(cert = %self.cert.display(), not_after = loaded.not_after, "reloaded the TLS certificate");
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
/// as a line. A config that says nothing (empty, only comments, or `null`) is refused: the
/// server was told to read a config, and taking nothing for the built-in defaults would drop
/// every policy the operator set (a cost cap, `require_annotations`) without a word.
///
/// Parsing is bounded ([`crate::config::MAX_CONFIG_BYTES`],
/// [`crate::config::MAX_CONFIG_FLOW_COLLECTIONS`]) but is CPU work: on a multi-threaded
/// runtime the worker is handed over to blocking work while it runs, so reviews queued on it
/// move to other workers.
pub(super) fn parse_config(bytes: &[u8]) -> Result<Settings, Vec<String>> {
    let text = std::str::from_utf8(bytes).map_err(|e| vec![format!("config is not UTF-8: {e}")])?;
    if says_nothing(text) {
        return Err(vec![
            "the config is empty (nothing but blank lines and comments); refused, since it would reset every \
             setting to the built-in defaults; accepted: a config with at least one key (`{}` for the defaults)"
                .to_owned(),
        ]);
    }
    let parse = || Settings::from_yaml(text).map_err(|errors| errors.iter().map(ToString::to_string).collect());
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(parse)
        }
        _ => parse(),
    }
}

/// Whether a YAML text holds no content: only blank lines, comments, directives, document
/// markers, or a lone null (`~`, `null`).
fn says_nothing(text: &str) -> bool {
    let content: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('%') && *l != "---" && *l != "...")
        .collect();
    match content.as_slice() {
        [] => true,
        [one] => {
            let value = one.split(" #").next().unwrap_or_default().trim();
            matches!(value, "~" | "null" | "Null" | "NULL" | "--- ~" | "--- null")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12, item 10: a config that says nothing is refused, not taken for the defaults.
    #[test]
    fn a_config_that_says_nothing_is_refused() {
        for text in [
            "",
            "\n  \n",
            "# all settings removed\n# by mistake\n",
            "%YAML 1.2\n---\n# nothing\n...\n",
            "~\n",
            "null # no\n",
        ] {
            let errors = parse_config(text.as_bytes()).unwrap_err();
            assert!(errors[0].contains("the config is empty"), "{text:?}: {errors:?}");
        }
        assert_eq!(parse_config(b"{}\n").unwrap(), Settings::default());
        assert_eq!(parse_config(b"# comment\nmax_gpus: 8\n").unwrap().max_gpus, 8);
    }
}
