// SPDX-License-Identifier: Apache-2.0
//! Schema validation, run before anything is written.
//!
//! Decisions (the spec leaves these to the SDK):
//! * Names (tables, view names, columns, indexes) must be 1..=[`MAX_NAME_LENGTH`] bytes and may
//!   not contain quotes (`"`, `'`), control characters, or `.`, `[`, `]` (these would change the
//!   meaning of the `$.<name>` JSON path used by views and indexes).
//! * Name comparisons (duplicates, the reserved `id`) ignore ASCII case, as SQLite does.
//! * Column types must be `TEXT`, `INTEGER` or `REAL` in any case; the text is kept verbatim.
//! * A table has at most [`MAX_COLUMNS`] columns.
//! * `local_only` cannot be combined with `include_metadata` or `include_old`;
//!   `insert_only` + `local_only` is accepted and means plain local-only.
//! * `include_old` column lists and index columns must name columns of the table.
//! * Error messages name the table/column/index and the rule, never row data.

use std::collections::HashSet;

use super::{IncludeOld, Schema, Table};
use crate::{Error, Result};

/// Longest accepted table, view, column or index name, in bytes.
pub const MAX_NAME_LENGTH: usize = 255;
/// Most columns a table may have (SQLite's 2000-column limit minus `id`).
pub const MAX_COLUMNS: usize = 1999;

fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_schema(format!(
            "{kind} name must not be empty"
        )));
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(Error::invalid_schema(format!(
            "{kind} name is longer than {MAX_NAME_LENGTH} bytes"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '.' | '[' | ']') || c.is_control())
    {
        let shown = if bad.is_control() {
            "a control character".to_string()
        } else {
            format!("'{bad}'")
        };
        return Err(Error::invalid_schema(format!(
            "{kind} name \"{}\" contains {shown}",
            name.escape_default()
        )));
    }
    Ok(())
}

fn check_type(what: &str, ty: &str) -> Result<()> {
    if ["text", "integer", "real"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(ty))
    {
        Ok(())
    } else {
        Err(Error::invalid_schema(format!(
            "{what} has unsupported type \"{}\" (expected TEXT, INTEGER or REAL)",
            ty.escape_default()
        )))
    }
}

pub(super) fn validate_schema(schema: &Schema) -> Result<()> {
    let mut table_names = HashSet::new();
    let mut view_names = HashSet::new();
    for table in &schema.tables {
        validate_table(table)?;
        if !table_names.insert(table.name.to_ascii_lowercase()) {
            return Err(Error::invalid_schema(format!(
                "duplicate table name \"{}\"",
                table.name
            )));
        }
        if !view_names.insert(table.view_name().to_ascii_lowercase()) {
            return Err(Error::invalid_schema(format!(
                "duplicate view name \"{}\"",
                table.view_name()
            )));
        }
    }
    for raw in &schema.raw_tables {
        match raw.get("name").and_then(|n| n.as_str()) {
            Some(name) if !name.is_empty() => {}
            _ => return Err(Error::invalid_schema("raw table without a name")),
        }
    }
    Ok(())
}

fn validate_table(table: &Table) -> Result<()> {
    check_name("table", &table.name)?;
    if let Some(view) = &table.view_name {
        check_name("view", view)?;
    }
    let t = &table.name;
    if table.columns.len() > MAX_COLUMNS {
        return Err(Error::invalid_schema(format!(
            "table \"{t}\" has {} columns, more than the maximum of {MAX_COLUMNS}",
            table.columns.len()
        )));
    }
    let mut columns = HashSet::new();
    for column in &table.columns {
        check_name("column", &column.name)?;
        let lower = column.name.to_ascii_lowercase();
        if lower == "id" {
            return Err(Error::invalid_schema(format!(
                "table \"{t}\": a column named \"id\" is not allowed (id is implicit)"
            )));
        }
        if table.include_metadata && (lower == "_metadata" || lower == "_deleted") {
            return Err(Error::invalid_schema(format!(
                "table \"{t}\": column \"{}\" is reserved when include_metadata is set",
                column.name
            )));
        }
        check_type(
            &format!("column \"{}\" of table \"{t}\"", column.name),
            &column.column_type,
        )?;
        if !columns.insert(lower) {
            return Err(Error::invalid_schema(format!(
                "table \"{t}\" has duplicate column \"{}\"",
                column.name
            )));
        }
    }
    let mut indexes = HashSet::new();
    for index in &table.indexes {
        check_name("index", &index.name)?;
        if !indexes.insert(index.name.to_ascii_lowercase()) {
            return Err(Error::invalid_schema(format!(
                "table \"{t}\" has duplicate index \"{}\"",
                index.name
            )));
        }
        if index.columns.is_empty() {
            return Err(Error::invalid_schema(format!(
                "index \"{}\" of table \"{t}\" has no columns",
                index.name
            )));
        }
        for col in &index.columns {
            if !columns.contains(&col.name.to_ascii_lowercase()) {
                return Err(Error::invalid_schema(format!(
                    "index \"{}\" of table \"{t}\" refers to unknown column \"{}\"",
                    index.name,
                    col.name.escape_default()
                )));
            }
            check_type(&format!("index column \"{}\"", col.name), &col.column_type)?;
        }
    }
    if table.local_only && table.include_metadata {
        return Err(Error::invalid_schema(format!(
            "table \"{t}\": local_only cannot be combined with include_metadata"
        )));
    }
    if table.local_only && (table.include_old.is_enabled() || table.include_old_only_when_changed) {
        return Err(Error::invalid_schema(format!(
            "table \"{t}\": local_only cannot be combined with include_old"
        )));
    }
    if let IncludeOld::Columns(cols) = &table.include_old {
        for name in cols {
            if !columns.contains(&name.to_ascii_lowercase()) {
                return Err(Error::invalid_schema(format!(
                    "table \"{t}\": include_old names unknown column \"{}\"",
                    name.escape_default()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::schema::{Column, Index, IndexedColumn};

    fn err(schema: Schema) -> String {
        schema.validate().expect_err("must be rejected").to_string()
    }

    #[test]
    fn rejects_bad_names() {
        for name in ["", "a\"b", "a'b", "a\nb", "a.b", "a[0]"] {
            let msg = err(Schema::new([Table::new(name, [])]));
            assert!(msg.contains("table name"), "{msg}");
        }
        let msg = err(Schema::new([Table::new("x".repeat(256), [])]));
        assert!(msg.contains("longer than 255"), "{msg}");
        assert!(
            Schema::new([Table::new("x".repeat(255), [])])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rejects_id_column_and_duplicates() {
        assert!(err(Schema::new([Table::new("t", [Column::text("ID")])])).contains("\"id\""));
        let dup = Table::new("t", [Column::text("a"), Column::integer("A")]);
        assert!(err(Schema::new([dup])).contains("duplicate column"));
        let two = Schema::new([Table::new("t", []), Table::new("T", [])]);
        assert!(err(two).contains("duplicate table"));
        let views = Schema::new([Table::new("a", []), Table::new("b", []).with_view_name("a")]);
        assert!(err(views).contains("duplicate view"));
        let idx = Table::new("t", [Column::text("a")])
            .with_index(Index::new("i", [IndexedColumn::ascending("a", "text")]))
            .with_index(Index::new("i", [IndexedColumn::ascending("a", "text")]));
        assert!(err(Schema::new([idx])).contains("duplicate index"));
    }

    #[test]
    fn rejects_types_limits_and_option_combinations() {
        assert!(err(Schema::new([Table::new("t", [Column::new("a", "BLOB")])])).contains("type"));
        assert!(
            Schema::new([Table::new("t", [Column::new("a", "Text")])])
                .validate()
                .is_ok()
        );
        let many = (0..2000).map(|i| Column::text(format!("c{i}")));
        assert!(err(Schema::new([Table::new("t", many)])).contains("maximum of 1999"));
        let meta = Table::new("t", []).local_only(true).include_metadata(true);
        assert!(err(Schema::new([meta])).contains("include_metadata"));
        let old = Table::new("t", [])
            .local_only(true)
            .include_old(IncludeOld::All);
        assert!(err(Schema::new([old])).contains("include_old"));
        let unknown =
            Table::new("t", [Column::text("a")]).include_old(IncludeOld::Columns(vec!["b".into()]));
        assert!(err(Schema::new([unknown])).contains("unknown column"));
        assert!(
            Schema::new([Table::new("t", []).local_only(true).insert_only(true)])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn invalid_json_is_an_invalid_schema_error() {
        let e = Schema::from_json("{not json").expect_err("rejected");
        assert!(matches!(e.kind(), crate::ErrorKind::InvalidSchema(_)));
        let e = Schema::from_json(r#"{"tables":[{"name":1,"columns":[]}]}"#).expect_err("rejected");
        assert!(e.to_string().contains("invalid schema JSON"));
    }
}
