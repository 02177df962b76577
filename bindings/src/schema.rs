// SPDX-License-Identifier: Apache-2.0
//! The app schema as records, mirrored from `psync_core::schema`.

use psync_core::schema as core;

/// A complete app schema: the tables the app queries.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Schema {
    /// Schema-driven tables.
    pub tables: Vec<Table>,
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
        core::Schema::new(schema.tables.into_iter().map(core::Table::from))
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
