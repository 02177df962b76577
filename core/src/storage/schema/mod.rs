// SPDX-License-Identifier: Apache-2.0
//! The app-facing schema: which tables exist, their columns, indexes and CRUD options.
//!
//! The JSON shape (storage.md §2.1) is what `powersync_replace_schema(json)` accepts, so a
//! [`Schema`] round-trips through [`Schema::to_json`] / [`Schema::from_json`]. Every schema is
//! validated ([`Schema::validate`]) before anything is written to the database.

mod manage;
mod sql;
mod validate;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

pub use manage::{SchemaState, register_functions, replace_schema};
pub use sql::{
    create_index_sql, delete_trigger_sql, insert_trigger_sql, json_object_fragment,
    quote_identifier, quote_string, update_trigger_sql, view_sql,
};
pub use validate::{MAX_COLUMNS, MAX_NAME_LENGTH};

/// The name an app uses for a storage table: `todos` for `ps_data__todos` (synced) and
/// `ps_data_local__todos` (local-only); other tables (`ps_crud`, the app's own) unchanged.
pub fn app_table_name(raw: &str) -> &str {
    raw.strip_prefix("ps_data__")
        .or_else(|| raw.strip_prefix("ps_data_local__"))
        .unwrap_or(raw)
}

/// Flag bit: the table is local-only (`ps_data_local__` storage, no CRUD capture).
pub const FLAG_LOCAL_ONLY: u32 = 1;
/// Flag bit: the table only accepts inserts, which go straight to the upload queue.
pub const FLAG_INSERT_ONLY: u32 = 2;
/// Flag bit: the view has `_metadata`/`_deleted` columns forwarded to CRUD entries.
pub const FLAG_INCLUDE_METADATA: u32 = 4;
/// Flag bit: previous values on updates only carry the columns that changed.
pub const FLAG_INCLUDE_OLD_ONLY_WHEN_CHANGED: u32 = 8;
/// Flag bit: updates that change nothing produce no CRUD entry.
pub const FLAG_IGNORE_EMPTY_UPDATE: u32 = 16;

/// A complete app schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Schema-driven tables (views over `ps_data__*` storage tables).
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Raw tables, kept as JSON: the sync engine interprets them (storage.md §3.6).
    #[serde(default)]
    pub raw_tables: Vec<serde_json::Value>,
}

impl Schema {
    /// A schema with the given tables and no raw tables.
    pub fn new(tables: impl IntoIterator<Item = Table>) -> Self {
        Self {
            tables: tables.into_iter().collect(),
            raw_tables: Vec::new(),
        }
    }

    /// Parses and validates the JSON shape of storage.md §2.1.
    pub fn from_json(json: &str) -> Result<Self> {
        let schema: Schema = serde_json::from_str(json)
            .map_err(|e| Error::invalid_schema(format!("invalid schema JSON: {e}")))?;
        schema.validate()?;
        Ok(schema)
    }

    /// Serialises to the JSON shape of storage.md §2.1.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// Checks names, duplicates and option combinations; see the `validate` module docs.
    pub fn validate(&self) -> Result<()> {
        validate::validate_schema(self)
    }
}

/// One schema-driven table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Table name: the storage table is `ps_data__<name>` and CRUD entries carry it as `type`.
    pub name: String,
    /// Name of the view the app queries; defaults to `name`.
    #[serde(default)]
    pub view_name: Option<String>,
    /// Columns besides the implicit `id`.
    pub columns: Vec<Column>,
    /// Indexes over column values.
    #[serde(default)]
    pub indexes: Vec<Index>,
    /// Rows stay on this device: no CRUD entries, no sync.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub local_only: bool,
    /// Writes go straight to the upload queue; the view stays empty.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub insert_only: bool,
    /// Adds `_metadata` and `_deleted` columns to the view.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub include_metadata: bool,
    /// Which previous values CRUD entries of updates and deletes carry.
    #[serde(default)]
    pub include_old: IncludeOld,
    /// Previous values on updates only list changed columns.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub include_old_only_when_changed: bool,
    /// Updates that change no column create no CRUD entry.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub ignore_empty_update: bool,
}

/// Previous-value tracking of a table (`include_old` in the JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IncludeOld {
    /// No previous values (`false` / `null` / absent).
    #[default]
    No,
    /// All columns (`true`).
    All,
    /// Only these columns (a JSON array of names).
    Columns(Vec<String>),
}

impl IncludeOld {
    /// Whether previous values are tracked at all.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, IncludeOld::No)
    }

    /// The column filter: `None` means every column.
    pub fn column_filter(&self) -> Option<&[String]> {
        match self {
            IncludeOld::Columns(c) => Some(c),
            _ => None,
        }
    }
}

impl Serialize for IncludeOld {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            IncludeOld::No => s.serialize_bool(false),
            IncludeOld::All => s.serialize_bool(true),
            IncludeOld::Columns(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for IncludeOld {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(Option<bool>),
            Columns(Vec<String>),
        }
        Ok(
            match Raw::deserialize(d).map_err(|_| {
                serde::de::Error::custom(
                    "include_old must be true, false, null or an array of names",
                )
            })? {
                Raw::Flag(Some(true)) => IncludeOld::All,
                Raw::Flag(_) => IncludeOld::No,
                Raw::Columns(c) => IncludeOld::Columns(c),
            },
        )
    }
}

/// Option flags accept `null` as `false`, like the reference core's lenient reading.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

impl Table {
    /// A synced table with the given columns and default options.
    pub fn new(name: impl Into<String>, columns: impl IntoIterator<Item = Column>) -> Self {
        Self {
            name: name.into(),
            view_name: None,
            columns: columns.into_iter().collect(),
            indexes: Vec::new(),
            local_only: false,
            insert_only: false,
            include_metadata: false,
            include_old: IncludeOld::No,
            include_old_only_when_changed: false,
            ignore_empty_update: false,
        }
    }

    /// Overrides the view name.
    pub fn with_view_name(mut self, view_name: impl Into<String>) -> Self {
        self.view_name = Some(view_name.into());
        self
    }

    /// Adds an index.
    pub fn with_index(mut self, index: Index) -> Self {
        self.indexes.push(index);
        self
    }

    /// Makes the table local-only.
    pub fn local_only(mut self, on: bool) -> Self {
        self.local_only = on;
        self
    }

    /// Makes the table insert-only.
    pub fn insert_only(mut self, on: bool) -> Self {
        self.insert_only = on;
        self
    }

    /// Enables the `_metadata`/`_deleted` columns.
    pub fn include_metadata(mut self, on: bool) -> Self {
        self.include_metadata = on;
        self
    }

    /// Sets previous-value tracking.
    pub fn include_old(mut self, include_old: IncludeOld) -> Self {
        self.include_old = include_old;
        self
    }

    /// Previous values on updates only carry changed columns.
    pub fn include_old_only_when_changed(mut self, on: bool) -> Self {
        self.include_old_only_when_changed = on;
        self
    }

    /// Skips CRUD entries for updates that change nothing.
    pub fn ignore_empty_update(mut self, on: bool) -> Self {
        self.ignore_empty_update = on;
        self
    }

    /// The view name (the override or the table name).
    pub fn view_name(&self) -> &str {
        self.view_name.as_deref().unwrap_or(&self.name)
    }

    /// Whether inserts bypass the storage table (ignored for local-only tables).
    pub fn is_insert_only(&self) -> bool {
        self.insert_only && !self.local_only
    }

    /// The storage table name: `ps_data__<name>` or `ps_data_local__<name>`.
    pub fn internal_name(&self) -> String {
        if self.local_only {
            format!("ps_data_local__{}", self.name)
        } else {
            format!("ps_data__{}", self.name)
        }
    }

    /// The option bits passed to the CRUD vtab (storage.md §2.1).
    pub fn flags(&self) -> u32 {
        let mut flags = 0;
        for (on, bit) in [
            (self.local_only, FLAG_LOCAL_ONLY),
            (self.insert_only, FLAG_INSERT_ONLY),
            (self.include_metadata, FLAG_INCLUDE_METADATA),
            (
                self.include_old_only_when_changed,
                FLAG_INCLUDE_OLD_ONLY_WHEN_CHANGED,
            ),
            (self.ignore_empty_update, FLAG_IGNORE_EMPTY_UPDATE),
        ] {
            if on {
                flags |= bit;
            }
        }
        flags
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// SQLite type used in casts: `TEXT`, `INTEGER` or `REAL` (any case; kept verbatim).
    #[serde(rename = "type")]
    pub column_type: String,
}

impl Column {
    /// A column of the given type.
    pub fn new(name: impl Into<String>, column_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            column_type: column_type.into(),
        }
    }

    /// A `text` column.
    pub fn text(name: impl Into<String>) -> Self {
        Self::new(name, "text")
    }

    /// An `integer` column.
    pub fn integer(name: impl Into<String>) -> Self {
        Self::new(name, "integer")
    }

    /// A `real` column.
    pub fn real(name: impl Into<String>) -> Self {
        Self::new(name, "real")
    }
}

/// An index over column values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Index name; the SQLite index is `<storage table>__<name>`.
    pub name: String,
    /// Indexed columns in order.
    pub columns: Vec<IndexedColumn>,
}

impl Index {
    /// An index over the given columns.
    pub fn new(name: impl Into<String>, columns: impl IntoIterator<Item = IndexedColumn>) -> Self {
        Self {
            name: name.into(),
            columns: columns.into_iter().collect(),
        }
    }
}

/// One column of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedColumn {
    /// Column name.
    pub name: String,
    /// `false` adds `DESC`.
    #[serde(default = "default_true")]
    pub ascending: bool,
    /// Cast type, normally the column's type.
    #[serde(rename = "type")]
    pub column_type: String,
}

fn default_true() -> bool {
    true
}

impl IndexedColumn {
    /// An ascending indexed column.
    pub fn ascending(name: impl Into<String>, column_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ascending: true,
            column_type: column_type.into(),
        }
    }

    /// A descending indexed column.
    pub fn descending(name: impl Into<String>, column_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ascending: false,
            column_type: column_type.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_shape() {
        let json = r#"{"tables":[{"name":"todos","view_name":null,"columns":[{"name":"title","type":"TEXT"}],"indexes":[{"name":"by_title","columns":[{"name":"title","ascending":true,"type":"TEXT"}]}],"local_only":false,"insert_only":false,"include_metadata":false,"include_old":false,"include_old_only_when_changed":false,"ignore_empty_update":false}],"raw_tables":[]}"#;
        let schema = Schema::from_json(json).expect("valid");
        assert_eq!(schema.to_json().expect("serialises"), json);
    }

    #[test]
    fn include_old_variants_parse() {
        for (raw, expected) in [
            ("true", IncludeOld::All),
            ("false", IncludeOld::No),
            ("null", IncludeOld::No),
            (r#"["a"]"#, IncludeOld::Columns(vec!["a".into()])),
        ] {
            let json = format!(
                r#"{{"tables":[{{"name":"t","columns":[{{"name":"a","type":"text"}}],"include_old":{raw}}}]}}"#
            );
            let schema = Schema::from_json(&json).expect("valid");
            assert_eq!(schema.tables[0].include_old, expected);
        }
    }

    #[test]
    fn flags_follow_storage_spec_bits() {
        let t = Table::new("t", [Column::text("a")])
            .include_metadata(true)
            .ignore_empty_update(true)
            .include_old_only_when_changed(true);
        assert_eq!(t.flags(), 4 | 8 | 16);
    }

    #[test]
    fn unknown_keys_are_ignored_and_null_flags_read_false() {
        let schema = Schema::from_json(
            r#"{"tables":[{"name":"t","columns":[],"local_only":null,"whatever":1}]}"#,
        )
        .expect("valid");
        assert!(!schema.tables[0].local_only);
    }
}
