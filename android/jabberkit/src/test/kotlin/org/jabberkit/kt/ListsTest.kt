package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.jabberkit.ConnectionState
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.fail

/**
 * The conversation list and a timeline, kept by the core: a UI that only applies their diffs
 * must show exactly what the store holds, after a burst, a correction, paging, time offline and
 * a restart.
 */
class ListsTest : LiveServerTest() {
    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    /** What a UI shows: the latest list the flow produced. */
    private fun <T> CoroutineScope.shown(flow: Flow<List<T>>): StateFlow<List<T>> =
        flow.stateIn(this, SharingStarted.Eagerly, emptyList())

    /** Waits until [shown] equals what [store] reads (reading again every 50 ms), and has [size] items if given. */
    private suspend fun <T> awaitStore(
        what: String,
        shown: StateFlow<List<T>>,
        size: Int? = null,
        store: suspend () -> List<T>,
    ) {
        var last: Any? = "nothing"
        val matched = withTimeoutOrNull(TIMEOUT_MS) {
            while (true) {
                val expected = store()
                last = "shown ${shown.value.size}: ${shown.value}\nstore ${expected.size}: $expected"
                if (shown.value == expected && (size == null || expected.size == size)) break
                delay(50)
            }
            true
        }
        if (matched == null) fail("$what: the UI never matched the store\n$last")
    }

    @Test
    fun `a UI applying diffs shows the store after a burst, a correction, paging, time offline and a restart`() =
        runBlocking<Unit> {
            val aliceJid = server.newAccount("alice")
            val bobJid = server.newAccount("bob")
            val aliceConfig = server.config(aliceJid, newStoreDir())
            val alice = open(aliceConfig)
            val bob = open(server.config(bobJid, newStoreDir()))
            online(alice)
            online(bob)
            for (i in 1..3) bob.send(aliceJid, "before $i")
            val arrived = withTimeoutOrNull(TIMEOUT_MS) {
                while (alice.history(bobJid).size < 3) delay(50)
            }
            assertTrue(arrived != null, "Bob's first three messages never reached alice")

            val list = scope.shown(alice.conversationList())
            val timeline = alice.timeline(bobJid, page = 2)
            val messages = scope.shown(timeline.messages)
            awaitStore("the list at first", list) { alice.conversations() }
            awaitStore("the first page", messages, 2) { alice.history(bobJid, limit = 2) }

            // A burst from Bob, and a message of ours, corrected.
            for (i in 1..30) bob.send(aliceJid, "burst $i")
            val ours = alice.send(bobJid, "see you at 9")
            alice.correct(ours, "see you at 10")
            awaitStore("after the burst", messages, 2 + 31) { alice.history(bobJid, limit = 2 + 31) }
            awaitStore("the list after the burst", list) { alice.conversations() }
            assertTrue(messages.value.any { it.id == ours && it.body == "see you at 10" && it.corrected })

            // The one older message, then nothing more.
            assertFalse(timeline.paginateBack(5), "only one older message")
            awaitStore("after paging", messages, 3 + 31) { alice.history(bobJid, limit = 3 + 31) }

            // Time offline: what Bob wrote meanwhile arrives when alice is back.
            alice.disconnect()
            for (i in 1..10) bob.send(aliceJid, "while away $i")
            online(alice)
            awaitStore("after coming back", messages, 3 + 31 + 10) { alice.history(bobJid, limit = 3 + 31 + 10) }
            alice.markRead(bobJid)
            awaitStore("the list after reading", list) { alice.conversations() }
            assertEquals(0u, list.value.single().unread)

            // A restart: new lists start from the store.
            alice.disconnect()
            alice.close()
            val again = open(aliceConfig)
            assertEquals(again.conversations(), again.conversationList().first())
            assertEquals(again.history(bobJid, limit = 60), again.timeline(bobJid, page = 60).messages.first())
        }
}
