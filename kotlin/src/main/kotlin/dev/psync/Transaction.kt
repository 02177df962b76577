// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.Transaction as FfiTransaction
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.withContext

/**
 * An open transaction from [Database.writeTransaction] or [Database.readTransaction]; its
 * statements see its own writes. It ends with the block: do not keep it beyond.
 */
class Transaction internal constructor(private val inner: FfiTransaction) {
    /** Runs one statement inside the transaction. */
    suspend fun execute(sql: String, vararg params: Any?): ExecuteResult =
        translated { inner.execute(sql, params(params)) }.toPublic()

    /** The first row; throws [PSyncException.NoRows] if there is none. */
    suspend fun get(sql: String, vararg params: Any?): Row = translated { inner.get(sql, params(params)) }.toRow()

    /** Every row of a query. */
    suspend fun getAll(sql: String, vararg params: Any?): List<Row> =
        translated { inner.getAll(sql, params(params)) }.map { it.toRow() }

    /** The first row of a query, or `null`. */
    suspend fun getOptional(sql: String, vararg params: Any?): Row? =
        translated { inner.getOptional(sql, params(params)) }?.toRow()
}

/**
 * Runs [block] in [native]: commits when it returns, rolls back when it throws (cancellation
 * included), and frees the native object either way. A transaction the host abandons without
 * either (the object collected) rolls back natively.
 */
internal suspend fun <T> runTransaction(native: FfiTransaction, block: suspend (Transaction) -> T): T =
    native.use {
        val result =
            try {
                block(Transaction(native))
            } catch (e: Throwable) {
                // Even when cancelled: the rollback must reach the native side.
                withContext(NonCancellable) { runCatching { native.rollback() } }
                throw e
            }
        translated { native.commit() }
        result
    }
