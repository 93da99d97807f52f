use super::*;
use crate::workload::sample;

fn workload(k8s: bool) -> Workload {
    let mut w = sample::process().pid(1).start_time(None).uids(0, 1000).gids(0, 1000).user("bob").workload();
    if k8s {
        let pod =
            sample::pod("prod", "web").uid("u-1").name("web-1").node("n1").label("app", "web").label("bad", "a/b");
        w.kubernetes = Some(pod.facts());
    }
    w.facts.insert(FactKey::new("team.name").unwrap(), "payments".into());
    w
}

fn render(src: &str, w: &Workload) -> Result<String, RenderError> {
    let td = TrustDomain::new("example.org").unwrap();
    let env = RenderEnv { subject: RenderSubject::Workload(w), trust_domain: &td, cluster: Some("c1") };
    Template::parse(src).unwrap().render(&env, ValueRule::PathSegment)
}

#[test]
fn renders_every_kind_of_variable() {
    let w = workload(true);
    assert_eq!(
        render("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}", &w).unwrap(),
        "spiffe://example.org/ns/prod/sa/web"
    );
    assert_eq!(
        render("spiffe://{trust_domain}/{cluster}/{label:app}/{fact:team.name}/{unix.uid}", &w).unwrap(),
        "spiffe://example.org/c1/web/payments/1000"
    );
}

#[test]
fn missing_and_invalid_values_render_nothing() {
    let host = workload(false);
    assert_eq!(
        render("spiffe://{trust_domain}/ns/{k8s.namespace}", &host),
        Err(RenderError::Missing("{k8s.namespace}".into()))
    );
    assert_eq!(render("spiffe://{trust_domain}/{unix.group}", &host), Err(RenderError::Missing("{unix.group}".into())));
    let pod = workload(true);
    assert_eq!(render("spiffe://{trust_domain}/{label:nope}", &pod), Err(RenderError::Missing("{label:nope}".into())));
    assert!(matches!(render("spiffe://{trust_domain}/{label:bad}", &pod), Err(RenderError::Invalid { .. })));
}

#[test]
fn parse_errors() {
    assert_eq!(
        Template::parse("spiffe://{trust_domain}/{k8s.namespce}"),
        Err(TemplateError::UnknownVariable("k8s.namespce".into()))
    );
    assert_eq!(Template::parse("spiffe://{trust_domain"), Err(TemplateError::Unbalanced));
    assert_eq!(Template::parse("a}b"), Err(TemplateError::Unbalanced));
    assert_eq!(Template::parse("{label:}"), Err(TemplateError::UnknownVariable("label:".into())));
    assert_eq!(Template::parse("{fact:nodot}"), Err(TemplateError::UnknownVariable("fact:nodot".into())));
    let t = Template::parse("spiffe://{trust_domain}/x").unwrap();
    assert_eq!(t.vars().collect::<Vec<_>>(), [&Var::TrustDomain]);
}

/// Identity templates come from policy authors' annotations: no text makes the parser or the
/// renderer panic, and what renders is a valid path segment or nothing.
#[test]
fn every_variable_is_listed_once_and_prints_as_it_parses() {
    for (name, var) in &NAMED {
        assert_eq!(Var::parse(name).as_ref(), Ok(var), "{name}");
        assert_eq!(var.to_string(), format!("{{{name}}}"));
    }
    for (src, var) in [
        ("label:app", Var::Label("app".into())),
        ("annotation:team", Var::Annotation("team".into())),
        ("node_label:pool", Var::NodeLabel("pool".into())),
        ("k8s.node_uid", Var::NodeUid),
        ("fact:team.owner", Var::Fact(crate::workload::FactKey::new("team.owner").unwrap())),
    ] {
        assert_eq!(Var::parse(src), Ok(var.clone()));
        assert_eq!(var.to_string(), format!("{{{src}}}"));
    }
    assert_eq!(
        Var::parse("nope").unwrap_err().to_string(),
        "unknown template variable `{nope}`; known: {trust_domain}, {cluster}, {k8s.namespace}, \
         {k8s.service_account}, {k8s.pod_name}, {k8s.pod_uid}, {k8s.node_name}, {k8s.node_uid}, {k8s.container}, \
         {k8s.owner_kind}, {k8s.owner_name}, {unix.uid}, {unix.gid}, {unix.user}, {unix.group}, \
         {label:<key>}, {annotation:<key>}, {node_label:<key>}, {fact:<source.key>}"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn template_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("{trust_domain}".to_owned()),
            Just("{k8s.namespace}".to_owned()),
            Just("{label:app}".to_owned()),
            Just("{annotation:".to_owned()),
            Just("{fact:team.name}".to_owned()),
            Just("{unix.uid}".to_owned()),
            Just("spiffe://".to_owned()),
            Just("/".to_owned()),
            "[a-zé:._/-]{0,8}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn parse_and_render_never_panic(src in template_text(), k8s in any::<bool>()) {
            let w = workload(k8s);
            let td = TrustDomain::new("example.org").unwrap();
            let env = RenderEnv { subject: RenderSubject::Workload(&w), trust_domain: &td, cluster: Some("c1") };
            if let Ok(t) = Template::parse(&src) {
                for rule in [ValueRule::PathSegment, ValueRule::Text] {
                    let _ = t.render(&env, rule);
                }
            }
        }

        #[test]
        fn any_text_parses_or_fails(src in any::<String>()) {
            let _ = Template::parse(&src);
        }
    }
}
