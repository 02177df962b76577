// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.ExecuteResult as FfiExecuteResult
import dev.psync.internal.Row as FfiRow
import dev.psync.internal.Value as FfiValue

/** What a write statement did. */
data class ExecuteResult(
    /** Rows changed by the statement (rows written by a view's triggers are not counted). */
    val rowsAffected: Long,
    /** The writer's last inserted rowid after the statement. */
    val lastInsertRowid: Long,
)

internal fun FfiExecuteResult.toPublic() = ExecuteResult(rowsAffected.toLong(), lastInsertRowid)

/** One result row: column name to value (`null`, `Long`, `Double`, `String` or `ByteArray`). */
typealias Row = Map<String, Any?>

/** The SQLite value of [value]; `Int`/`Boolean` become integers, `Float` a real. */
internal fun toValue(value: Any?): FfiValue =
    when (value) {
        null -> FfiValue.Null
        is Boolean -> FfiValue.Integer(if (value) 1L else 0L)
        is Long -> FfiValue.Integer(value)
        is Int -> FfiValue.Integer(value.toLong())
        is Short -> FfiValue.Integer(value.toLong())
        is Double -> FfiValue.Real(value)
        is Float -> FfiValue.Real(value.toDouble())
        is String -> FfiValue.Text(value)
        is ByteArray -> FfiValue.Blob(value)
        else -> throw PSyncException.InvalidArgument("cannot store a ${value::class.simpleName} in SQLite")
    }

internal fun fromValue(value: FfiValue): Any? =
    when (value) {
        is FfiValue.Null -> null
        is FfiValue.Integer -> value.value
        is FfiValue.Real -> value.value
        is FfiValue.Text -> value.value
        is FfiValue.Blob -> value.value
    }

internal fun FfiRow.toRow(): Row {
    val row = LinkedHashMap<String, Any?>(columns.size)
    columns.forEachIndexed { i, name -> row[name] = fromValue(values[i]) }
    return row
}

internal fun params(values: Array<out Any?>): List<FfiValue> = values.map(::toValue)
