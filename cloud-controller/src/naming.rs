//! Cluster, host and member names, as Stratos 4.0 builds them.
//!
//! Stratos 4.0 truncated cluster ids to 30 characters, so two long aliases could collide and
//! silently share a cluster. We keep the untruncated `alias.type.domain` form: ids are unique
//! by construction (alias and type are part of it, and a registry unique constraint rejects a
//! second subscription with the same id with 409 Conflict).

/// `alias.cartridgeType.domain`.
pub fn cluster_id(alias: &str, cartridge_type: &str) -> String {
    format!("{alias}.{cartridge_type}.domain")
}

/// `alias.<cartridge host>`.
pub fn host_name(alias: &str, cartridge_host: &str) -> String {
    format!("{alias}.{cartridge_host}")
}

/// What a cartridge's host names are built on: its `host`, or, when it has none (Stratos 4.1
/// made `host` optional), its type, so `alias.php` for a `php` cartridge.
pub fn cartridge_host<'a>(host: Option<&'a str>, cartridge_type: &'a str) -> &'a str {
    host.unwrap_or(cartridge_type)
}

/// `clusterId` + `-` + a random UUID (Stratos glued them without a separator).
pub fn member_id(cluster_id: &str) -> String {
    format!("{cluster_id}-{}", uuid::Uuid::new_v4().simple())
}

/// A random 16-character alphanumeric CARTRIDGE_KEY, as Stratos generates.
pub fn cartridge_key() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_stratos() {
        assert_eq!(cluster_id("myphp", "php"), "myphp.php.domain");
        assert_eq!(
            host_name("myphp", "php.stratos.org"),
            "myphp.php.stratos.org"
        );
        let m = member_id("myphp.php.domain");
        assert!(m.starts_with("myphp.php.domain-") && m.len() == "myphp.php.domain-".len() + 32);
        assert_ne!(member_id("c"), member_id("c"));
    }

    #[test]
    fn a_cartridge_without_host_names_hosts_after_its_type() {
        assert_eq!(host_name("shop", cartridge_host(None, "php")), "shop.php");
        assert_eq!(
            host_name("shop", cartridge_host(Some("php.stratos.org"), "php")),
            "shop.php.stratos.org"
        );
    }

    #[test]
    fn long_aliases_do_not_collide() {
        let a = cluster_id("averyveryverylongaliasnumber1", "php");
        let b = cluster_id("averyveryverylongaliasnumber2", "php");
        assert_ne!(a, b);
    }

    #[test]
    fn cartridge_keys_are_16_alphanumerics() {
        let k = cartridge_key();
        assert_eq!(k.len(), 16);
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
