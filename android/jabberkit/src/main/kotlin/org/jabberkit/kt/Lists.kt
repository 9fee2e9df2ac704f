package org.jabberkit.kt

import java.util.concurrent.atomic.AtomicReference
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.flow
import org.jabberkit.Client
import org.jabberkit.Conversation
import org.jabberkit.ConversationListDiff
import org.jabberkit.JabberKitException
import org.jabberkit.Message
import org.jabberkit.Occupant
import org.jabberkit.OccupantListDiff
import org.jabberkit.TimelineDiff
import org.jabberkit.TimelineHandle
import org.jabberkit.TimelineListener

/**
 * One conversation's messages, oldest first, kept by the core (see [JabberKit.timeline]).
 *
 * Collecting [messages] or [diffs] starts following the conversation; [paginateBack] loads older
 * messages into the collection that is running (one at a time: the latest one started).
 */
class Timeline internal constructor(private val client: Client, val with: String, private val page: Int) {
    private val handle = AtomicReference<TimelineHandle?>(null)

    /** The changes, in batches: the first holds a [TimelineDiff.Reset] with the newest page. */
    val diffs: Flow<List<TimelineDiff>> = callbackFlow {
        val listener = object : TimelineListener {
            override fun onDiffs(diffs: List<TimelineDiff>) {
                trySend(diffs)
            }
        }
        val opened = client.observeTimeline(with, page.toUInt(), listener)
        handle.set(opened)
        awaitClose {
            handle.compareAndSet(opened, null)
            opened.close()
        }
    }.buffer(Channel.UNLIMITED)

    /** The messages as shown, re-emitted after each batch of changes. */
    val messages: Flow<List<Message>> = diffs.applied(TimelineDiff::applyTo)

    /**
     * Loads up to [count] older messages; they are in [messages] when this returns. Returns
     * whether still older ones exist.
     *
     * @throws IllegalStateException when nothing collects [messages] or [diffs].
     * @throws JabberKitException.Storage if the store cannot be read.
     */
    suspend fun paginateBack(count: Int = page): Boolean {
        require(count > 0) { "count must be positive, got $count" }
        val current = handle.get() ?: throw IllegalStateException("collect messages or diffs first")
        return current.paginateBack(count.toUInt())
    }
}

/** Applies this change to [items], as a UI list would. */
fun ConversationListDiff.applyTo(items: MutableList<Conversation>) {
    when (this) {
        is ConversationListDiff.Reset -> {
            items.clear()
            items.addAll(this.items)
        }
        is ConversationListDiff.Insert -> items.add(index.toInt(), item)
        is ConversationListDiff.Set -> items[index.toInt()] = item
        is ConversationListDiff.Remove -> items.removeAt(index.toInt())
    }
}

/** Applies this change to [items], as a UI list would. */
fun TimelineDiff.applyTo(items: MutableList<Message>) {
    when (this) {
        is TimelineDiff.Reset -> {
            items.clear()
            items.addAll(this.items)
        }
        is TimelineDiff.Insert -> items.add(index.toInt(), item)
        is TimelineDiff.Set -> items[index.toInt()] = item
        is TimelineDiff.Remove -> items.removeAt(index.toInt())
    }
}

/** Applies this change to [items], as a UI list would. */
fun OccupantListDiff.applyTo(items: MutableList<Occupant>) {
    when (this) {
        is OccupantListDiff.Reset -> {
            items.clear()
            items.addAll(this.items)
        }
        is OccupantListDiff.Insert -> items.add(index.toInt(), item)
        is OccupantListDiff.Set -> items[index.toInt()] = item
        is OccupantListDiff.Remove -> items.removeAt(index.toInt())
    }
}

/** The list after each batch of diffs, as an immutable snapshot. */
internal fun <D, T> Flow<List<D>>.applied(apply: D.(MutableList<T>) -> Unit): Flow<List<T>> = flow {
    val items = mutableListOf<T>()
    collect { batch ->
        batch.forEach { it.apply(items) }
        emit(items.toList())
    }
}
