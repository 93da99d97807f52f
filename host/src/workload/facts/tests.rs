use super::*;

#[test]
fn keys() {
    assert!(FactKey::new("host.name").is_ok());
    assert!(FactKey::new("team-owner.team").is_ok());
    assert!(FactKey::new("a.b.c").is_ok());
    assert!(FactKey::new("nodot").is_err());
    assert!(FactKey::new("a.").is_err());
    assert!(FactKey::new("A.b").is_err());
    assert!(FactKey::new("a.b c").is_err());
    assert!(FactKey::new(format!("a.{}", "b".repeat(200))).is_err());
}
