// SPDX-License-Identifier: Apache-2.0
//! SQL text for views, INSTEAD OF triggers and indexes (storage.md §2.2, §2.4, §2.5).
//!
//! The text must be byte-identical to what the reference core writes: `replace_schema` compares
//! it with `sqlite_master` to decide whether anything changed, so a database written by either
//! core is left untouched by the other when the schema is the same.

use super::{IncludeOld, Index, Table};
use crate::{Error, Result};

/// Most key/value pairs per `json_object(...)` call (half of SQLite's default 100-argument
/// limit, so generated triggers work with any build). Longer objects are merged.
const MAX_PAIRS_PER_OBJECT: usize = 50;

/// `name` as a double-quoted SQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a single-quoted SQL string literal.
pub fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn extract_and_cast(column: &str, column_type: &str) -> String {
    format!(
        "CAST(json_extract(data, {}) as {column_type})",
        quote_string(&format!("$.{column}"))
    )
}

/// `CREATE VIEW` for a table.
pub fn view_sql(table: &Table) -> String {
    let mut names = vec![quote_identifier("id")];
    let mut values = vec!["id".to_string()];
    for column in &table.columns {
        names.push(quote_identifier(&column.name));
        values.push(extract_and_cast(&column.name, &column.column_type));
    }
    if table.include_metadata {
        names.push(quote_identifier("_metadata"));
        names.push(quote_identifier("_deleted"));
        values.push("NULL".into());
        values.push("NULL".into());
    }
    format!(
        "CREATE VIEW {}({}) AS SELECT {} FROM {} -- powersync-auto-generated",
        quote_identifier(table.view_name()),
        names.join(", "),
        values.join(", "),
        quote_identifier(&table.internal_name())
    )
}

/// `CREATE INDEX` for index `index` of a storage table.
pub fn create_index_sql(storage_table: &str, index_name: &str, index: &Index) -> String {
    let columns: Vec<String> = index
        .columns
        .iter()
        .map(|c| {
            let cast = extract_and_cast(&c.name, &c.column_type);
            if c.ascending {
                cast
            } else {
                format!("{cast} DESC")
            }
        })
        .collect();
    format!(
        "CREATE INDEX {} ON {}({})",
        quote_identifier(index_name),
        quote_identifier(storage_table),
        columns.join(", ")
    )
}

/// A SQL expression building a JSON object of the table's columns read from `prefix`
/// (`NEW`/`OLD`), optionally restricted to `filter`, in schema order.
pub fn json_object_fragment(
    prefix: &str,
    table: &Table,
    filter: Option<&[String]>,
) -> Result<String> {
    let pairs: Vec<String> = table
        .columns
        .iter()
        .filter(|c| filter.is_none_or(|f| f.iter().any(|n| n == &c.name)))
        .map(|c| {
            format!(
                "{}, powersync_strip_subtype({prefix}.{})",
                quote_string(&c.name),
                quote_identifier(&c.name)
            )
        })
        .collect();
    if pairs.len() > super::MAX_COLUMNS {
        return Err(Error::invalid_schema(format!(
            "table \"{}\" has more than {} columns",
            table.name,
            super::MAX_COLUMNS
        )));
    }
    if pairs.len() <= MAX_PAIRS_PER_OBJECT {
        return Ok(format!("json_object({})", pairs.join(", ")));
    }
    let chunks: Vec<String> = pairs
        .chunks(MAX_PAIRS_PER_OBJECT)
        .map(|chunk| format!("json_object({})", chunk.join(", ")))
        .collect();
    Ok(format!("powersync_json_merge({})", chunks.join(", ")))
}

#[derive(Clone, Copy, PartialEq)]
enum Write {
    Insert,
    Update,
    Delete,
}

struct CrudInsert<'a> {
    op: Write,
    id_expr: &'a str,
    data: Option<String>,
    metadata: Option<&'a str>,
}

fn insert_into_crud(table: &Table, insert: CrudInsert<'_>) -> Result<String> {
    let old_values = match (&table.include_old, insert.op) {
        (IncludeOld::No, _) | (_, Write::Insert) => None,
        (include_old, op) => {
            let filter = include_old.column_filter();
            let old = json_object_fragment("OLD", table, filter)?;
            if op == Write::Update && table.include_old_only_when_changed {
                let new = json_object_fragment("NEW", table, filter)?;
                Some(format!("json(powersync_diff({new}, {old}))"))
            } else {
                Some(old)
            }
        }
    };
    let options = (insert.op == Write::Update).then(|| table.flags());
    let op_text = match insert.op {
        Write::Insert => "PUT",
        Write::Update => "PATCH",
        Write::Delete => "DELETE",
    };

    let mut columns = String::from("op,id,type");
    let mut values = format!(
        "{}, {}, {}",
        quote_string(op_text),
        insert.id_expr,
        quote_string(&table.name)
    );
    if let Some(data) = &insert.data {
        columns.push_str(",data");
        values.push_str(&format!(", {data}"));
    }
    if let Some(old) = &old_values {
        columns.push_str(",old_values");
        values.push_str(&format!(", {old}"));
    }
    if let Some(metadata) = insert.metadata {
        columns.push_str(",metadata");
        values.push_str(&format!(", {metadata}"));
    }
    if let Some(options) = options {
        columns.push_str(",options");
        values.push_str(&format!(", {options}"));
    }
    Ok(format!(
        "INSERT INTO powersync_crud({columns}) VALUES ({values});\n"
    ))
}

fn trigger_head(prefix: &str, event: &str, table: &Table) -> String {
    let view = table.view_name();
    format!(
        "CREATE TRIGGER {} INSTEAD OF {event} ON {} FOR EACH ROW ",
        quote_identifier(&format!("{prefix}{view}")),
        quote_identifier(view)
    )
}

const CHECK_ID_VALID: &str = "SELECT CASE WHEN (NEW.id IS NULL) THEN RAISE (FAIL, 'id is required') WHEN (typeof(NEW.id) != 'text') THEN RAISE (FAIL, 'id should be text') END;\n";
const CHECK_ID_UNCHANGED: &str =
    "SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\n";

/// The delete trigger(s); empty for insert-only tables. With metadata this text holds two
/// `CREATE TRIGGER` statements separated by `;\n` (the second handles `SET _deleted = TRUE`).
pub fn delete_trigger_sql(table: &Table) -> Result<String> {
    if table.is_insert_only() {
        return Ok(String::new());
    }
    let storage = quote_identifier(&table.internal_name());
    let mut sql = trigger_head("ps_view_delete_", "DELETE", table);
    sql.push_str("BEGIN\n");
    sql.push_str(&format!("DELETE FROM {storage} WHERE id = OLD.id;\n"));
    if !table.local_only {
        sql.push_str(&insert_into_crud(
            table,
            CrudInsert {
                op: Write::Delete,
                id_expr: "OLD.id",
                data: None,
                metadata: None,
            },
        )?);
        if table.include_metadata {
            sql.push_str("END;\n");
            sql.push_str(&trigger_head("ps_view_delete2_", "UPDATE", table));
            sql.push_str(&format!(
                "WHEN NEW._deleted IS TRUE BEGIN DELETE FROM {storage} WHERE id = OLD.id; "
            ));
            sql.push_str(&insert_into_crud(
                table,
                CrudInsert {
                    op: Write::Delete,
                    id_expr: "OLD.id",
                    data: None,
                    metadata: Some("NEW._metadata"),
                },
            )?);
        }
    }
    sql.push_str("END");
    Ok(sql)
}

/// The insert trigger.
pub fn insert_trigger_sql(table: &Table) -> Result<String> {
    let mut sql = trigger_head("ps_view_insert_", "INSERT", table);
    sql.push_str("BEGIN\n");
    if !table.local_only {
        sql.push_str(CHECK_ID_VALID);
    }
    let new = json_object_fragment("NEW", table, None)?;
    if table.is_insert_only() {
        sql.push_str(&format!(
            "INSERT INTO powersync_crud_(data) VALUES(json_object('op', 'PUT', 'type', {}, 'id', NEW.id, 'data', json(powersync_diff('{{}}', {new}))));",
            quote_string(&table.name)
        ));
    } else {
        let storage = quote_identifier(&table.internal_name());
        sql.push_str(&format!("INSERT INTO {storage} SELECT NEW.id, {new};\n"));
        if !table.local_only {
            sql.push_str(&insert_into_crud(
                table,
                CrudInsert {
                    op: Write::Insert,
                    id_expr: "NEW.id",
                    data: Some(format!("json(powersync_diff('{{}}', {new}))")),
                    metadata: table.include_metadata.then_some("NEW._metadata"),
                },
            )?);
        }
    }
    sql.push_str("END");
    Ok(sql)
}

/// The update trigger; empty for insert-only tables.
pub fn update_trigger_sql(table: &Table) -> Result<String> {
    if table.is_insert_only() {
        return Ok(String::new());
    }
    let mut sql = trigger_head("ps_view_update_", "UPDATE", table);
    if table.include_metadata {
        sql.push_str(" WHEN NEW._deleted IS NOT TRUE ");
    }
    sql.push_str("BEGIN\n");
    sql.push_str(CHECK_ID_UNCHANGED);
    let new = json_object_fragment("NEW", table, None)?;
    let old = json_object_fragment("OLD", table, None)?;
    let storage = quote_identifier(&table.internal_name());
    sql.push_str(&format!(
        "UPDATE {storage} SET data = {new} WHERE id = NEW.id;\n"
    ));
    if !table.local_only {
        sql.push_str(&insert_into_crud(
            table,
            CrudInsert {
                op: Write::Update,
                id_expr: "NEW.id",
                data: Some(format!("json(powersync_diff({old}, {new}))")),
                metadata: table.include_metadata.then_some("NEW._metadata"),
            },
        )?);
    }
    sql.push_str("END");
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::schema::{Column, IndexedColumn};

    fn table() -> Table {
        Table::new("table", [Column::text("a"), Column::integer("b")])
    }

    #[test]
    fn view_matches_reference_text() {
        assert_eq!(
            view_sql(&table()),
            r#"CREATE VIEW "table"("id", "a", "b") AS SELECT id, CAST(json_extract(data, '$.a') as text), CAST(json_extract(data, '$.b') as integer) FROM "ps_data__table" -- powersync-auto-generated"#
        );
    }

    #[test]
    fn delete_trigger_matches_reference_text() {
        assert_eq!(
            delete_trigger_sql(&table()).expect("sql"),
            "CREATE TRIGGER \"ps_view_delete_table\" INSTEAD OF DELETE ON \"table\" FOR EACH ROW BEGIN\nDELETE FROM \"ps_data__table\" WHERE id = OLD.id;\nINSERT INTO powersync_crud(op,id,type) VALUES ('DELETE', OLD.id, 'table');\nEND"
        );
    }

    #[test]
    fn index_matches_reference_text() {
        let index = Index::new(
            "unused",
            [
                IndexedColumn::ascending("a", "text"),
                IndexedColumn::descending("b", "integer"),
            ],
        );
        assert_eq!(
            create_index_sql("table", "index", &index),
            r#"CREATE INDEX "index" ON "table"(CAST(json_extract(data, '$.a') as text), CAST(json_extract(data, '$.b') as integer) DESC)"#
        );
    }

    #[test]
    fn quoting_doubles_delimiters() {
        assert_eq!(quote_identifier("foo\"bar"), "\"foo\"\"bar\"");
        assert_eq!(quote_string("foo'"), "'foo'''");
    }

    #[test]
    fn more_than_fifty_columns_are_merged_in_chunks() {
        let t = Table::new("t", (0..51).map(|i| Column::text(format!("c{i}"))));
        let frag = json_object_fragment("NEW", &t, None).expect("sql");
        assert!(frag.starts_with("powersync_json_merge(json_object('c0', "));
        assert_eq!(frag.matches("json_object(").count(), 2);
        let fifty = Table::new("t", (0..50).map(|i| Column::text(format!("c{i}"))));
        assert!(
            json_object_fragment("NEW", &fifty, None)
                .expect("sql")
                .starts_with("json_object(")
        );
    }

    #[test]
    fn local_only_triggers_never_write_crud() {
        let t = table().local_only(true);
        for sql in [
            insert_trigger_sql(&t).expect("sql"),
            update_trigger_sql(&t).expect("sql"),
            delete_trigger_sql(&t).expect("sql"),
        ] {
            assert!(!sql.contains("powersync_crud"), "{sql}");
        }
    }
}
