// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.Column as FfiColumn
import dev.psync.internal.IncludeOld as FfiIncludeOld
import dev.psync.internal.Index as FfiIndex
import dev.psync.internal.IndexedColumn as FfiIndexedColumn
import dev.psync.internal.RawParam as FfiRawParam
import dev.psync.internal.RawStatement as FfiRawStatement
import dev.psync.internal.RawTable as FfiRawTable
import dev.psync.internal.Schema as FfiSchema
import dev.psync.internal.Table as FfiTable

/** The tables of an app, and its raw tables. */
data class Schema(val tables: List<Table>, val rawTables: List<RawTable> = emptyList()) {
    constructor(vararg tables: Table) : this(tables.toList())

    internal fun toFfi() = FfiSchema(tables.map { it.toFfi() }, rawTables.map { it.toFfi() })
}

/** The SQLite type of a [Column]. */
enum class ColumnType { TEXT, INTEGER, REAL }

/** A column besides the implicit text `id`. */
data class Column(val name: String, val type: ColumnType = ColumnType.TEXT) {
    companion object {
        /** A text column. */
        fun text(name: String) = Column(name, ColumnType.TEXT)

        /** An integer column. */
        fun integer(name: String) = Column(name, ColumnType.INTEGER)

        /** A real (floating point) column. */
        fun real(name: String) = Column(name, ColumnType.REAL)
    }
}

/** One column of an [Index]. */
data class IndexedColumn(val column: String, val ascending: Boolean = true) {
    companion object {
        fun ascending(column: String) = IndexedColumn(column, true)

        fun descending(column: String) = IndexedColumn(column, false)
    }
}

/** An index over column values; its name is unique within its table. */
data class Index(val name: String, val columns: List<IndexedColumn>) {
    constructor(name: String, vararg columns: IndexedColumn) : this(name, columns.toList())
}

/** Which previous values the upload queue entries of updates and deletes carry. */
sealed class IncludeOld {
    /** Every column. */
    data object All : IncludeOld()

    /** Only these columns. */
    data class Columns(val names: List<String>) : IncludeOld()
}

/** One synced (or local-only) table, queried through a view of the same name (or [viewName]). */
data class Table(
    val name: String,
    val columns: List<Column>,
    val indexes: List<Index> = emptyList(),
    /** The view the app queries; [name] when `null`. */
    val viewName: String? = null,
    /** Rows stay on this device: no upload queue entries, no sync. */
    val localOnly: Boolean = false,
    /** Writes go straight to the upload queue; the view stays empty. */
    val insertOnly: Boolean = false,
    /** Adds `_metadata` and `_deleted` columns to the view. */
    val includeMetadata: Boolean = false,
    /** Previous values carried by upload queue entries of updates and deletes; none when `null`. */
    val includeOld: IncludeOld? = null,
    /** Previous values of updates only list the columns that changed. */
    val includeOldOnlyWhenChanged: Boolean = false,
    /** Updates that change no column create no upload queue entry. */
    val ignoreEmptyUpdate: Boolean = false,
) {
    internal fun toFfi(): FfiTable {
        val types = columns.associate { it.name to it.type.sqlName() }
        return FfiTable(
            name = name,
            columns = columns.map { FfiColumn(it.name, it.type.sqlName()) },
            indexes =
                indexes.map { index ->
                    FfiIndex(index.name, index.columns.map { FfiIndexedColumn(it.column, it.ascending, types[it.column] ?: "text") })
                },
            viewName = viewName,
            localOnly = localOnly,
            insertOnly = insertOnly,
            includeMetadata = includeMetadata,
            includeOld =
                when (includeOld) {
                    null -> null
                    IncludeOld.All -> FfiIncludeOld.All
                    is IncludeOld.Columns -> FfiIncludeOld.Columns(includeOld.names)
                },
            includeOldOnlyWhenChanged = includeOldOnlyWhenChanged,
            ignoreEmptyUpdate = ignoreEmptyUpdate,
        )
    }
}

private fun ColumnType.sqlName() = name.lowercase()

/** What a raw-table statement binds to one `?`. */
sealed class RawParam {
    /** The row id. */
    data object Id : RawParam()

    /** A JSON object of the synced values not bound by name. */
    data object Rest : RawParam()

    /** One column of the synced row. */
    data class Column(val name: String) : RawParam()

    internal fun toFfi(): FfiRawParam =
        when (this) {
            Id -> FfiRawParam.Id
            Rest -> FfiRawParam.Rest
            is Column -> FfiRawParam.Column(name)
        }
}

/** SQL run for a synced row of a raw table, with what to bind to each `?`. */
data class RawStatement(val sql: String, val params: List<RawParam>) {
    internal fun toFfi() = FfiRawStatement(sql, params.map { it.toFfi() })
}

/**
 * A table the app creates and owns: synced rows of type [name] are written to it with [put] and
 * [delete] (inferred from the columns of [tableName] when `null`).
 */
data class RawTable(
    val name: String,
    /** The local table; [name] when `null`. */
    val tableName: String? = null,
    /** The synced columns, when not every column of the local table is synced. */
    val syncedColumns: List<String>? = null,
    val put: RawStatement? = null,
    val delete: RawStatement? = null,
) {
    internal fun toFfi() = FfiRawTable(name, tableName, syncedColumns, put?.toFfi(), delete?.toFfi())
}
