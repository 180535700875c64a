//! The identity of a configuration: a hash of what determines its results, which names
//! run directories, cells and cache entries.

use sha2::{Digest, Sha256};
use toml::{Table, Value};

/// The part of a configuration that determines results: everything but presentation
/// (`plot`, `check`), execution limits (`run`) and the description.
pub fn result_defining(table: &Table) -> Table {
    let mut t = table.clone();
    for key in ["plot", "check", "run"] {
        t.remove(key);
    }
    if let Some(Value::Table(meta)) = t.get_mut("experiment") {
        meta.remove("description");
    }
    t
}

/// SHA-256 of the canonical TOML text of a table (keys sorted), as 16 hex digits.
pub fn content_hash(table: &Table) -> String {
    let text = toml::to_string(table).expect("a TOML table serializes");
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_ignores_presentation_and_key_order() {
        let a: Table = toml::from_str("[x]\na = 1\nb = 2\n[plot]\nq = 1").unwrap();
        let b: Table = toml::from_str("[x]\nb = 2\na = 1").unwrap();
        assert_eq!(
            content_hash(&result_defining(&a)),
            content_hash(&result_defining(&b))
        );
        let c: Table = toml::from_str("[x]\nb = 3\na = 1").unwrap();
        assert_ne!(
            content_hash(&result_defining(&a)),
            content_hash(&result_defining(&c))
        );
    }
}
