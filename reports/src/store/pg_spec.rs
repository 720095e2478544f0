//! A PostgreSQL connection spec read as libpq reads it, so that whatever works with `psql`
//! works with `--store`: a URL (`postgres://` or `postgresql://`) or a keyword/value string
//! (`host=db user=ci dbname=visreg`); what the spec leaves out from the PG* environment,
//! then libpq's defaults; the password, when none is given, from the password file; TLS
//! from `sslmode` and `sslrootcert`. Also the one place that masks a spec's secrets for
//! messages. Built into a `postgres::Config` with its builder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tls::{self, Verify};

/// What is wrong with a PostgreSQL spec, its environment or its TLS set-up, and what to
/// give instead. Never holds a password.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The URL or keyword/value string does not parse.
    #[error("{0}: give a URL (postgres://user@host:5432/db?sslmode=require) or keyword/value pairs (host=db user=ci dbname=visreg)")]
    Syntax(SyntaxError),
    /// A keyword visreg does not take.
    #[error("keyword {key:?} is {}: visreg takes {}", if *.libpq { "libpq's but not supported by visreg" } else { "not a libpq keyword" }, SUPPORTED.join(", "))]
    Unsupported {
        /// The keyword.
        key: String,
        /// Whether libpq knows it.
        libpq: bool,
    },
    /// A keyword's value is not one it takes.
    #[error("{key}={value:?}: {why}")]
    BadValue {
        /// The keyword.
        key: String,
        /// Its value (never a secret's).
        value: String,
        /// What it takes.
        why: &'static str,
    },
    /// No user name anywhere.
    #[error("no user name: give user=… (or user@ in a URL), or set PGUSER")]
    NoUser,
    /// A verifying `sslmode` without the certificate to verify against.
    #[error("root certificate file {} does not exist: give sslrootcert=FILE (your CA's certificate), sslrootcert=system for the system's trusted roots, or sslmode=require to encrypt without verifying the server", .0.display())]
    RootCertMissing(PathBuf),
    /// The root certificate file does not hold certificates.
    #[error("root certificate file {path}: {why}")]
    RootCertBad {
        /// The file (or `system`).
        path: String,
        /// What was wrong.
        why: String,
    },
    /// `sslrootcert=system` with an `sslmode` that would not check the name.
    #[error("sslrootcert=system trusts every public CA, which only protects when the name is checked: use sslmode=verify-full with it (libpq refuses sslmode={0} with it too)")]
    WeakWithSystem(String),
}

/// Where a spec's syntax goes wrong. No variant echoes free text of the spec: a stray word
/// may be the rest of an unquoted password.
#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    /// A keyword/value string's word with no `=` after another pair.
    #[error("a word after the value of {after:?} has no \"=\" (quote a value that holds spaces: key='a b')")]
    WordWithoutEquals {
        /// The keyword before it.
        after: String,
    },
    /// A keyword/value string that does not begin with a pair.
    #[error("the keyword/value string does not start with keyword=value")]
    NoLeadingPair,
    /// `=value` with no keyword.
    #[error("a keyword is missing before \"=\"")]
    KeywordMissing,
    /// A single-quoted value with no closing quote.
    #[error("the quoted value of {key:?} is not closed")]
    UnclosedQuote {
        /// Its keyword.
        key: String,
    },
    /// `%` not followed by two hex digits.
    #[error("invalid percent-encoding {found:?} in the URL")]
    BadPercent {
        /// The `%` and what follows it (at most three characters).
        found: String,
    },
    /// Percent-decoding gave bytes that are not UTF-8.
    #[error("the URL decodes to invalid UTF-8")]
    NotUtf8,
    /// `[` of an IPv6 host not closed.
    #[error("unclosed \"[\" in host {host:?}")]
    UnclosedBracket {
        /// The host as written.
        host: String,
    },
    /// A URL parameter without `=`.
    #[error("a URL parameter has no \"=\"")]
    ParameterWithoutEquals,
}

/// The keywords visreg takes (the rest of libpq's are refused by name, not ignored).
const SUPPORTED: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "application_name",
    "options",
    "sslmode",
    "sslrootcert",
];

/// Every libpq connection keyword (PostgreSQL 17), so that a spec is recognised as one.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslkeylogfile",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// libpq's environment variables for what a spec leaves out.
const ENV_DEFAULTS: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("dbname", "PGDATABASE"),
    ("passfile", "PGPASSFILE"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
];

type Params = BTreeMap<String, String>;

fn is_url(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

/// Whether `spec` names a PostgreSQL store: a URL, or a string that opens with a libpq
/// keyword and `=` (`host=db …`). Anything else is an SQLite path. The keyword must be
/// libpq's so that `results=old.sqlite` stays a file, and the test is on the opening word
/// only so that a keyword string with a typo further on is reported as one instead of
/// quietly becoming an SQLite file named after it (and its password). A file whose name
/// does open with a keyword and `=` is reached as `./host=…`.
pub(crate) fn is_postgres(spec: &str) -> bool {
    if is_url(spec) {
        return true;
    }
    let s = spec.trim_start();
    let key_end = s
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(s.len());
    LIBPQ_KEYWORDS.contains(&&s[..key_end]) && s[key_end..].trim_start().starts_with('=')
}

/// Keywords whose values are secrets.
fn is_secret(key: &str) -> bool {
    key.ends_with("password")
}

/// `spec` for messages: a URL's `user:PASSWORD@` and every `…password=` value (in a URL's
/// query or a keyword string) replaced by `***`. What cannot be parsed is cut at its first
/// "password", so a malformed spec leaks nothing either.
pub(crate) fn mask(spec: &str) -> String {
    if is_url(spec) {
        return mask_url(spec);
    }
    match parse_keywords(spec) {
        Ok(pairs) => pairs
            .iter()
            .map(|(k, v)| {
                if is_secret(k) {
                    format!("{k}=***")
                } else {
                    format!("{k}={}", quote(v))
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => match spec.to_ascii_lowercase().find("password") {
            Some(i) => format!("{}password=*** …", &spec[..i]),
            None => spec.to_string(),
        },
    }
}

fn mask_url(spec: &str) -> String {
    let scheme_end = spec.find("://").map_or(0, |i| i + 3);
    let after = &spec[scheme_end..];
    let netloc_end = after.find(['/', '?']).unwrap_or(after.len());
    let netloc = &after[..netloc_end];
    let mut out = spec[..scheme_end].to_string();
    match netloc.rfind('@') {
        Some(at) => {
            let userinfo = &netloc[..at];
            match userinfo.find(':') {
                Some(c) => out.push_str(&format!("{}:***", &userinfo[..c])),
                None => out.push_str(userinfo),
            }
            out.push_str(&netloc[at..]);
        }
        None => out.push_str(netloc),
    }
    let rest = &after[netloc_end..];
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let masked: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_secret(&decode(k).unwrap_or_else(|_| k.to_string())) => {
                        format!("{k}=***")
                    }
                    _ => kv.to_string(),
                })
                .collect();
            out.push_str(&masked.join("&"));
        }
        None => out.push_str(rest),
    }
    out
}

/// A value as a keyword string writes it: quoted when it must be.
fn quote(v: &str) -> String {
    if !v.is_empty() && !v.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
        return v.to_string();
    }
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// libpq's keyword/value syntax: `key = value` pairs apart by white space; a value in
/// single quotes may hold white space; a backslash escapes the next character.
fn parse_keywords(s: &str) -> Result<Vec<(String, String)>, SyntaxError> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    let skip_ws = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_ws(&mut it);
        if it.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        skip_ws(&mut it);
        if it.next() != Some('=') {
            // The stray word is not echoed: it may be the rest of an unquoted password.
            return Err(match out.last() {
                Some((prev, _)) => SyntaxError::WordWithoutEquals {
                    after: prev.clone(),
                },
                None => SyntaxError::NoLeadingPair,
            });
        }
        if key.is_empty() {
            return Err(SyntaxError::KeywordMissing);
        }
        skip_ws(&mut it);
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            loop {
                match it.next() {
                    None => return Err(SyntaxError::UnclosedQuote { key }),
                    Some('\\') => value.extend(it.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(it.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// Percent-decoding, as libpq applies it to every part of a URL.
fn decode(s: &str) -> Result<String, SyntaxError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| SyntaxError::BadPercent {
                    found: s[i..].chars().take(3).collect(),
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| SyntaxError::NotUtf8)
}

/// `postgres[ql]://[user[:password]@][host[:port][,host[:port]…]][/dbname][?key=value&…]`.
fn parse_url(spec: &str) -> Result<Params, SyntaxError> {
    let rest = spec
        .strip_prefix("postgresql://")
        .or_else(|| spec.strip_prefix("postgres://"))
        .unwrap_or(spec);
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (netloc, path) = main.split_once('/').unwrap_or((main, ""));
    let mut p = Params::new();
    let hosts = match netloc.rfind('@') {
        Some(at) => {
            let (user, password) = match netloc[..at].split_once(':') {
                Some((u, pw)) => (u, Some(pw)),
                None => (&netloc[..at], None),
            };
            if !user.is_empty() {
                p.insert("user".into(), decode(user)?);
            }
            if let Some(pw) = password {
                p.insert("password".into(), decode(pw)?);
            }
            &netloc[at + 1..]
        }
        None => netloc,
    };
    if !hosts.is_empty() {
        let (mut names, mut ports) = (Vec::new(), Vec::new());
        for h in hosts.split(',') {
            let (name, port) = if let Some(v6) = h.strip_prefix('[') {
                let (addr, after) =
                    v6.split_once(']')
                        .ok_or_else(|| SyntaxError::UnclosedBracket {
                            host: h.to_string(),
                        })?;
                (addr, after.strip_prefix(':').unwrap_or(""))
            } else {
                h.rsplit_once(':').unwrap_or((h, ""))
            };
            names.push(decode(name)?);
            ports.push(decode(port)?);
        }
        p.insert("host".into(), names.join(","));
        if ports.iter().any(|x| !x.is_empty()) {
            p.insert("port".into(), ports.join(","));
        }
    }
    if !path.is_empty() {
        p.insert("dbname".into(), decode(path)?);
    }
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        // A parameter without "=" is not echoed: it may be part of a secret.
        let (k, v) = kv
            .split_once('=')
            .ok_or(SyntaxError::ParameterWithoutEquals)?;
        p.insert(decode(k)?, decode(v)?);
    }
    Ok(p)
}

/// The spec's parameters as given.
fn parse(spec: &str) -> Result<Params, SpecError> {
    if is_url(spec) {
        parse_url(spec).map_err(SpecError::Syntax)
    } else {
        Ok(parse_keywords(spec)
            .map_err(SpecError::Syntax)?
            .into_iter()
            .collect())
    }
}

/// How to reach the server, ready to connect.
pub(crate) struct Target {
    pub(crate) config: postgres::Config,
    pub(crate) tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// The name a certificate is checked against (the first host), for messages.
    pub(crate) tls_host: Option<String>,
}

/// Reads `spec` with `env` (the process environment, or a test's) as libpq would.
pub(crate) fn resolve(
    spec: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, SpecError> {
    let mut p = parse(spec)?;
    for (key, var) in ENV_DEFAULTS {
        if !p.contains_key(*key) {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                p.insert(key.to_string(), v);
            }
        }
    }
    if let Some(key) = p.keys().find(|k| !SUPPORTED.contains(&k.as_str())) {
        return Err(SpecError::Unsupported {
            key: key.clone(),
            libpq: LIBPQ_KEYWORDS.contains(&key.as_str()),
        });
    }
    let bad = |key: &str, value: &str, why| SpecError::BadValue {
        key: key.into(),
        value: value.into(),
        why,
    };
    let mut c = postgres::Config::new();
    // libpq's defaults: TCP to localhost (its Unix-socket default differs between builds —
    // give host=/var/run/postgresql for a socket), the OS user, a database named after it.
    if !p.contains_key("host") && !p.contains_key("hostaddr") {
        p.insert("host".into(), "localhost".into());
    }
    let user = match p.get("user") {
        Some(u) => u.clone(),
        None => env("USER")
            .or_else(|| env("LOGNAME"))
            .filter(|u| !u.is_empty())
            .ok_or(SpecError::NoUser)?,
    };
    let dbname = p.get("dbname").cloned().unwrap_or_else(|| user.clone());
    c.user(&user).dbname(&dbname);
    let hosts: Vec<&str> = p.get("host").map_or(Vec::new(), |h| h.split(',').collect());
    for h in &hosts {
        c.host(if h.is_empty() { "localhost" } else { h });
    }
    if let Some(addrs) = p.get("hostaddr") {
        for a in addrs.split(',') {
            c.hostaddr(
                a.parse()
                    .map_err(|_| bad("hostaddr", a, "not an IP address"))?,
            );
        }
    }
    let ports: Vec<u16> = match p.get("port") {
        Some(v) => v
            .split(',')
            .map(|x| if x.is_empty() { Ok(5432) } else { x.parse() })
            .collect::<Result<_, _>>()
            .map_err(|_| {
                bad(
                    "port",
                    v,
                    "a port number (or one per host, comma-separated)",
                )
            })?,
        None => vec![5432],
    };
    for port in &ports {
        c.port(*port);
    }
    let timeout = match p.get("connect_timeout") {
        // libpq: 0 (or none) waits for ever, and less than 2 s means 2 s; visreg keeps its
        // 10 s for 0 and none rather than hang a lab job.
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| bad("connect_timeout", v, "whole seconds"))?,
        None => 10,
    };
    c.connect_timeout(Duration::from_secs(if timeout == 0 {
        10
    } else {
        timeout.max(2)
    }));
    if let Some(v) = p.get("application_name") {
        c.application_name(v);
    }
    if let Some(v) = p.get("options") {
        c.options(v);
    }
    let home = env("HOME").map(PathBuf::from);
    match p.get("password") {
        Some(pw) => {
            c.password(pw);
        }
        None => {
            let file = p
                .get("passfile")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".pgpass")));
            // libpq matches a socket connection as "localhost", and a hostaddr-only one by
            // its address.
            let host = match hosts.first() {
                Some(h) if h.starts_with('/') || h.is_empty() => "localhost".to_string(),
                Some(h) => h.to_string(),
                None => p
                    .get("hostaddr")
                    .and_then(|a| a.split(',').next())
                    .unwrap_or("localhost")
                    .to_string(),
            };
            let port = ports[0].to_string();
            if let Some(pw) = file.and_then(|f| pgpass_lookup(&f, &host, &port, &dbname, &user)) {
                c.password(pw);
            }
        }
    }
    let mode = p.get("sslmode").map_or("prefer", String::as_str);
    let explicit_root = p.get("sslrootcert").cloned();
    let root = explicit_root
        .clone()
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".postgresql/root.crt")));
    let system = explicit_root.as_deref() == Some("system");
    if system && mode != "verify-full" {
        return Err(SpecError::WeakWithSystem(mode.to_string()));
    }
    let roots = |required: bool| -> Result<Option<rustls::RootCertStore>, SpecError> {
        if system {
            return tls::system_roots().map(Some);
        }
        match &root {
            Some(f) if f.exists() => tls::load_roots(f).map(Some),
            Some(f) if required => Err(SpecError::RootCertMissing(f.clone())),
            None if required => Err(SpecError::RootCertMissing(PathBuf::from(
                "~/.postgresql/root.crt",
            ))),
            _ => Ok(None),
        }
    };
    use postgres::config::SslMode;
    let (ssl, verify) = match mode {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "prefer" => (SslMode::Prefer, Verify::Nothing),
        // As libpq: `require` with a root certificate file at hand verifies the chain.
        "require" => (
            SslMode::Require,
            roots(false)?.map_or(Verify::Nothing, Verify::Chain),
        ),
        "verify-ca" => (
            SslMode::Require,
            Verify::Chain(roots(true)?.expect("required")),
        ),
        "verify-full" => (
            SslMode::Require,
            Verify::Full(roots(true)?.expect("required")),
        ),
        other => {
            return Err(bad(
                "sslmode",
                other,
                "one of disable, prefer, require, verify-ca, verify-full",
            ))
        }
    };
    c.ssl_mode(ssl);
    Ok(Target {
        config: c,
        tls: tls::connector(verify),
        tls_host: hosts.first().map(|h| h.to_string()),
    })
}

/// The password for a connection from a libpq password file: the first line
/// `host:port:database:user:password` whose first four fields match (`*` matches
/// anything; `\:` and `\\` are a colon and a backslash). Ignored, with a warning as
/// libpq gives, when it is not a plain file or others may read it.
fn pgpass_lookup(file: &Path, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        tracing::warn!("password file \"{}\" is not a plain file", file.display());
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less: ignored",
                file.display()
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(file).ok()?;
    pgpass_find(&text, host, port, db, user)
}

fn pgpass_find(text: &str, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
    let want = [host, port, db, user];
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .find_map(|line| {
            let mut fields = Vec::with_capacity(5);
            let mut cur = String::new();
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => cur.extend(chars.next()),
                    ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                    c => cur.push(c),
                }
            }
            fields.push(cur);
            (fields.len() == 5
                && fields[..4]
                    .iter()
                    .zip(want)
                    .all(|(f, w)| f == "*" || f == w))
            .then(|| fields.pop().expect("five fields"))
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A spec's parameters, for tests that build other specs from a test server's.
    pub(crate) fn parsed(spec: &str) -> BTreeMap<String, String> {
        parse(spec).unwrap()
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn what_is_postgres_and_what_is_a_file() {
        for pg in [
            "postgres://ci@db/visreg",
            "postgresql://db",
            "host=db user=ci",
            "  dbname = visreg",
            "host=db password='a b",
        ] {
            assert!(is_postgres(pg), "{pg}");
        }
        for file in [
            "visreg-results.sqlite",
            "results=old.sqlite",
            "./host=db",
            "/tmp/a b/host=x.sqlite",
            "",
        ] {
            assert!(!is_postgres(file), "{file}");
        }
    }

    #[test]
    fn every_form_of_password_is_masked() {
        for (spec, masked) in [
            (
                "postgres://ci:s3cret@db:5432/v",
                "postgres://ci:***@db:5432/v",
            ),
            ("postgresql://ci:s3cret@db", "postgresql://ci:***@db"),
            ("postgres://ci:p%40ss@w@db/v", "postgres://ci:***@db/v"),
            (
                "postgres://ci@db/v?sslmode=require&password=s3cret",
                "postgres://ci@db/v?sslmode=require&password=***",
            ),
            (
                "postgres://db/v?sslpassword=s3cret",
                "postgres://db/v?sslpassword=***",
            ),
            (
                "host=db password=s3cret user=ci",
                "host=db password=*** user=ci",
            ),
            (
                "host=db password = 's3 cret' user=ci",
                "host=db password=*** user=ci",
            ),
            ("host=db password='s3cret", "host=db password=*** …"),
            ("host=db user='a b'", "host=db user='a b'"),
        ] {
            let m = mask(spec);
            assert_eq!(m, masked, "{spec}");
            assert!(!m.contains("s3") && !m.contains("ss@w"), "{m}");
        }
    }

    #[test]
    fn urls_and_keyword_strings_read_alike() {
        let url = parse(
            "postgresql://ci:pw%3A1@db.lab:6543/vis%20reg?sslmode=require&application_name=x",
        )
        .unwrap();
        let kv = parse("host=db.lab port = 6543 user=ci password='pw:1' dbname='vis reg' sslmode=require application_name=x").unwrap();
        assert_eq!(url, kv);
        let multi = parse("postgres://[::1]:5433,db2/x").unwrap();
        assert_eq!(
            (multi["host"].as_str(), multi["port"].as_str()),
            ("::1,db2", "5433,")
        );
        assert!(parse("host=db user").is_err());
        // A password with an unquoted space: the stray part is never echoed.
        let e = resolve("host=db user=ci password=s3 cret", &|_| None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("after the value of \"password\"") && !e.contains("cret"),
            "{e}"
        );
        let e = resolve("postgres://db/x?password=s3&cret", &|_| None)
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("cret") && !e.contains("s3"), "{e}");
        assert!(parse("postgres://db/x?sslmode").is_err());
        assert!(parse("postgres://db/%zz").is_err());
    }

    #[test]
    fn the_environment_fills_what_the_spec_leaves_out() {
        let e = [
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
            ("HOME", "/nonexistent"),
        ];
        let t = resolve("host=spechost", &env(&e)).unwrap();
        let c = &t.config;
        assert_eq!(
            c.get_hosts(),
            [postgres::config::Host::Tcp("spechost".into())]
        );
        assert_eq!(c.get_ports(), [6000]);
        assert_eq!(
            (c.get_user(), c.get_dbname(), c.get_password()),
            (Some("envuser"), Some("envdb"), Some(&b"envpw"[..]))
        );
        // The spec wins over the environment.
        let t = resolve("postgres://u:specpw@h/d", &env(&e)).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"specpw"[..]));
        // libpq's defaults.
        let t = resolve("sslmode=disable", &env(&[("USER", "me")])).unwrap();
        assert_eq!(
            (
                t.config.get_user(),
                t.config.get_dbname(),
                t.config.get_ports()
            ),
            (Some("me"), Some("me"), &[5432][..])
        );
        assert!(matches!(
            resolve("host=h", &env(&[])),
            Err(SpecError::NoUser)
        ));
    }

    #[test]
    fn unsupported_and_bad_values_are_named() {
        let e = env(&[("USER", "me")]);
        let msg = |s: &str| resolve(s, &e).err().unwrap().to_string();
        assert!(msg("host=h sslcert=c.pem").contains("\"sslcert\" is libpq's but not supported"));
        assert!(msg("postgres://h/d?colour=red").contains("not a libpq keyword"));
        assert!(msg("host=h port=x").contains("port=\"x\""));
        assert!(msg("host=h sslmode=strict").contains("one of disable, prefer"));
        assert!(msg("host=h sslmode=require sslrootcert=system").contains("verify-full"));
        let m = msg("host=h sslmode=verify-full sslrootcert=/nonexistent/ca.crt");
        assert!(
            m.contains("/nonexistent/ca.crt does not exist") && m.contains("sslmode=require"),
            "{m}"
        );
    }

    #[test]
    fn pgpass_lines_match_as_libpq_matches_them() {
        let text = "# comment\n\
                    db:5432:other:ci:wrong\n\
                    db:*:visreg:ci:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            pgpass_find(text, "db", "5432", "visreg", "ci").as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            pgpass_find(text, "elsewhere", "1", "x", "y").as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_find("db:5432:x:ci\n", "db", "5432", "x", "ci"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_pgpass_others_may_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pgpass");
        std::fs::write(&f, "h:5432:d:u:filepw\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let spec = format!("host=h user=u dbname=d passfile={}", f.display());
        let pw = |e: &[(&str, &str)]| {
            resolve(&spec, &env(e))
                .unwrap()
                .config
                .get_password()
                .map(<[u8]>::to_vec)
        };
        assert_eq!(pw(&[]), Some(b"filepw".to_vec()));
        assert_eq!(
            pw(&[("PGPASSWORD", "envpw")]),
            Some(b"envpw".to_vec()),
            "PGPASSWORD first"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(pw(&[]), None);
        // PGPASSFILE names it when the spec does not.
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = f.display().to_string();
        let t = resolve("host=h user=u dbname=d", &env(&[("PGPASSFILE", &path)])).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"filepw"[..]));
    }
}
