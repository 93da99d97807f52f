//! `team-owner`: which team owns a workload, from rules the platform team writes.
//!
//! Configuration, one rule per line, first match wins (`#` starts a comment):
//!
//! ```text
//! ns:payments        = payments        # pods in a namespace
//! sa:billing/invoicer = billing        # a service account (namespace/name)
//! label:team                           # a pod label holds the team's name
//! user:postgres      = data            # host processes by user name
//! uid:1000           = platform        # … by effective uid
//! exe:/opt/ledger/   = payments        # … by executable path prefix
//! default            = unowned         # when nothing else matched
//! ```
//!
//! Answer: selector `<team>` (so `team:payments` for a module named `team`) and fact
//! `team = <team>`, which identity rules can use as `{fact:team.team}`.

use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct TeamOwner;

#[derive(Debug, PartialEq, Eq)]
enum Matcher<'a> {
    Namespace(&'a str),
    ServiceAccount(&'a str, &'a str),
    Label(&'a str),
    User(&'a str),
    Uid(u32),
    ExePrefix(&'a str),
    Default,
}

#[derive(Debug, PartialEq, Eq)]
struct Rule<'a> {
    matcher: Matcher<'a>,
    team: Option<&'a str>,
}

fn valid_team(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 63
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn parse(config: &str) -> Result<Vec<Rule<'_>>, Error> {
    let mut rules = Vec::new();
    for (n, raw) in config.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| Error::config(format!("line {}: {why}: {line:?}", n + 1));
        let (lhs, team) = match line.split_once('=') {
            Some((l, r)) => (l.trim(), Some(r.trim())),
            None => (line, None),
        };
        if let Some(t) = team
            && !valid_team(t)
        {
            return Err(bad("team names are 1-63 characters of letters, digits, `-`, `_`, `.`"));
        }
        let matcher = if lhs == "default" {
            Matcher::Default
        } else {
            let (kind, arg) = lhs.split_once(':').ok_or_else(|| bad("expected `<kind>:<value> = <team>`"))?;
            match kind {
                "ns" => Matcher::Namespace(arg),
                "sa" => {
                    let (ns, sa) =
                        arg.split_once('/').ok_or_else(|| bad("`sa:` takes `<namespace>/<service account>`"))?;
                    Matcher::ServiceAccount(ns, sa)
                }
                "label" => Matcher::Label(arg),
                "user" => Matcher::User(arg),
                "uid" => Matcher::Uid(arg.parse().map_err(|_| bad("`uid:` takes a number"))?),
                "exe" => Matcher::ExePrefix(arg),
                _ => return Err(bad("unknown matcher; use ns:, sa:, label:, user:, uid:, exe: or default")),
            }
        };
        match (&matcher, team) {
            (Matcher::Label(_), None) => {}
            (Matcher::Label(_), Some(_)) => {
                return Err(bad("`label:<key>` takes the team from the label; drop `= <team>`"));
            }
            (_, None) => return Err(bad("missing `= <team>`")),
            _ => {}
        }
        rules.push(Rule { matcher, team });
    }
    Ok(rules)
}

fn team_of<'a>(rules: &'a [Rule<'a>], w: &'a Workload) -> Option<&'a str> {
    let pod = w.pod();
    rules.iter().find_map(|r| {
        let hit = match r.matcher {
            Matcher::Namespace(ns) => pod.is_some_and(|p| p.namespace == ns),
            Matcher::ServiceAccount(ns, sa) => pod.is_some_and(|p| p.namespace == ns && p.service_account == sa),
            Matcher::Label(key) => return w.label(key).filter(|v| valid_team(v)),
            Matcher::User(u) => w.unix.user.as_deref() == Some(u),
            Matcher::Uid(uid) => w.unix.euid == uid,
            Matcher::ExePrefix(prefix) => w.unix.exe_path.as_deref().is_some_and(|p| p.starts_with(prefix)),
            Matcher::Default => true,
        };
        if hit { r.team } else { None }
    })
}

impl Module for TeamOwner {
    const NAME: &'static str = "team-owner";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "maps namespaces, service accounts, labels, users and executables to owning teams";

    fn validate_config(config: &str) -> Result<(), Error> {
        let rules = parse(config)?;
        if rules.is_empty() {
            return Err(Error::config("no rules: give at least one `<matcher> = <team>` line"));
        }
        Ok(())
    }

    fn attest(config: &str, workload: &Workload) -> Result<Attestation, Error> {
        let rules = parse(config)?;
        let mut out = Attestation::new();
        if let Some(team) = team_of(&rules, workload) {
            attestor_guest::debug!("pid {} belongs to team {team}", workload.unix.pid);
            out.selector(team).fact("team", team);
        }
        Ok(out)
    }
}

export_module!(TeamOwner);
