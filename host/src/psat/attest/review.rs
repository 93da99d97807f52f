//! What SPIRE reads from a TokenReview's `status.user`: the namespace and service account from
//! the username, the pod name and UID from `extra`.

use k8s_openapi::api::authentication::v1::TokenReviewStatus;

/// The `extra` key a bound token's pod name is under.
pub const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
/// The `extra` key a bound token's pod UID is under.
pub const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";

/// The longest username repeated in an error.
const USERNAME_MAX: usize = 256;

/// What is missing or wrong in a review, in SPIRE's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// No username.
    #[error("empty username")]
    EmptyUsername,
    /// Not four `:`-separated parts starting `system:serviceaccount:`.
    #[error("unexpected username format: {0}")]
    UsernameFormat(String),
    /// `system:serviceaccount::<sa>`.
    #[error("missing namespace")]
    MissingNamespace,
    /// `system:serviceaccount:<ns>:`.
    #[error("missing service account name")]
    MissingServiceAccount,
    /// No `extra` entry for the pod name.
    #[error("missing pod name")]
    MissingPodName,
    /// Not exactly one pod name.
    #[error("expected 1 name but got: {0}")]
    PodNameCount(usize),
    /// An empty pod name.
    #[error("pod name is empty")]
    EmptyPodName,
    /// No `extra` entry for the pod UID.
    #[error("missing pod UID")]
    MissingPodUid,
    /// Not exactly one pod UID.
    #[error("expected 1 UID but got: {0}")]
    PodUidCount(usize),
    /// An empty pod UID.
    #[error("pod UID is empty")]
    EmptyPodUid,
}

/// `(namespace, service account)` from `system:serviceaccount:<ns>:<sa>`.
///
/// SPIRE checks only that there are four parts; attestor also requires the first two to be
/// `system:serviceaccount`, so a token the API server authenticated as some other four-part
/// user can never pass as a service account (same message as SPIRE's for a bad format).
pub fn names(status: &TokenReviewStatus) -> Result<(&str, &str), ReviewError> {
    let username = status.user.as_ref().and_then(|u| u.username.as_deref()).unwrap_or_default();
    if username.is_empty() {
        return Err(ReviewError::EmptyUsername);
    }
    let parts: Vec<&str> = username.split(':').collect();
    match parts.as_slice() {
        ["system", "serviceaccount", namespace, service_account] => {
            match (namespace.is_empty(), service_account.is_empty()) {
                (true, _) => Err(ReviewError::MissingNamespace),
                (false, true) => Err(ReviewError::MissingServiceAccount),
                (false, false) => Ok((namespace, service_account)),
            }
        }
        _ => Err(ReviewError::UsernameFormat(crate::text::bounded(username, USERNAME_MAX))),
    }
}

/// The bound pod's name.
pub fn pod_name(status: &TokenReviewStatus) -> Result<&str, ReviewError> {
    match extra(status, POD_NAME_KEY) {
        None => Err(ReviewError::MissingPodName),
        Some([name]) if name.is_empty() => Err(ReviewError::EmptyPodName),
        Some([name]) => Ok(name),
        Some(values) => Err(ReviewError::PodNameCount(values.len())),
    }
}

/// The bound pod's UID.
pub fn pod_uid(status: &TokenReviewStatus) -> Result<&str, ReviewError> {
    match extra(status, POD_UID_KEY) {
        None => Err(ReviewError::MissingPodUid),
        Some([uid]) if uid.is_empty() => Err(ReviewError::EmptyPodUid),
        Some([uid]) => Ok(uid),
        Some(values) => Err(ReviewError::PodUidCount(values.len())),
    }
}

fn extra<'a>(status: &'a TokenReviewStatus, key: &str) -> Option<&'a [String]> {
    status.user.as_ref()?.extra.as_ref()?.get(key).map(Vec::as_slice)
}

#[cfg(test)]
mod tests;
