//! Facts as Cedar entities, built with the Rust API (several times cheaper than going through
//! JSON, and typed by construction).

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::SystemTime;

use cedar_policy::{Context, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression as Expr};

mod agent;

pub(crate) use agent::{agent, node_context};

use super::error::{DecideError, PolicyError};
use crate::selector::Selector;
use crate::spiffe_id::{SpiffeId, TrustDomain};
use crate::workload::{ImageRef, KubernetesFacts, SignatureFacts, SigstoreFacts, UnixFacts, Workload};

/// Entity type names and action uids, parsed once per generation.
pub(crate) struct Types {
    workload: EntityTypeName,
    pod: EntityTypeName,
    namespace: EntityTypeName,
    service_account: EntityTypeName,
    node: EntityTypeName,
    annotations: EntityTypeName,
    image: EntityTypeName,
    id_prefix: EntityTypeName,
    trust_domain: EntityTypeName,
    spiffe_id: EntityTypeName,
    selector: EntityTypeName,
    agent: EntityTypeName,
    pub(crate) attest: EntityUid,
    pub(crate) propose: EntityUid,
    pub(crate) issue: EntityUid,
    pub(crate) emit: EntityUid,
    pub(crate) attest_node: EntityUid,
}

impl Types {
    pub(crate) fn new() -> Result<Self, PolicyError> {
        let t =
            |n: &str| EntityTypeName::from_str(&format!("Attest::{n}")).map_err(|e| PolicyError::Schema(e.to_string()));
        let a = |n: &str| {
            EntityUid::from_str(&format!("Attest::Action::\"{n}\"")).map_err(|e| PolicyError::Schema(e.to_string()))
        };
        Ok(Self {
            workload: t("Workload")?,
            pod: t("Pod")?,
            namespace: t("Namespace")?,
            service_account: t("ServiceAccount")?,
            node: t("Node")?,
            annotations: t("Annotations")?,
            image: t("Image")?,
            id_prefix: t("IdPrefix")?,
            trust_domain: t("TrustDomain")?,
            spiffe_id: t("SpiffeId")?,
            selector: t("Selector")?,
            agent: t("Agent")?,
            attest: a("attest")?,
            propose: a("propose")?,
            issue: a("issue")?,
            emit: a("emit")?,
            attest_node: a("attest_node")?,
        })
    }

    fn uid(t: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
    }

    /// `Attest::Selector::"<selector>"`.
    pub(crate) fn selector_uid(&self, s: &str) -> EntityUid {
        Self::uid(&self.selector, s)
    }

    /// `Attest::SpiffeId::"c<n>"`.
    pub(crate) fn candidate_uid(&self, n: usize) -> EntityUid {
        Self::uid(&self.spiffe_id, &format!("c{n}"))
    }
}

/// The principal, the trust domain resource and their entities.
pub(crate) struct Subject {
    pub(crate) principal: EntityUid,
    pub(crate) trust_domain: EntityUid,
    pub(crate) entities: Vec<Entity>,
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> DecideError {
    DecideError::facts(e)
}

fn s(v: &str) -> Expr {
    Expr::new_string(v.to_owned())
}

fn long(v: u32) -> Expr {
    Expr::new_long(i64::from(v))
}

fn tags<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<(String, Expr)> {
    map.into_iter().map(|(k, v)| (k.clone(), s(v))).collect()
}

/// What is known of a workload: everything (an attestation), or only what a pod object says
/// (the registrar: the process's unix facts, its module facts, the sources that gave selectors
/// and its image's Sigstore verdict are Cedar unknowns, and it has no tags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    /// An attestation's facts.
    All,
    /// A pod object's facts only.
    PodObject,
}

/// Build the workload's entities.
pub(crate) fn subject(w: &Workload, td: &TrustDomain, t: &Types) -> Result<Subject, DecideError> {
    subject_as(w, td, t, Known::All)
}

/// Build the workload's entities, with what is not `known` as Cedar unknowns.
pub(crate) fn subject_as(w: &Workload, td: &TrustDomain, t: &Types, known: Known) -> Result<Subject, DecideError> {
    let mut entities = Vec::with_capacity(9);
    let attestors: BTreeSet<&str> = w.selectors.iter().map(|sel| sel.kind().as_str()).collect();
    let mut attrs = match known {
        Known::All => vec![
            ("unix".to_owned(), unix(&w.unix)?),
            ("attestors".to_owned(), Expr::new_set(attestors.into_iter().map(s))),
        ],
        Known::PodObject => vec![
            ("unix".to_owned(), Expr::new_unknown("unix")),
            ("attestors".to_owned(), Expr::new_unknown("attestors")),
        ],
    };
    let mut parents = Vec::new();
    if let Some(k) = &w.kubernetes {
        let in_pod = kubernetes(k, t, &mut entities, known)?;
        attrs.push(("k8s".to_owned(), in_pod.record));
        parents = in_pod.parents;
    }

    let principal = Types::uid(&t.workload, &format!("pid:{}", w.unix.pid));
    let facts: Vec<(String, Expr)> = match known {
        Known::All => w.facts.iter().map(|(k, v)| (k.to_string(), s(v))).collect(),
        // Tags cannot be unknown in Cedar; policies that read them are decided by the caller.
        Known::PodObject => Vec::new(),
    };
    entities.push(Entity::new_with_tags(principal.clone(), attrs, parents, facts).map_err(err)?);
    let trust_domain = Types::uid(&t.trust_domain, td.as_str());
    entities
        .push(Entity::new_with_tags(trust_domain.clone(), [("name".to_owned(), s(td.as_str()))], [], []).map_err(err)?);

    Ok(Subject { principal, trust_domain, entities })
}

/// The workload's `unix` attribute: ids, groups, and what is known of its user and executable.
fn unix(u: &UnixFacts) -> Result<Expr, DecideError> {
    let mut unix = vec![
        ("pid".to_owned(), long(u.pid.0)),
        ("uid".to_owned(), long(u.euid.0)),
        ("gid".to_owned(), long(u.egid.0)),
        ("realUid".to_owned(), long(u.uid.0)),
        ("realGid".to_owned(), long(u.gid.0)),
        ("supplementaryGids".to_owned(), Expr::new_set(u.supplementary_gids.iter().map(|g| long(g.0)))),
        ("supplementaryGroups".to_owned(), Expr::new_set(u.supplementary_group_names.values().map(|n| s(n)))),
    ];
    if let Some(user) = &u.user {
        unix.push(("user".to_owned(), s(user)));
    }
    if let Some(group) = &u.group {
        unix.push(("group".to_owned(), s(group)));
    }
    if let Some(path) = &u.exe_path {
        unix.push(("path".to_owned(), s(&path.to_string_lossy())));
    }
    if let Some(sha) = &u.exe_sha256 {
        unix.push(("sha256".to_owned(), s(sha)));
    }
    Expr::new_record(unix).map_err(err)
}

/// The uids of a pod's entities.
struct PodUids {
    namespace: EntityUid,
    service_account: EntityUid,
    node: EntityUid,
    pod: EntityUid,
    annotations: EntityUid,
}

/// What a workload in a pod adds to its own entity.
struct InPod {
    /// Its `k8s` attribute.
    record: Expr,
    /// Its parents: pod, service account, namespace.
    parents: Vec<EntityUid>,
}

/// A workload in a pod: add the pod's entities (and its container's image) and say what the
/// workload's own entity gains.
fn kubernetes(k: &KubernetesFacts, t: &Types, entities: &mut Vec<Entity>, known: Known) -> Result<InPod, DecideError> {
    let p = &k.pod;
    let uids = PodUids {
        namespace: Types::uid(&t.namespace, &p.namespace),
        service_account: Types::uid(&t.service_account, &format!("{}/{}", p.namespace, p.service_account)),
        node: Types::uid(&t.node, &p.node_name),
        pod: Types::uid(&t.pod, &p.uid.0),
        annotations: Types::uid(&t.annotations, &p.uid.0),
    };
    pod_entities(k, &uids, entities)?;
    let mut k8s = vec![
        ("pod".to_owned(), Expr::new_entity_uid(uids.pod.clone())),
        ("namespace".to_owned(), Expr::new_entity_uid(uids.namespace.clone())),
        ("serviceAccount".to_owned(), Expr::new_entity_uid(uids.service_account.clone())),
        ("node".to_owned(), Expr::new_entity_uid(uids.node)),
        ("initContainer".to_owned(), Expr::new_bool(k.container.as_ref().is_some_and(|c| c.init))),
    ];
    if let Some(c) = &k.container {
        k8s.push(("container".to_owned(), s(&c.name)));
        let image = image(&c.image, t, known)?;
        let uid = image.uid();
        entities.push(image);
        k8s.push(("image".to_owned(), Expr::new_entity_uid(uid)));
    }
    let record = Expr::new_record(k8s).map_err(err)?;
    Ok(InPod { record, parents: vec![uids.pod, uids.service_account, uids.namespace] })
}

/// The pod's namespace, service account, node, annotations and the pod itself, in that order.
fn pod_entities(k: &KubernetesFacts, uids: &PodUids, entities: &mut Vec<Entity>) -> Result<(), DecideError> {
    let p = &k.pod;
    let ns = &uids.namespace;
    entities.push(
        Entity::new_with_tags(ns.clone(), [("name".to_owned(), s(&p.namespace))], [], tags(&k.namespace_labels))
            .map_err(err)?,
    );
    entities.push(
        Entity::new_with_tags(
            uids.service_account.clone(),
            [("name".to_owned(), s(&p.service_account)), ("namespace".to_owned(), s(&p.namespace))],
            [ns.clone()],
            [],
        )
        .map_err(err)?,
    );
    entities
        .push(Entity::new_with_tags(uids.node.clone(), [("name".to_owned(), s(&p.node_name))], [], []).map_err(err)?);
    entities.push(Entity::new_with_tags(uids.annotations.clone(), [], [], tags(&p.annotations)).map_err(err)?);
    let mut pod_attrs = vec![
        ("name".to_owned(), s(&p.name)),
        ("uid".to_owned(), s(&p.uid.0)),
        ("namespace".to_owned(), s(&p.namespace)),
        ("serviceAccount".to_owned(), Expr::new_entity_uid(uids.service_account.clone())),
        ("node".to_owned(), Expr::new_entity_uid(uids.node.clone())),
        ("annotations".to_owned(), Expr::new_entity_uid(uids.annotations.clone())),
        ("hostNetwork".to_owned(), Expr::new_bool(p.host_network)),
    ];
    if let Some(o) = p.owners.first() {
        let owner = Expr::new_record([
            ("kind".to_owned(), s(&o.kind)),
            ("name".to_owned(), s(&o.name)),
            ("uid".to_owned(), s(&o.uid)),
        ])
        .map_err(err)?;
        pod_attrs.push(("owner".to_owned(), owner));
    }
    entities.push(Entity::new_with_tags(uids.pod.clone(), pod_attrs, [ns.clone()], tags(&p.labels)).map_err(err)?);
    Ok(())
}

/// A container's image: named by its id (its reference when the id is unknown), with its
/// repository, digest and sigstore verdict.
fn image(i: &ImageRef, t: &Types, known: Known) -> Result<Entity, DecideError> {
    let id = if i.id.is_empty() { &i.name } else { &i.id };
    let mut attrs = vec![
        ("ref".to_owned(), s(&i.name)),
        ("id".to_owned(), s(&i.id)),
        ("repository".to_owned(), s(repository(&i.name))),
    ];
    if let Some(d) = digest(&i.id).or_else(|| digest(&i.name)) {
        attrs.push(("digest".to_owned(), s(d)));
    }
    match (known, &i.sigstore) {
        (Known::All, Some(sig)) => attrs.push(("sigstore".to_owned(), sigstore(sig)?)),
        (Known::All, None) => {}
        // Whether verification runs, and what it finds, is known only when a process asks.
        (Known::PodObject, _) => attrs.push(("sigstore".to_owned(), Expr::new_unknown("sigstore"))),
    }
    Entity::new_with_tags(Types::uid(&t.image, id), attrs, [], []).map_err(err)
}

/// An image's Sigstore verdict as the schema's `Sigstore` record.
fn sigstore(sig: &SigstoreFacts) -> Result<Expr, DecideError> {
    let strings = |v: &[String]| Expr::new_set(v.iter().map(|x| s(x)));
    let signatures = sig.signatures.iter().map(signature).collect::<Result<Vec<_>, _>>()?;
    let mut fields = vec![
        ("verified".to_owned(), Expr::new_bool(sig.verified)),
        ("signatures".to_owned(), Expr::new_set(signatures)),
        ("signerIdentities".to_owned(), strings(&sig.signer_identities)),
        ("keys".to_owned(), strings(&sig.keys)),
        ("predicateTypes".to_owned(), strings(&sig.predicate_types)),
    ];
    if let Some(failure) = &sig.failure {
        fields.push(("failure".to_owned(), s(failure)));
    }
    Expr::new_record(fields).map_err(err)
}

/// One verified signature as the schema's `SigstoreSignature` record; absent parts are left out.
fn signature(sig: &SignatureFacts) -> Result<Expr, DecideError> {
    let mut fields = vec![("source".to_owned(), s(&sig.source))];
    for (name, value) in [("subject", &sig.subject), ("issuer", &sig.issuer), ("key", &sig.key)] {
        if let Some(v) = value {
            fields.push((name.to_owned(), s(v)));
        }
    }
    // A log index beyond i64 cannot come from Rekor (it counts entries): left out, not wrapped.
    if let Some(i) = sig.log_index.and_then(|i| i64::try_from(i).ok()) {
        fields.push(("logIndex".to_owned(), Expr::new_long(i)));
    }
    if let Some(t) = sig.integrated_time {
        fields.push(("integratedTime".to_owned(), Expr::new_long(t)));
    }
    Expr::new_record(fields).map_err(err)
}

/// The node name the context reports: the host's name fact.
pub(crate) fn agent_node(w: &Workload) -> &str {
    w.facts.iter().find(|(k, _)| k.as_str() == "host.name").map_or("", |(_, v)| v.as_str())
}

/// The request context for `now` (whole seconds) on `agent_node`.
pub(crate) fn context(now: SystemTime, td: &TrustDomain, agent_node: &str) -> Result<Context, DecideError> {
    Context::from_pairs([
        ("now".to_owned(), Expr::new_datetime(crate::time::clock::rfc3339_seconds(now))),
        ("trustDomain".to_owned(), s(td.as_str())),
        ("agentNode".to_owned(), s(agent_node)),
    ])
    .map_err(err)
}

/// A registered ID prefix and the namespaces that own it.
pub(crate) fn id_prefix(t: &Types, prefix: &str, owners: &[String]) -> Result<Entity, DecideError> {
    let owners = Expr::new_set(owners.iter().map(|ns| Expr::new_entity_uid(Types::uid(&t.namespace, ns))));
    Entity::new_with_tags(Types::uid(&t.id_prefix, prefix), [("owners".to_owned(), owners)], [], []).map_err(err)
}

/// A candidate SPIFFE ID as an entity; `prefix` is its longest registered prefix.
pub(crate) fn candidate(
    t: &Types,
    n: usize,
    id: &SpiffeId,
    rule: &str,
    prefix: Option<&str>,
) -> Result<Entity, DecideError> {
    let mut attrs = vec![
        ("trustDomain".to_owned(), s(id.trust_domain().as_str())),
        ("path".to_owned(), s(id.path())),
        ("rule".to_owned(), s(rule)),
    ];
    if let Some(p) = prefix {
        attrs.push(("prefix".to_owned(), Expr::new_entity_uid(Types::uid(&t.id_prefix, p))));
    }
    let segs: Vec<&str> = id.segments().collect();
    if let ["ns", ns, "sa", sa] = segs.as_slice() {
        attrs.push(("ns".to_owned(), s(ns)));
        attrs.push(("sa".to_owned(), s(sa)));
    }
    Entity::new_with_tags(t.candidate_uid(n), attrs, [], []).map_err(err)
}

/// A selector as an entity: type, the value's key, and the rest of the value.
pub(crate) fn selector(t: &Types, sel: &Selector) -> Result<(EntityUid, Entity), DecideError> {
    let uid = t.selector_uid(&sel.to_string());
    let e = Entity::new_with_tags(
        uid.clone(),
        [
            ("type".to_owned(), s(sel.kind().as_str())),
            ("key".to_owned(), s(sel.key())),
            ("value".to_owned(), s(sel.key_value())),
        ],
        [],
        [],
    )
    .map_err(err)?;
    Ok((uid, e))
}

/// `registry/repo` of `registry/repo:tag@sha256:…`.
fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(colon) if !no_digest[colon..].contains('/') => &no_digest[..colon],
        _ => no_digest,
    }
}

/// `sha256:…` of `repo@sha256:…`, `docker-pullable://repo@sha256:…` or a bare `sha256:…`.
fn digest(image: &str) -> Option<&str> {
    match image.rsplit_once('@') {
        Some((_, d)) => Some(d),
        None => image.starts_with("sha256:").then_some(image),
    }
}

#[cfg(test)]
mod tests;
