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
        // Guests build with Debian's rustc-web (1.85): no let chains.
        if team.is_some_and(|t| !valid_team(t)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use attestor_guest::testing::{self, WorkloadBuilder};

    fn host() -> WorkloadBuilder {
        testing::workload().pid(7)
    }

    fn pod(ns: &str, sa: &str, labels: &[(&str, &str)]) -> Workload {
        let pod = testing::workload().uid(1000).pod(ns, "p").service_account(sa);
        labels.iter().fold(pod, |pod, (k, v)| pod.label(k, v)).build()
    }

    const RULES: &str = "
        sa:billing/invoicer = billing   # before the namespace rule: first match wins
        ns:billing          = finance
        label:team
        user:postgres       = data
        uid:1000            = platform
        exe:/opt/ledger/    = payments
    ";

    #[test]
    fn first_matching_rule_names_the_team() {
        let rules = parse(RULES).unwrap();
        assert_eq!(team_of(&rules, &pod("billing", "invoicer", &[])), Some("billing"));
        assert_eq!(team_of(&rules, &pod("billing", "other", &[])), Some("finance"));
        assert_eq!(team_of(&rules, &pod("web", "default", &[("team", "frontend")])), Some("frontend"));
        // An unusable label value is skipped, not emitted: the next rule (uid 1000) decides.
        assert_eq!(team_of(&rules, &pod("web", "default", &[("team", "no spaces")])), Some("platform"));
        assert_eq!(team_of(&rules, &host().uid(26).user("postgres").build()), Some("data"));
        assert_eq!(team_of(&rules, &host().uid(5).exe("/opt/ledger/bin/ledger").build()), Some("payments"));
        assert_eq!(team_of(&rules, &host().uid(5).exe("/usr/bin/true").build()), None);
        let with_default = parse("default = unowned").unwrap();
        assert_eq!(team_of(&with_default, &host().uid(5).build()), Some("unowned"));
    }

    #[test]
    fn bad_lines_are_named_with_their_number() {
        let msg = |config: &str| match parse(config) {
            Err(Error::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(msg("ns:a = ok\nuid:abc = x"), "line 2: `uid:` takes a number: \"uid:abc = x\"");
        assert!(msg("ns:a").contains("missing `= <team>`"));
        assert!(msg("label:team = x").contains("drop `= <team>`"));
        assert!(msg("pod:x = y").contains("unknown matcher"));
        assert!(msg("sa:nons = y").contains("<namespace>/<service account>"));
        assert!(msg("ns:a = bad team").contains("team names are"));
        assert!(
            matches!(TeamOwner::validate_config("# only a comment"), Err(Error::Config(m)) if m.starts_with("no rules"))
        );
    }
}
