// SPDX-License-Identifier: Apache-2.0
//! The app schema as records, mirrored from `psync_core::schema`.

use psync_core::schema as core;

/// A complete app schema: the tables the app queries.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Schema {
    /// Schema-driven tables.
    pub tables: Vec<Table>,
    /// Raw tables: synced rows of these types go to the app's own tables through their
    /// put/delete statements instead of PowerSync's JSON storage.
    #[uniffi(default = [])]
    pub raw_tables: Vec<RawTable>,
}

/// A table the app creates and owns; synced rows of type `name` are written to it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RawTable {
    /// The synced row type (the service's `object_type`).
    pub name: String,
    /// The local table (defaults to `name`); used to infer missing statements.
    #[uniffi(default = None)]
    pub table_name: Option<String>,
    /// The synced columns, when not every column of the local table is synced.
    #[uniffi(default = None)]
    pub synced_columns: Option<Vec<String>>,
    /// Inserts or replaces a synced row (inferred from the local table when absent).
    #[uniffi(default = None)]
    pub put: Option<RawStatement>,
    /// Deletes a row by id (inferred when absent).
    #[uniffi(default = None)]
    pub delete: Option<RawStatement>,
}

/// SQL run for a synced row of a raw table, with what to bind to each `?`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RawStatement {
    /// SQL with `?` placeholders.
    pub sql: String,
    /// One parameter per placeholder, in order.
    pub params: Vec<RawParam>,
}

/// What a raw-table statement binds to one placeholder.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum RawParam {
    /// The row id.
    Id,
    /// One column of the synced row.
    Column {
        /// The column name.
        name: String,
    },
    /// A JSON object of the synced values not bound by name.
    Rest,
}

impl RawTable {
    /// The schema JSON the sync engine reads (storage.md §3.6).
    fn into_json(self) -> serde_json::Value {
        let statement = |s: Option<RawStatement>| {
            s.map(|s| {
                let params: Vec<serde_json::Value> = s
                    .params
                    .into_iter()
                    .map(|p| match p {
                        RawParam::Id => serde_json::json!("Id"),
                        RawParam::Column { name } => serde_json::json!({ "Column": name }),
                        RawParam::Rest => serde_json::json!("Rest"),
                    })
                    .collect();
                serde_json::json!({ "sql": s.sql, "params": params })
            })
        };
        serde_json::json!({
            "name": self.name,
            "table_name": self.table_name,
            "synced_columns": self.synced_columns,
            "put": statement(self.put),
            "delete": statement(self.delete),
        })
    }
}

/// One table; the app queries a view of this name, backed by PowerSync storage.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Table {
    /// Table name, as the service names it.
    pub name: String,
    /// Columns besides the implicit text `id`.
    pub columns: Vec<Column>,
    /// Indexes over column values.
    #[uniffi(default = [])]
    pub indexes: Vec<Index>,
    /// Name of the view the app queries; the table name when absent.
    #[uniffi(default = None)]
    pub view_name: Option<String>,
    /// Rows stay on this device: no upload queue entries, no sync.
    #[uniffi(default = false)]
    pub local_only: bool,
    /// Writes go straight to the upload queue; the view stays empty.
    #[uniffi(default = false)]
    pub insert_only: bool,
    /// Adds `_metadata` and `_deleted` columns to the view.
    #[uniffi(default = false)]
    pub include_metadata: bool,
    /// Which previous values upload queue entries of updates and deletes carry; none when
    /// absent.
    #[uniffi(default = None)]
    pub include_old: Option<IncludeOld>,
    /// Previous values on updates only list the columns that changed.
    #[uniffi(default = false)]
    pub include_old_only_when_changed: bool,
    /// Updates that change no column create no upload queue entry.
    #[uniffi(default = false)]
    pub ignore_empty_update: bool,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// SQLite type: `text`, `integer` or `real`.
    pub column_type: String,
}

/// An index over column values.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Index {
    /// Index name, unique within its table.
    pub name: String,
    /// Indexed columns in order.
    pub columns: Vec<IndexedColumn>,
}

/// One column of an index.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct IndexedColumn {
    /// Column name.
    pub name: String,
    /// `false` sorts descending.
    #[uniffi(default = true)]
    pub ascending: bool,
    /// The column's type.
    pub column_type: String,
}

/// Which previous values a table's upload queue entries carry.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum IncludeOld {
    /// All columns.
    All,
    /// Only these columns.
    Columns {
        /// Column names.
        names: Vec<String>,
    },
}

impl From<Schema> for core::Schema {
    fn from(schema: Schema) -> Self {
        let mut core_schema = core::Schema::new(schema.tables.into_iter().map(core::Table::from));
        core_schema.raw_tables = schema
            .raw_tables
            .into_iter()
            .map(RawTable::into_json)
            .collect();
        core_schema
    }
}

impl From<Table> for core::Table {
    fn from(t: Table) -> Self {
        let mut table = core::Table::new(
            t.name,
            t.columns
                .into_iter()
                .map(|c| core::Column::new(c.name, c.column_type)),
        )
        .local_only(t.local_only)
        .insert_only(t.insert_only)
        .include_metadata(t.include_metadata)
        .include_old(t.include_old.map_or(core::IncludeOld::No, Into::into))
        .include_old_only_when_changed(t.include_old_only_when_changed)
        .ignore_empty_update(t.ignore_empty_update);
        if let Some(view_name) = t.view_name {
            table = table.with_view_name(view_name);
        }
        for index in t.indexes {
            table = table.with_index(index.into());
        }
        table
    }
}

impl From<Index> for core::Index {
    fn from(index: Index) -> Self {
        core::Index::new(
            index.name,
            index.columns.into_iter().map(|c| core::IndexedColumn {
                name: c.name,
                ascending: c.ascending,
                column_type: c.column_type,
            }),
        )
    }
}

impl From<IncludeOld> for core::IncludeOld {
    fn from(include_old: IncludeOld) -> Self {
        match include_old {
            IncludeOld::All => core::IncludeOld::All,
            IncludeOld::Columns { names } => core::IncludeOld::Columns(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_options_reach_core() {
        let table = Table {
            name: "todos".into(),
            columns: vec![Column {
                name: "title".into(),
                column_type: "text".into(),
            }],
            indexes: vec![Index {
                name: "by_title".into(),
                columns: vec![IndexedColumn {
                    name: "title".into(),
                    ascending: false,
                    column_type: "text".into(),
                }],
            }],
            view_name: Some("todo_view".into()),
            local_only: true,
            insert_only: false,
            include_metadata: true,
            include_old: Some(IncludeOld::Columns {
                names: vec!["title".into()],
            }),
            include_old_only_when_changed: true,
            ignore_empty_update: true,
        };
        let core_table = core::Table::from(table);
        assert_eq!(core_table.view_name(), "todo_view");
        assert!(core_table.local_only && core_table.include_metadata);
        assert!(core_table.ignore_empty_update && core_table.include_old_only_when_changed);
        assert_eq!(core_table.indexes.len(), 1);
        assert!(!core_table.indexes[0].columns[0].ascending);
        assert_eq!(
            core_table.include_old.column_filter(),
            Some(&["title".to_string()][..])
        );
    }
}
