//! The one configuration schema (DESIGN.md §2), shared by the CLI (`--config FILE`, JSON), the
//! Node API (an object) and the REST API.
//!
//! ```json
//! { "dataDir": "./data",
//!   "archive": { "enabled": true, "localDir": "./data/archives", "keepLocal": 3,
//!     "triggers": { "schedule": "0 3 * * *", "intervalMs": 3600000, "walSizeMB": 64,
//!                   "walSegments": 10, "walEntries": 100000, "manual": true },
//!     "compression": { "algorithm": "zstd", "level": 19 },
//!     "errorCorrection": { "enabled": true, "redundancy": 10 },
//!     "remote": { "provider": "r2", "bucket": "backups", "prefix": "bri/", "region": "auto",
//!                 "endpoint": null, "retentionDays": 90, "storageClass": null },
//!     "restoreSources": ["local", "remote"],
//!     "cleanupWal": true, "cleanupSnapshots": false } }
//! ```
//!
//! Precedence, lowest first: built-in defaults, environment variables (`COMPRESSION_LEVEL`,
//! `R2_BUCKET`, `R2_ACCOUNT_ID`, `AWS_REGION`, ...), the file, then command-line flags. Unknown
//! keys and wrong types are errors that name the key (`archive.compression.level`). Secrets
//! (access keys, the encryption key) are never read from the file and never printed.

use crate::error::CliError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    pub data_dir: Option<PathBuf>,
    pub archive: ArchiveConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ArchiveConfig {
    pub enabled: bool,
    /// Default: `<dataDir>/archives`.
    pub local_dir: Option<PathBuf>,
    /// Local archives kept once a verified remote copy exists.
    pub keep_local: u32,
    pub triggers: Triggers,
    pub compression: CompressionConfig,
    pub error_correction: ErrorCorrection,
    pub remote: Option<Remote>,
    pub restore_sources: Vec<String>,
    pub cleanup_wal: bool,
    pub cleanup_snapshots: bool,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            enabled: true,
            local_dir: None,
            keep_local: 3,
            triggers: Triggers::default(),
            compression: CompressionConfig::default(),
            error_correction: ErrorCorrection::default(),
            remote: None,
            restore_sources: vec!["local".into()],
            cleanup_wal: true,
            cleanup_snapshots: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Triggers {
    /// Cron expression.
    pub schedule: Option<String>,
    pub interval_ms: Option<u64>,
    #[serde(rename = "walSizeMB")]
    pub wal_size_mb: Option<u64>,
    pub wal_segments: Option<u64>,
    pub wal_entries: Option<u64>,
    pub manual: bool,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            schedule: None,
            interval_ms: None,
            wal_size_mb: None,
            wal_segments: None,
            wal_entries: None,
            manual: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CompressionConfig {
    /// Only `"zstd"`.
    pub algorithm: String,
    pub level: i32,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            algorithm: "zstd".into(),
            level: 19,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorCorrection {
    pub enabled: bool,
    /// Percent of the archive.
    pub redundancy: u8,
}

impl Default for ErrorCorrection {
    fn default() -> Self {
        ErrorCorrection {
            enabled: true,
            redundancy: bri_core::parity::DEFAULT_REDUNDANCY_PERCENT,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Remote {
    /// `s3`, `r2`, `gcs`, `azure` or `local`.
    pub provider: String,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub retention_days: Option<u32>,
    pub storage_class: Option<String>,
}

/// Keys that hold secrets: refused in the file with a sentence saying where they go.
const SECRET_KEYS: [&str; 6] = [
    "accessKeyId",
    "secretAccessKey",
    "sessionToken",
    "encryptionKey",
    "password",
    "token",
];

fn find_secret(v: &serde_json::Value, path: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                Some(p)
            } else {
                find_secret(v, &p)
            }
        }),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_secret(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

impl Config {
    /// Parse a configuration file's text. Errors name the key at fault.
    pub fn parse(text: &str, origin: &str) -> Result<Config, CliError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| CliError::Config(format!("{origin} is not valid JSON: {e}")))?;
        if let Some(k) = find_secret(&value, "") {
            return Err(CliError::Config(format!(
                "{origin}: `{k}` looks like a secret; secrets are read from the environment only (AWS_*, R2_*, GOOGLE_*, AZURE_*, BRI_ENCRYPTION_KEY), never from the file"
            )));
        }
        let cfg: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            CliError::Config(format!("{origin}: `{path}`: {}", e.into_inner()))
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    fn validate(&self, origin: &str) -> Result<(), CliError> {
        let c = &self.archive.compression;
        if c.algorithm != "zstd" {
            return Err(CliError::Config(format!(
                "{origin}: `archive.compression.algorithm` is {:?}; only \"zstd\" is supported",
                c.algorithm
            )));
        }
        bri_core::codec::check_level(c.level).map_err(|_| {
            CliError::Config(format!(
                "{origin}: `archive.compression.level` is {}; use 1 to 22",
                c.level
            ))
        })?;
        let r = self.archive.error_correction.redundancy;
        if r > 100 {
            return Err(CliError::Config(format!(
                "{origin}: `archive.errorCorrection.redundancy` is {r}; use 0 to 100 (percent)"
            )));
        }
        if let Some(rm) = &self.archive.remote {
            if !["s3", "r2", "gcs", "azure", "local"].contains(&rm.provider.as_str()) {
                return Err(CliError::Config(format!(
                    "{origin}: `archive.remote.provider` is {:?}; use s3, r2, gcs, azure or local",
                    rm.provider
                )));
            }
        }
        for s in &self.archive.restore_sources {
            if !["local", "remote", "s3", "r2", "gcs", "azure"].contains(&s.as_str()) {
                return Err(CliError::Config(format!(
                    "{origin}: `archive.restoreSources` contains {s:?}; use local or remote"
                )));
            }
        }
        Ok(())
    }

    /// Defaults, then the environment, then the file (if any).
    pub fn load(file: Option<&Path>) -> Result<Config, CliError> {
        let mut cfg = Config::default();
        apply_env(&mut cfg, |k| std::env::var(k).ok())?;
        if let Some(p) = file {
            let text = std::fs::read_to_string(p).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    CliError::Config(format!("configuration file {} does not exist", p.display()))
                } else {
                    CliError::io(format!("reading {}", p.display()), e)
                }
            })?;
            let raw: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Config(format!("{} is not valid JSON: {e}", p.display())))?;
            let from_file = Config::parse(&text, &p.display().to_string())?;
            cfg = merge(cfg, from_file, &raw);
        }
        Ok(cfg)
    }

    /// The local archive store for `data_dir`.
    pub fn local_dir(&self, data_dir: &Path) -> PathBuf {
        self.archive
            .local_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("archives"))
    }
}

/// Fill in from environment variables what the defaults say (the file comes later and wins).
pub fn apply_env(cfg: &mut Config, get: impl Fn(&str) -> Option<String>) -> Result<(), CliError> {
    if let Some(l) = get("COMPRESSION_LEVEL") {
        cfg.archive.compression.level = l.trim().parse().map_err(|_| {
            CliError::Config(format!(
                "COMPRESSION_LEVEL={l:?} is not a number; use 1 to 22"
            ))
        })?;
        bri_core::codec::check_level(cfg.archive.compression.level).map_err(|_| {
            CliError::Config(format!(
                "COMPRESSION_LEVEL={l} is out of range; use 1 to 22"
            ))
        })?;
    }
    if let Some(bucket) = get("R2_BUCKET") {
        let account = get("R2_ACCOUNT_ID");
        cfg.archive.remote = Some(Remote {
            provider: "r2".into(),
            bucket: Some(bucket),
            endpoint: account.map(|a| format!("https://{a}.r2.cloudflarestorage.com")),
            region: Some("auto".into()),
            ..Remote::default()
        });
    }
    if let Some(region) = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")) {
        if let Some(r) = cfg.archive.remote.as_mut().filter(|r| r.provider == "s3") {
            r.region = Some(region);
        }
    }
    Ok(())
}

/// The file's values over `base`, key by key: only keys the file states replace `base`'s.
fn merge(base: Config, file: Config, raw: &serde_json::Value) -> Config {
    let mut v = serde_json::to_value(&base).unwrap_or_default();
    let f = serde_json::to_value(&file).unwrap_or_default();
    fn overlay(dst: &mut serde_json::Value, src: &serde_json::Value, said: &serde_json::Value) {
        if let (Some(d), Some(s), Some(said)) =
            (dst.as_object_mut(), src.as_object(), said.as_object())
        {
            for (k, stated) in said {
                let Some(sv) = s.get(k) else { continue };
                match (d.get_mut(k), stated.is_object() && sv.is_object()) {
                    (Some(dv), true) if dv.is_object() => overlay(dv, sv, stated),
                    _ => {
                        d.insert(k.clone(), sv.clone());
                    }
                }
            }
        }
    }
    overlay(&mut v, &f, raw);
    serde_json::from_value(v).unwrap_or(file)
}

/// The effective configuration as JSON, with nothing secret in it (secrets never enter it).
pub fn effective_json(cfg: &Config) -> serde_json::Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_default();
    let env_secret = |k: &str| std::env::var_os(k).is_some();
    v["secrets"] = serde_json::json!({
        "BRI_ENCRYPTION_KEY": if env_secret("BRI_ENCRYPTION_KEY") { "set (redacted)" } else { "not set" },
        "AWS_SECRET_ACCESS_KEY": if env_secret("AWS_SECRET_ACCESS_KEY") { "set (redacted)" } else { "not set" },
        "R2_SECRET_ACCESS_KEY": if env_secret("R2_SECRET_ACCESS_KEY") { "set (redacted)" } else { "not set" },
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_a_full_file() {
        let c = Config::parse("{}", "t").unwrap();
        assert_eq!(c.archive.compression.level, 19);
        assert_eq!(c.archive.keep_local, 3);
        assert!(c.archive.cleanup_wal);
        let c = Config::parse(
            r#"{"dataDir":"/d","archive":{"localDir":"/a","compression":{"algorithm":"zstd","level":7},
               "errorCorrection":{"enabled":true,"redundancy":20},"triggers":{"walSizeMB":64},
               "remote":{"provider":"r2","bucket":"b","retentionDays":30},"restoreSources":["local","remote"]}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.archive.compression.level, 7);
        assert_eq!(c.archive.triggers.wal_size_mb, Some(64));
        assert_eq!(c.local_dir(Path::new("/x")), PathBuf::from("/a"));
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse(
            r#"{"archive":{"compression":{"level":"high"}}}"#,
            "cfg.json",
        )
        .unwrap_err();
        assert!(e.to_string().contains("archive.compression.level"), "{e}");
        let e = Config::parse(r#"{"archive":{"keepLokal":3}}"#, "cfg.json").unwrap_err();
        assert!(e.to_string().contains("keepLokal"), "{e}");
        let e =
            Config::parse(r#"{"archive":{"compression":{"level":40}}}"#, "cfg.json").unwrap_err();
        assert!(e.to_string().contains("1 to 22"), "{e}");
        let e = Config::parse(
            r#"{"archive":{"remote":{"provider":"s3","secretAccessKey":"x"}}}"#,
            "c",
        )
        .unwrap_err();
        assert!(e.to_string().contains("environment only"), "{e}");
        assert_eq!(e.code(), bri_core::ErrorCode::ConfigError);
    }

    #[test]
    fn env_fills_what_the_file_does_not_say() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "COMPRESSION_LEVEL" => Some("5".to_string()),
            "R2_BUCKET" => Some("bkt".to_string()),
            "R2_ACCOUNT_ID" => Some("acc".to_string()),
            _ => None,
        };
        apply_env(&mut c, env).unwrap();
        assert_eq!(c.archive.compression.level, 5);
        let r = c.archive.remote.clone().unwrap();
        assert_eq!(
            r.endpoint.as_deref(),
            Some("https://acc.r2.cloudflarestorage.com")
        );
        // The file wins where it speaks, the environment stays where it does not.
        let text = r#"{"archive":{"errorCorrection":{"redundancy":20}}}"#;
        let raw: serde_json::Value = serde_json::from_str(text).unwrap();
        let merged = merge(c.clone(), Config::parse(text, "t").unwrap(), &raw);
        assert_eq!(merged.archive.compression.level, 5);
        assert_eq!(merged.archive.error_correction.redundancy, 20);
        let text = r#"{"archive":{"compression":{"level":9}}}"#;
        let raw: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            merge(c, Config::parse(text, "t").unwrap(), &raw)
                .archive
                .compression
                .level,
            9
        );
        assert!(
            apply_env(&mut Config::default(), |k| (k == "COMPRESSION_LEVEL")
                .then(|| "x".into()))
            .is_err()
        );
    }
}
