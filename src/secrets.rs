//! Secrets the config names but never holds: read from an environment variable or
//! a file when they are needed, so that the config file can be shared and shown.

use std::path::Path;

/// The secret `field` from `env` (the variable's name) or `file`: `Ok(None)` when
/// neither is given. A file's trailing newline is not part of the secret. Errors
/// name the field (`{field}_env`, `{field}_file`) and never the value.
pub fn read(field: &str, env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, String> {
    let value = match (env, file) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "{field}_env and {field}_file are both set: set one"
            ))
        }
        (Some(var), None) => std::env::var(var)
            .map_err(|_| format!("environment variable {var} ({field}_env) is not set"))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {field}_file {}: {e}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
        (None, None) => return Ok(None),
    };
    if value.trim().is_empty() {
        let source = match (env, file) {
            (Some(var), _) => format!("environment variable {var}"),
            (_, Some(path)) => path.display().to_string(),
            _ => unreachable!("one source is given"),
        };
        return Err(format!("{field}: {source} is empty"));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_one_source_and_is_never_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(
            read("token", None, Some(&file)).unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(read("token", None, None).unwrap(), None);
        let both = read("token", Some("PATH"), Some(&file)).unwrap_err();
        assert!(both.contains("token_env and token_file"), "{both}");
        let missing = read("password", Some("ETCD_MONITOR_TEST_UNSET_VAR"), None).unwrap_err();
        assert!(missing.contains("password_env"), "{missing}");
        std::fs::write(&file, "\n").unwrap();
        let empty = read("token", None, Some(&file)).unwrap_err();
        assert!(
            empty.contains("is empty") && !empty.contains("s3cret"),
            "{empty}"
        );
    }
}
