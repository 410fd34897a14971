//! What the binary says about itself: `--version` with its commit and build date,
//! shell completions and man pages generated from the CLI definition.

use std::process::Command;

use crate::process::BIN;

fn run(args: &[&str]) -> (String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `etcd-monitor 0.1.0 (commit 0123456789ab, built 2026-12-03)`: the commit is the
/// checkout's HEAD, the date a real one.
#[test]
fn version_names_the_commit_and_the_build_date() {
    let (out, _) = run(&["--version"]);
    let line = out.trim_end();
    let rest = line
        .strip_prefix(concat!(
            "etcd-monitor ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        ))
        .unwrap_or_else(|| panic!("{line:?}"));
    let (commit, date) = rest
        .strip_suffix(')')
        .and_then(|r| r.split_once(", built "))
        .unwrap_or_else(|| panic!("{line:?}"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    if head.status.success() {
        // Built from this checkout (a test build always is, unless the commit was set).
        let head = String::from_utf8(head.stdout).unwrap();
        assert_eq!(commit, head.trim(), "{line:?}");
    } else {
        assert_eq!(commit, "unknown", "{line:?}");
    }
    let parts: Vec<u32> = date.split('-').filter_map(|p| p.parse().ok()).collect();
    assert!(
        date.len() == 10
            && parts.len() == 3
            && parts[0] >= 2026
            && (1..=12).contains(&parts[1])
            && (1..=31).contains(&parts[2]),
        "build date {date:?} in {line:?}"
    );
}

/// The bash script loads in a real bash and registers the completion; every shell's
/// script knows the subcommands, down to ctl's.
#[test]
fn completions_are_generated_for_every_shell_and_load_in_bash() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (script, _) = run(&["completions", shell]);
        for word in ["serve", "bench", "ctl", "member", "snapshot"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("etcd-monitor.bash");
    std::fs::write(&file, run(&["completions", "bash"]).0).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source '{}'; complete -p etcd-monitor",
            file.display()
        ))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("etcd-monitor"),
        "{out:?}"
    );
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unknown shell is refused");
}

/// `manpages DIR` writes etcd-monitor(1) and a page per subcommand; groff formats
/// each without a warning, and a page says what `--help` says.
#[test]
fn man_pages_cover_every_subcommand_and_format_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, said) = run(&["manpages", dir.path().to_str().unwrap()]);
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    pages.sort();
    assert!(
        said.contains(&format!("{} man pages", pages.len())),
        "{said}"
    );
    for page in [
        "etcd-monitor.1",
        "etcd-monitor-serve.1",
        "etcd-monitor-completions.1",
        "etcd-monitor-check-disk.1",
        "etcd-monitor-ctl-get.1",
        "etcd-monitor-ctl-member-add.1",
    ] {
        assert!(
            pages.iter().any(|p| p == page),
            "{page} missing in {pages:?}"
        );
    }
    assert!(pages.len() > 50, "{} pages", pages.len());
    for page in &pages {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.path().join(page))
            .output()
            .expect("groff (Debian: groff-base)");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("groff")
        // Plain text: no overstriking for bold and underline.
        .args(["-man", "-Tascii", "-P-bou"])
        .arg(dir.path().join("etcd-monitor-check-disk.1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--block-size <BLOCK_SIZE> [default: 2300]"),
        "{text}"
    );
    // Hidden commands stay out of the pages.
    assert!(!pages.iter().any(|p| p.contains("manpages")), "{pages:?}");
}

/// docs/configuration.md is what `config reference` makes of the commented default
/// configuration: a setting added, changed or explained anew there changes the
/// reference, and this test says to make it again.
#[test]
fn the_configuration_reference_is_made_from_the_default_configuration() {
    let (made, _) = run(&["config", "reference"]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        made == committed,
        "docs/configuration.md is out of date: run `cargo run -- config reference > docs/configuration.md`"
    );
    let (default, _) = run(&["config", "default"]);
    for line in default.lines().filter(|l| !l.trim().is_empty()) {
        assert!(made.contains(line), "the reference leaves out {line:?}");
    }
}

/// docs/troubleshooting.md is what `alerts runbook` makes of the built-in rules:
/// one section per alert name, none left out.
#[test]
fn the_troubleshooting_guide_is_made_from_the_built_in_rules() {
    let (made, _) = run(&["alerts", "runbook"]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/troubleshooting.md");
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        made == committed,
        "docs/troubleshooting.md is out of date: run `cargo run -- alerts runbook > docs/troubleshooting.md`"
    );
    for rule in etcd_monitor::alert::builtin::BUILTIN_RULES {
        assert!(
            made.contains(&format!("\n## {}\n", rule.alertname)),
            "{} has a section",
            rule.alertname
        );
        assert!(
            made.contains(&format!("`[alerting.builtin.{}]`", rule.key)),
            "{} has its condition",
            rule.key
        );
    }
}

/// docs/api.md is what `api reference` makes of the OpenAPI document the monitor
/// serves: an operation added or changed there changes the reference.
#[test]
fn the_api_reference_is_made_from_the_openapi_document() {
    let (made, _) = run(&["api", "reference"]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md");
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        made == committed,
        "docs/api.md is out of date: run `cargo run -- api reference > docs/api.md`"
    );
    let (document, _) = run(&["api", "openapi"]);
    let document: serde_json::Value = serde_json::from_str(&document).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() > 20, "{paths:?}");
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let heading = format!("\n### {} {path}\n", method.to_ascii_uppercase());
            assert!(made.contains(&heading), "no {heading:?}");
        }
    }
}

/// packaging/kubernetes/crds.yaml is what `k8s crds` makes of the Rust types: a
/// field added to a resource changes the CRD users apply.
#[test]
fn the_packaged_crds_are_what_k8s_crds_prints() {
    let (made, _) = run(&["k8s", "crds"]);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/kubernetes/crds.yaml"
    );
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        made == committed,
        "packaging/kubernetes/crds.yaml is out of date: run `cargo run -- k8s crds > packaging/kubernetes/crds.yaml`"
    );
    for name in [
        "etcdclusters.etcd-monitor.io",
        "etcdinspections.etcd-monitor.io",
    ] {
        assert!(made.contains(&format!("  name: {name}\n")), "no CRD {name}");
    }
}
