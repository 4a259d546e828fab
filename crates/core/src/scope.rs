//! [`Scope`]: what one export covers, a database or a whole region group. The one type every
//! layer passes around, from the payload to the Fauna request and the object key.

use std::fmt;

use serde::Serialize;

/// What to export: one database (a path that starts with its region group) or a whole region
/// group. Serialises as the payload field it comes from: `{"database": "us-std/ECommerce"}` or
/// `{"region_group": "us-std"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Database(String),
    RegionGroup(String),
}

impl Scope {
    /// The region group the scope lives in (the first segment of a database path).
    pub fn region_group(&self) -> &str {
        match self {
            Scope::Database(path) => path.split('/').next().unwrap_or(path),
            Scope::RegionGroup(rg) => rg,
        }
    }

    /// The database path below the region group; `None` for a whole region group.
    pub fn database_below_region_group(&self) -> Option<&str> {
        match self {
            Scope::Database(path) => Some(path.split_once('/').map_or("", |(_, rest)| rest)),
            Scope::RegionGroup(_) => None,
        }
    }

    /// The payload (and Fauna request body) field that names it.
    pub fn field(&self) -> &'static str {
        match self {
            Scope::Database(_) => "database",
            Scope::RegionGroup(_) => "region_group",
        }
    }

    /// The database path or region group.
    pub fn value(&self) -> &str {
        match self {
            Scope::Database(v) | Scope::RegionGroup(v) => v,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Database(path) => write!(f, "database {path}"),
            Scope::RegionGroup(rg) => write!(f, "region group {rg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_path_names_its_region_group() {
        let db = Scope::Database("us-std/production/customers".into());
        assert_eq!(db.region_group(), "us-std");
        assert_eq!(
            db.database_below_region_group(),
            Some("production/customers")
        );
        assert_eq!(
            (db.field(), db.value()),
            ("database", "us-std/production/customers")
        );
        let rg = Scope::RegionGroup("eu-std".into());
        assert_eq!(
            (rg.region_group(), rg.database_below_region_group()),
            ("eu-std", None)
        );
        assert_eq!(
            serde_json::to_value(&rg).unwrap(),
            serde_json::json!({"region_group": "eu-std"})
        );
    }
}
