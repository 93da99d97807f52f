use super::*;

#[test]
fn image_parts() {
    assert_eq!(repository("nginx:1.25.4"), "nginx");
    assert_eq!(repository("localhost:5000/app:v1"), "localhost:5000/app");
    assert_eq!(repository("localhost:5000/app"), "localhost:5000/app");
    assert_eq!(repository("ghcr.io/x/y@sha256:ab"), "ghcr.io/x/y");
    assert_eq!(digest("docker-pullable://nginx@sha256:ab"), Some("sha256:ab"));
    assert_eq!(digest("sha256:cd"), Some("sha256:cd"));
    assert_eq!(digest("nginx:1"), None);
}
