//! An agent in node attestation as Cedar entities: the agent (the principal), its pod, the pod's
//! namespace, service account and annotations, and its node with the node's UID and labels.

use std::time::SystemTime;

use cedar_policy::{Context, Entity, EntityUid, RestrictedExpression as Expr};

use super::{Subject, Types, err, s, tags};
use crate::policy::error::DecideError;
use crate::spiffe_id::TrustDomain;
use crate::workload::AgentFacts;

/// Build the agent's entities: `Attest::Agent::"<cluster>/<pod uid>"` and everything it names.
pub(crate) fn agent(a: &AgentFacts, td: &TrustDomain, t: &Types) -> Result<Subject, DecideError> {
    let namespace = Types::uid(&t.namespace, &a.namespace);
    let service_account = Types::uid(&t.service_account, &format!("{}/{}", a.namespace, a.service_account));
    let node = Types::uid(&t.node, &a.node_name);
    let pod = Types::uid(&t.pod, &a.pod_uid);
    let annotations = Types::uid(&t.annotations, &a.pod_uid);
    let entity = |uid: &EntityUid, attrs: Vec<(&str, Expr)>, parents: Vec<EntityUid>, tags: Vec<(String, Expr)>| {
        let attrs = attrs.into_iter().map(|(k, v)| (k.to_owned(), v));
        Entity::new_with_tags(uid.clone(), attrs, parents, tags).map_err(err)
    };
    let e = |uid: &EntityUid| Expr::new_entity_uid(uid.clone());
    let mut entities = vec![
        // Namespace labels are not read in node attestation (one more API call per agent):
        // the namespace has no tags.
        entity(&namespace, vec![("name", s(&a.namespace))], vec![], vec![])?,
        entity(
            &service_account,
            vec![("name", s(&a.service_account)), ("namespace", s(&a.namespace))],
            vec![namespace.clone()],
            vec![],
        )?,
        entity(&node, vec![("name", s(&a.node_name)), ("uid", s(&a.node_uid))], vec![], tags(&a.node_labels))?,
        entity(&annotations, vec![], vec![], tags(&a.pod_annotations))?,
    ];
    let mut pod_attrs = vec![
        ("name", s(&a.pod_name)),
        ("uid", s(&a.pod_uid)),
        ("namespace", s(&a.namespace)),
        ("serviceAccount", e(&service_account)),
        ("node", e(&node)),
        ("annotations", e(&annotations)),
        ("hostNetwork", Expr::new_bool(a.host_network)),
    ];
    if let Some(o) = &a.owner {
        let owner = Expr::new_record([
            ("kind".to_owned(), s(&o.kind)),
            ("name".to_owned(), s(&o.name)),
            ("uid".to_owned(), s(&o.uid)),
        ])
        .map_err(err)?;
        pod_attrs.push(("owner", owner));
    }
    entities.push(entity(&pod, pod_attrs, vec![namespace.clone()], tags(&a.pod_labels))?);
    let principal = Types::uid(&t.agent, &format!("{}/{}", a.cluster, a.pod_uid));
    let agent_attrs = vec![
        ("cluster", s(&a.cluster)),
        ("pod", e(&pod)),
        ("namespace", e(&namespace)),
        ("serviceAccount", e(&service_account)),
        ("node", e(&node)),
        ("nodeIp", s(&a.node_ip)),
        ("audiences", Expr::new_set(a.audiences.iter().map(|x| s(x)))),
    ];
    entities.push(entity(&principal, agent_attrs, vec![pod, service_account, namespace, node], vec![])?);
    let trust_domain = Types::uid(&t.trust_domain, td.as_str());
    entities.push(entity(&trust_domain, vec![("name", s(td.as_str()))], vec![], vec![])?);
    Ok(Subject { principal, trust_domain, entities })
}

/// The node attestation request context for `now` (whole seconds).
pub(crate) fn node_context(now: SystemTime, td: &TrustDomain) -> Result<Context, DecideError> {
    Context::from_pairs([
        ("now".to_owned(), Expr::new_datetime(crate::time::clock::rfc3339_seconds(now))),
        ("trustDomain".to_owned(), s(td.as_str())),
    ])
    .map_err(err)
}
