// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.CrudTransaction as FfiCrudTransaction
import dev.psync.internal.StatusListener
import dev.psync.internal.SyncStatus as FfiSyncStatus
import dev.psync.internal.Database as FfiDatabase
import dev.psync.internal.OpenOptions as FfiOpenOptions
import dev.psync.internal.Statement
import dev.psync.internal.TableChangeListener
import dev.psync.internal.QueryListener
import dev.psync.internal.Row as FfiRow
import dev.psync.internal.shutdown as shutdownNative
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toJavaDuration

/**
 * A PowerSync-format SQLite database with its app schema.
 *
 * Thread-safe. Queries and writes (`execute`, `getAll`, ...) suspend while SQLite works on
 * psync's own threads, so they never block the caller's dispatcher. Always [close] it (or use `use {}`): the
 * cleaner is only a safety net. Databases still open when the JVM exits are closed by a
 * shutdown hook (sync stops cleanly).
 *
 * psync's log lines (sync retries, failed uploads) go to the [PSyncLogger] given to [open] or
 * [setLogger]; without one nothing is logged or printed.
 */
class Database private constructor(private val inner: FfiDatabase) : AutoCloseable {
    private val closed = AtomicBoolean(false)

    /**
     * Calls [block] on the native object; after [close] (which also frees it) every call
     * throws [PSyncException.Closed] instead of the generated "already destroyed" error.
     */
    private inline fun <T> call(block: (FfiDatabase) -> T): T {
        if (closed.get()) throw PSyncException.Closed("the database is closed")
        return try {
            translated { block(inner) }
        } catch (e: IllegalStateException) {
            // On the JVM a coroutine's CancellationException is an IllegalStateException:
            // cancellation must propagate as itself. Only a close() on another thread that
            // destroyed the native object during this call becomes Closed.
            if (e is CancellationException || !closed.get()) throw e
            throw PSyncException.Closed("the database is closed")
        }
    }

    companion object {
        /**
         * Opens (or creates) the database file at [path] and applies [schema]. [busyTimeout]: how
         * long a statement waits for a lock another connection or process holds on the file
         * before throwing [PSyncException.Busy]. [logger] receives psync's log lines.
         */
        fun open(path: String, schema: Schema, busyTimeout: Duration = 30.seconds, logger: PSyncLogger? = null): Database {
            ExitHook.install()
            if (busyTimeout.isNegative() || busyTimeout.isInfinite()) {
                throw PSyncException.InvalidArgument("busyTimeout must be finite and not negative, not $busyTimeout")
            }
            val options = FfiOpenOptions(busyTimeout.inWholeMilliseconds.toULong())
            return translated { Database(FfiDatabase.openWithOptions(path, schema.toFfi(), options)) }.also { it.setLogger(logger) }
        }

        /** Opens an empty in-memory database with [schema]; [logger] receives psync's log lines. */
        fun inMemory(schema: Schema, logger: PSyncLogger? = null): Database {
            ExitHook.install()
            return translated { Database(FfiDatabase.openInMemory(schema.toFfi())) }.also { it.setLogger(logger) }
        }
    }

    /** Sends psync's log lines to [logger], replacing the previous one; `null` stops logging. */
    fun setLogger(logger: PSyncLogger?) = call { it.setLogger(logger?.let(::LogSinkAdapter)) }

    /** Replaces the app schema. */
    suspend fun updateSchema(schema: Schema) = call { it.updateSchema(schema.toFfi()) }

    /** Runs one write statement in its own transaction. */
    suspend fun execute(sql: String, vararg params: Any?): ExecuteResult = call { it.execute(sql, params(params)) }.toPublic()

    /**
     * Runs [sql] once for each parameter set in one transaction (all apply or none does),
     * preparing it once; `rowsAffected` is the total (rows written by a view's triggers are not
     * counted, as with [execute]).
     */
    suspend fun executeBatch(sql: String, parameterSets: List<List<Any?>>): ExecuteResult =
        call { it.executeBatch(sql, parameterSets.map { set -> set.map(::toValue) }) }.toPublic()

    /** Runs `(sql, params)` statements in one transaction: all apply or none does. */
    suspend fun writeBatch(statements: List<Pair<String, List<Any?>>>): List<ExecuteResult> =
        call {
            it.writeBatch(statements.map { (sql, p) -> Statement(sql, p.map(::toValue)) })
        }.map { it.toPublic() }

    /** The first row of a query; throws [PSyncException.NoRows] if there is none. */
    suspend fun get(sql: String, vararg params: Any?): Row = call { it.get(sql, params(params)).toRow() }

    /** Every row of a query. */
    suspend fun getAll(sql: String, vararg params: Any?): List<Row> =
        call { it.getAll(sql, params(params)).map { it.toRow() } }

    /** The first row of a query, or `null`. */
    suspend fun getOptional(sql: String, vararg params: Any?): Row? =
        call { it.getOptional(sql, params(params))?.toRow() }

    /**
     * Runs [block] in a write transaction holding the writer (other writes wait): committed
     * when [block] returns, rolled back when it throws or the coroutine is cancelled.
     */
    suspend fun <T> writeTransaction(block: suspend (Transaction) -> T): T =
        runTransaction(call { it.writeTransaction() }, block)

    /** Runs [block] in a read transaction: one consistent snapshot on a reader. */
    suspend fun <T> readTransaction(block: suspend (Transaction) -> T): T =
        runTransaction(call { it.readTransaction() }, block)

    /** Up to [limit] queued local writes, or `null` when nothing is queued. */
    suspend fun getCrudBatch(limit: Int = 100): CrudBatch? =
        call { it.getCrudBatch(limit.toUInt()) }?.let { native ->
            CrudBatch(native.entries().map { it.toPublic() }, native.hasMore(), { checkpoint -> native.complete(checkpoint) }, native)
        }

    /** The queued writes of the oldest local transaction, or `null`. */
    suspend fun getNextCrudTransaction(): CrudBatch? = call { it.getNextCrudTransaction() }?.toBatch()

    /**
     * Every queued local transaction, oldest first, without completing any: upload each, then
     * [CrudBatch.complete] it (completing the last one completes them all).
     */
    fun crudTransactions(): Flow<CrudBatch> =
        flow {
            var after = 0L
            while (true) {
                val batch = call { it.getCrudTransactionAfter(after) }?.toBatch() ?: break
                after = batch.entries.last().clientId
                emit(batch)
            }
        }

    /** How many writes are queued for upload, and the size of their data in bytes. */
    suspend fun uploadQueueStats(): UploadQueueStats =
        call { it.uploadQueueStats() }.let { UploadQueueStats(it.count.toLong(), it.sizeBytes.toLong()) }

    private fun FfiCrudTransaction.toBatch() =
        CrudBatch(entries().map { it.toPublic() }, false, { checkpoint -> complete(checkpoint) }, this)

    /**
     * Changed table names after each committed write, by the names the app uses (`todos`, not
     * `ps_data__todos`). With [tables] non-empty, only writes changing one of them are
     * reported, and only those names. Collecting registers a listener on a psync thread;
     * cancelling the collector cancels and destroys it.
     */
    fun onChange(tables: Set<String> = emptySet()): Flow<Set<String>> =
        callbackFlow {
            val listener =
                object : TableChangeListener {
                    override fun onUpdate(tables: List<String>) {
                        trySend(tables.toSet())
                    }
                }
            val handle = call { it.addTableListener(tables.toList(), listener) }
            awaitClose {
                handle.cancel()
                handle.close()
            }
        }.buffer(capacity = 64, onBufferOverflow = BufferOverflow.DROP_OLDEST)

    /** [onChange] for every table. */
    val tableChanges: Flow<Set<String>> get() = onChange()

    /**
     * The rows of [sql] now, then after every commit changing a table it reads, at most once
     * per [throttle] (a burst of commits yields one result). Collecting registers the watch;
     * cancelling the collector ends it. Slow collectors see only the newest rows.
     */
    fun watch(sql: String, vararg params: Any?, throttle: Duration = 30.milliseconds): Flow<List<Row>> {
        val values = params(params)
        return callbackFlow {
            val listener =
                object : QueryListener {
                    override fun onUpdate(rows: List<FfiRow>) {
                        trySend(rows.map { it.toRow() })
                    }
                }
            val handle = call { it.watch(sql, values, throttle.inWholeMilliseconds.toULong(), listener) }
            awaitClose {
                handle.cancel()
                handle.close()
            }
        }.buffer(capacity = Channel.CONFLATED)
    }

    /**
     * Starts syncing; [connector] is called from psync threads. Only one instance may sync a
     * database file: throws [PSyncException.Sync] (naming the file) while another database,
     * in this process or another, is connected to it.
     */
    suspend fun connect(connector: BackendConnector, options: SyncOptions = SyncOptions()) =
        call { it.connect(ConnectorAdapter(connector) { native -> Database(native) }, options.toFfi()) }

    /** Stops syncing; local data stays. */
    suspend fun disconnect() = call { it.disconnect() }

    /**
     * Stops syncing and deletes synced data and queued writes (logout). [clearLocal] also
     * deletes the rows of local-only tables, as every PowerSync SDK does by default; [soft]
     * keeps downloaded buckets for a faster reconnect.
     */
    suspend fun disconnectAndClear(clearLocal: Boolean = true, soft: Boolean = false) =
        call { it.disconnectAndClear(clearLocal, soft) }

    /** Asks the service for a checkpoint covering everything it received; see [waitForSync]. */
    suspend fun requestCheckpoint(): CheckpointRequest = call { CheckpointRequest(it.requestCheckpoint()) }

    /**
     * Waits until a complete sync happened, or everything at [priority] or higher synced;
     * throws [PSyncException.Timeout] after [timeout] (`null` = no limit).
     */
    suspend fun waitForFirstSync(priority: Int? = null, timeout: Duration? = null) =
        call { it.waitForFirstSync(priority, timeout?.toJavaDuration()) }

    /** The sync stream [name] with [parameters] (a JSON object); [SyncStream.subscribe] syncs it. */
    fun syncStream(name: String, parameters: Map<String, Any?>? = null): SyncStream =
        call { SyncStream(it.syncStream(name, parameters?.let(::toJson)), name, parameters) }

    /** The current sync status. */
    val currentStatus: SyncStatus get() = call { it.currentStatus().toPublic() }

    /**
     * The current status, then every change. Collecting registers a listener; cancelling
     * the collector cancels and destroys it. Slow collectors see only the newest status.
     */
    val status: Flow<SyncStatus>
        get() =
            callbackFlow {
                val listener =
                    object : StatusListener {
                        override fun onStatus(status: FfiSyncStatus) {
                            trySend(status.toPublic())
                        }
                    }
                val handle = call { it.addStatusListener(listener) }
                awaitClose {
                    handle.cancel()
                    handle.close()
                }
            }.buffer(capacity = Channel.CONFLATED)

    /** `true` once [close] was called. */
    val isClosed: Boolean get() = closed.get()

    /** Closes the database and frees the native object. Idempotent. */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        try {
            translated { inner.closeDatabase() }
        } finally {
            inner.close()
        }
    }
}

/**
 * Closes every open database and stops psync's threads when the JVM exits, while JNA can
 * still call into it: a connected database left open must not let a psync thread call a
 * connector or listener in a JVM that is going away (bindings/src/shutdown.rs).
 */
private object ExitHook {
    init {
        Runtime.getRuntime().addShutdownHook(Thread(::shutdownNative, "psync-shutdown"))
    }

    /** Registers the hook once, on first use. */
    fun install() = Unit
}

/** Queued local writes, oldest first. Call [complete] once they are uploaded. */
class CrudBatch internal constructor(
    /** The writes. */
    val entries: List<CrudEntry>,
    /** More writes are queued after these. */
    val hasMore: Boolean,
    private val completeFn: suspend (Long?) -> Unit,
    private val native: AutoCloseable,
) : AutoCloseable {
    /** Removes these writes from the queue; [writeCheckpoint] comes from the backend. */
    suspend fun complete(writeCheckpoint: Long? = null) = translated { completeFn(writeCheckpoint) }

    /** Frees the native batch. */
    override fun close() = native.close()
}
