// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.SyncException as FfiSyncException
import dev.psync.internal.SyncStream as FfiSyncStream
import dev.psync.internal.SyncStreamStatus as FfiSyncStreamStatus
import dev.psync.internal.SyncStreamSubscription as FfiSyncStreamSubscription
import kotlin.time.Duration
import kotlin.time.toJavaDuration

/**
 * A stream with parameters, from [Database.syncStream]. [subscribe] makes it sync; the same
 * stream may be subscribed with different parameters.
 */
class SyncStream internal constructor(private val inner: FfiSyncStream, val name: String, val parameters: Map<String, Any?>?) :
    AutoCloseable {
    /**
     * Subscribes; a running connection reconnects with the new subscription list. [ttl]: how
     * long the subscription outlives its last handle (whole seconds, default one day);
     * [priority] overrides the stream's priority (0 = highest). Keep the returned handle while
     * you need the data.
     */
    suspend fun subscribe(ttl: Duration? = null, priority: Int? = null): SyncStreamSubscription =
        suspendTranslated { SyncStreamSubscription(this, inner.subscribe(ttl?.toJavaDuration(), priority)) }

    /** Removes the subscription now, whatever handles exist. */
    suspend fun unsubscribeAll() = suspendTranslated { inner.unsubscribeAll() }

    /** This stream's entry in the current status, `null` when not subscribed. */
    val status: SyncStreamStatus? get() = translated { inner.status()?.toPublic() }

    /** Frees the native object. */
    override fun close() = inner.close()

    override fun toString(): String = "SyncStream($name, $parameters)"
}

/**
 * A held subscription. [unsubscribe] (or [close]) stops holding the stream: it keeps syncing
 * until its TTL runs out, unless subscribed again.
 */
class SyncStreamSubscription internal constructor(val stream: SyncStream, private val inner: FfiSyncStreamSubscription) :
    AutoCloseable {
    /**
     * Waits until the stream's data synced once; throws [PSyncException.Timeout] after
     * [timeout] (`null` = no limit). Cancelling the coroutine drops the wait.
     */
    suspend fun waitForFirstSync(timeout: Duration? = null) = suspendTranslated { inner.waitForFirstSync(timeout?.toJavaDuration()) }

    /** Stops holding the stream. Idempotent. */
    fun unsubscribe() = translated { inner.unsubscribe() }

    /** [unsubscribe] and free the native object. */
    override fun close() {
        unsubscribe()
        inner.close()
    }
}

/** [translated] for suspending calls (the inline helper cannot wrap a suspend lambda's body). */
internal suspend fun <T> suspendTranslated(block: suspend () -> T): T =
    try {
        block()
    } catch (e: FfiSyncException) {
        throw e.toPublic()
    }

internal fun FfiSyncStreamStatus.toPublic() =
    SyncStreamStatus(
        name = name,
        parametersJson = parametersJson,
        active = active,
        isDefault = isDefault,
        hasExplicitSubscription = hasExplicitSubscription,
        expiresAt = instantOf(expiresAt),
        lastSyncedAt = instantOf(lastSyncedAt),
        priority = priority,
        progress = DownloadProgress(downloadedOperations, totalOperations),
    )

/**
 * JSON text of a parameter or option value (object keys sorted, no spaces), as the native side
 * reads it.
 */
internal fun toJson(value: Any?): String = StringBuilder().also { writeJson(it, value) }.toString()

private fun writeJson(out: StringBuilder, value: Any?) {
    when (value) {
        null -> out.append("null")
        is Boolean, is Int, is Long, is Short, is Byte -> out.append(value.toString())
        is Double, is Float -> {
            val d = (value as Number).toDouble()
            if (!d.isFinite()) throw PSyncException.InvalidArgument("JSON has no ${d}")
            out.append(d.toString())
        }
        is String -> writeString(out, value)
        is Map<*, *> -> {
            out.append('{')
            value.entries.map { (k, v) -> (k as? String ?: throw PSyncException.InvalidArgument("JSON object keys must be strings")) to v }
                .sortedBy { it.first }
                .forEachIndexed { i, (k, v) ->
                    if (i > 0) out.append(',')
                    writeString(out, k)
                    out.append(':')
                    writeJson(out, v)
                }
            out.append('}')
        }
        is Iterable<*> -> {
            out.append('[')
            value.forEachIndexed { i, v ->
                if (i > 0) out.append(',')
                writeJson(out, v)
            }
            out.append(']')
        }
        else -> throw PSyncException.InvalidArgument("cannot send a ${value::class.simpleName} as JSON")
    }
}

private fun writeString(out: StringBuilder, text: String) {
    out.append('"')
    for (c in text) {
        when {
            c == '"' -> out.append("\\\"")
            c == '\\' -> out.append("\\\\")
            c == '\n' -> out.append("\\n")
            c == '\r' -> out.append("\\r")
            c == '\t' -> out.append("\\t")
            c == '\b' -> out.append("\\b")
            c == '\u000C' -> out.append("\\f")
            c < ' ' -> out.append(String.format("\\u%04x", c.code))
            else -> out.append(c)
        }
    }
    out.append('"')
}
