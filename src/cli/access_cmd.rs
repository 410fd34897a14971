//! `etcd-monitor user ...`, `token ...` and `audit list`: access control from the
//! command line, on the store of a stopped monitor (a running one holds the store;
//! its admin API does the same then). Passwords come from a prompt without echo or
//! from stdin, never from an argument.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};

use super::output::{self, outln};
use crate::audit::{self, AuditRecord, Filter, Trail};
use crate::auth::{tokens, users, Role};
use crate::config::{Overrides, Settings};
use crate::store::{Store, StoreError, FILE_NAME};

/// Where the store is.
#[derive(Debug, clap::Args)]
pub struct StoreLocation {
    /// Config file; its store.data_dir holds the store.
    #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// The store's directory (default: the config's store.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Local users of the dashboard and API (server.auth.mode = "local" or "proxy").
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Adds a user; the password is asked for (or read from stdin).
    Add {
        name: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// Read the password from the first line of stdin instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        at: StoreLocation,
    },
    /// Sets a user's password (asked for, or read from stdin).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        at: StoreLocation,
    },
    /// Changes a user's role.
    Role {
        name: String,
        role: Role,
        #[command(flatten)]
        at: StoreLocation,
    },
    /// Deletes a user.
    Del {
        name: String,
        #[command(flatten)]
        at: StoreLocation,
    },
    /// Lists users (never their password hashes).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: StoreLocation,
    },
}

/// API tokens (`Authorization: Bearer <token>`).
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints it, this once: it is stored only hashed.
    Create {
        name: String,
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// How long it works ("90d", "12h"); default: until revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
        #[command(flatten)]
        at: StoreLocation,
    },
    /// Lists tokens: name, role, expiry, last use (never the token).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: StoreLocation,
    },
    /// Revokes a token (by name or id): the next request with it is refused.
    Revoke {
        name: String,
        #[command(flatten)]
        at: StoreLocation,
    },
}

/// The audit trail: every change from the command line, the pages and the API,
/// and every login.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Lists records, newest first.
    List {
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        cluster: Option<String>,
        /// ctl, cli, web or api.
        #[arg(long)]
        source: Option<String>,
        /// Records from this long ago on ("24h", "7d").
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        limit: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: StoreLocation,
    },
}

/// The store, opened for a change or a look; refused while a monitor holds it.
fn open(at: &StoreLocation) -> anyhow::Result<Trail> {
    let settings = Settings::load(
        at.config.as_deref(),
        &Overrides {
            data_dir: at.data_dir.clone(),
            ..Default::default()
        },
    )?;
    let dir = &settings.store.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    let path = dir.join(FILE_NAME);
    match Store::open(&path, settings.store.retention()) {
        Ok(store) => Ok(Trail::new(Arc::new(store), settings.store.audit_retention)),
        Err(StoreError::InUse { path }) => bail!(
            "the store {} is in use by a running monitor; nothing was changed. Use its admin API (/api/v1/users, /api/v1/tokens) with an admin's token or login, or stop it first",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot open the store {}", path.display())),
    }
}

/// Records a change made here, whatever its outcome; hands the outcome on.
fn recorded<T, E: std::fmt::Display>(
    trail: &Trail,
    action: &str,
    target: &str,
    result: Result<T, E>,
) -> Result<T, E> {
    trail.record(&AuditRecord {
        action: action.into(),
        target: target.into(),
        outcome: audit::outcome_of(&result),
        ..AuditRecord::local("cli")
    });
    result
}

/// A password: from stdin's first line, or asked twice on the terminal without echo.
fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        crate::auth::password::check_new(&p)?;
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: give --password-stdin and the password on stdin");
    }
    let first = prompt_hidden("New password: ")?;
    crate::auth::password::check_new(&first)?;
    let again = prompt_hidden("Again: ")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off (restored afterwards, also on error).
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdin().as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is stdin, open for the process's life; term is valid for writing.
    if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
        bail!(
            "cannot read the terminal's settings: {}",
            std::io::Error::last_os_error()
        );
    }
    let saved = term;
    term.c_lflag &= !libc::ECHO;
    term.c_lflag |= libc::ECHONL;
    struct Restore(i32, libc::termios);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the settings read above on the same fd.
            unsafe { libc::tcsetattr(self.0, libc::TCSANOW, &self.1) };
        }
    }
    // SAFETY: as above; term is a valid termios.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) } != 0 {
        bail!(
            "cannot turn the terminal's echo off: {}",
            std::io::Error::last_os_error()
        );
    }
    let _restore = Restore(fd, saved);
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
            at,
        } => {
            crate::auth::check_name("user name", &name)?;
            let trail = open(&at)?;
            let password = new_password(password_stdin)?;
            recorded(
                &trail,
                "user add",
                &name,
                users::add(&trail.store, &name, role, &password),
            )?;
            outln!("user {name} added as {role}")?;
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            at,
        } => {
            let trail = open(&at)?;
            if users::get(&trail.store, &name)?.is_none() {
                bail!("no user is named {name:?}");
            }
            let password = new_password(password_stdin)?;
            recorded(
                &trail,
                "user passwd",
                &name,
                users::update(&trail.store, &name, None, Some(&password)),
            )?;
            outln!("password of {name} changed")?;
        }
        UserCommand::Role { name, role, at } => {
            let trail = open(&at)?;
            recorded(
                &trail,
                "user change",
                &name,
                users::update(&trail.store, &name, Some(role), None),
            )?;
            outln!("{name} is now {role}")?;
        }
        UserCommand::Del { name, at } => {
            let trail = open(&at)?;
            recorded(
                &trail,
                "user delete",
                &name,
                users::delete(&trail.store, &name),
            )?;
            outln!("user {name} deleted")?;
        }
        UserCommand::List { json, at } => {
            let trail = open(&at)?;
            let list = users::list(&trail.store)?;
            if json {
                let list: Vec<_> = list.iter().map(users::User::public).collect();
                return output::json_pretty(&serde_json::json!({ "users": list }));
            }
            outln!(
                "{:<32} {:<9} {:<20} password changed",
                "NAME",
                "ROLE",
                "CREATED"
            )?;
            for u in &list {
                outln!(
                    "{:<32} {:<9} {:<20} {}",
                    u.name,
                    u.role,
                    crate::time::rfc3339_seconds(u.created_unix_ms),
                    crate::time::rfc3339_seconds(u.password_changed_unix_ms)
                )?;
            }
        }
    }
    Ok(())
}

pub fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            role,
            expires_in,
            at,
        } => {
            let trail = open(&at)?;
            let expires = expires_in.map(|d| {
                crate::unix_ms_now()
                    .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            });
            let (_, text) = recorded(
                &trail,
                "token create",
                &name,
                tokens::create(&trail.store, &name, role, expires, &audit::os_user()),
            )?;
            eprintln!("token {name} ({role}) created; it is shown this once:");
            outln!("{text}")?;
        }
        TokenCommand::List { json, at } => {
            let trail = open(&at)?;
            let list = tokens::list(&trail.store)?;
            if json {
                let list: Vec<_> = list.iter().map(tokens::Token::public).collect();
                return output::json_pretty(&serde_json::json!({ "tokens": list }));
            }
            outln!(
                "{:<24} {:<9} {:<20} {:<20} LAST USED",
                "NAME",
                "ROLE",
                "CREATED",
                "EXPIRES"
            )?;
            let time = |ms: Option<i64>| ms.map_or("-".to_string(), crate::time::rfc3339_seconds);
            for t in &list {
                outln!(
                    "{:<24} {:<9} {:<20} {:<20} {}",
                    t.name,
                    t.role,
                    crate::time::rfc3339_seconds(t.created_unix_ms),
                    time(t.expires_unix_ms),
                    time(t.last_used_unix_ms)
                )?;
            }
        }
        TokenCommand::Revoke { name, at } => {
            let trail = open(&at)?;
            recorded(
                &trail,
                "token revoke",
                &name,
                tokens::revoke(&trail.store, &name),
            )?;
            outln!("token {name} revoked")?;
        }
    }
    Ok(())
}

pub fn audit(cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List {
        actor,
        action,
        cluster,
        source,
        since,
        limit,
        json,
        at,
    } = cmd;
    let trail = open(&at)?;
    let filter = Filter {
        actor,
        action,
        cluster,
        source,
        since_ms: since.map(|d| {
            crate::unix_ms_now().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        }),
        until_ms: None,
    };
    let records = audit::query(
        &trail.store,
        &filter,
        usize::try_from(limit).unwrap_or(usize::MAX),
    )?;
    if json {
        return output::json_pretty(&serde_json::json!({ "records": records }));
    }
    for r in &records {
        let cluster = if r.cluster.is_empty() {
            "-"
        } else {
            &r.cluster
        };
        outln!(
            "{}  {:<16} {:<4} {:<15} {:<12} {:<18} {}  {}",
            crate::time::rfc3339_seconds(r.at_unix_ms),
            r.actor,
            r.source,
            if r.address.is_empty() {
                "-"
            } else {
                &r.address
            },
            cluster,
            r.action,
            r.target,
            r.outcome
        )?;
    }
    Ok(())
}
