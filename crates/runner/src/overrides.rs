//! Command-line overrides `--set key.path=value` applied to TOML tables.

use anyhow::{bail, Context, Result};
use toml::{Table, Value};

/// Parses `key.path=value`; the value is read as a TOML value (number, bool, array,
/// quoted string) and falls back to a bare string, so `--set kind=edm` works.
pub fn parse_assignment(text: &str) -> Result<(Vec<String>, Value)> {
    let Some((key, raw)) = text.split_once('=') else {
        bail!("--set {text:?}: expected key=value (for example --set sigma_max=80)");
    };
    let key = key.trim();
    let Some(path) = dotted_key(key) else {
        bail!("--set {text:?}: the key {key:?} is not a dotted name like sampler.steps (quote a segment that holds a dot: sweep.\"sampler.skip\")");
    };
    let raw = raw.trim();
    let value = format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((path, value))
}

/// The segments of a TOML dotted key (`a.b`, `sweep."sampler.skip"`), as TOML reads it.
fn dotted_key(key: &str) -> Option<Vec<String>> {
    let mut table = format!("{key} = 0").parse::<Table>().ok()?;
    let mut path = Vec::new();
    loop {
        let (name, value) = table.into_iter().next()?;
        path.push(name);
        match value {
            Value::Table(inner) if inner.len() == 1 => table = inner,
            Value::Integer(0) => return Some(path),
            _ => return None,
        }
    }
}

/// Sets `path` in `table` to `value`, creating intermediate tables.
pub fn set_path(table: &mut Table, path: &[String], value: Value) -> Result<()> {
    let (last, parents) = path.split_last().context("empty key")?;
    let mut current = table;
    for (depth, name) in parents.iter().enumerate() {
        let entry = current
            .entry(name.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            other => bail!(
                "cannot set {}: {} is a {}, not a table",
                path.join("."),
                path[..=depth].join("."),
                other.type_str()
            ),
        };
    }
    current.insert(last.clone(), value);
    Ok(())
}

/// Applies every `key=value` of `assignments` to `table` in order.
pub fn apply_all(table: &mut Table, assignments: &[String]) -> Result<()> {
    for text in assignments {
        let (path, value) = parse_assignment(text)?;
        set_path(table, &path, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_key_segments_keep_their_dots() {
        let (path, value) = parse_assignment(r#"sweep."sampler.skip"=[0, 2]"#).unwrap();
        assert_eq!(path, ["sweep", "sampler.skip"]);
        assert!(value.is_array());
        let (path, _) = parse_assignment("sampler.steps = 4").unwrap();
        assert_eq!(path, ["sampler", "steps"]);
        assert!(parse_assignment("a..b=1").is_err());
        assert!(parse_assignment("=1").is_err());
    }

    #[test]
    fn values_are_typed_and_bare_words_are_strings() {
        let (p, v) = parse_assignment("sampler.steps=40").unwrap();
        assert_eq!(p, ["sampler", "steps"]);
        assert_eq!(v.as_integer(), Some(40));
        assert_eq!(parse_assignment("x=0.5").unwrap().1.as_float(), Some(0.5));
        assert_eq!(
            parse_assignment("kind=edm").unwrap().1.as_str(),
            Some("edm")
        );
        assert_eq!(
            parse_assignment("k=[1, 2]")
                .unwrap()
                .1
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(parse_assignment("novalue").is_err());
        assert!(parse_assignment("a..b=1").is_err());
    }

    #[test]
    fn nested_tables_are_created_and_conflicts_reported() {
        let mut t = Table::new();
        apply_all(&mut t, &["a.b=1".into(), "a.c=\"x\"".into()]).unwrap();
        assert_eq!(t["a"]["b"].as_integer(), Some(1));
        assert_eq!(t["a"]["c"].as_str(), Some("x"));
        let err = apply_all(&mut t, &["a.b.c=2".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.b is a integer"), "{err}");
    }
}
