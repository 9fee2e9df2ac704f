package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.jabberkit.ConnectionState
import org.jabberkit.DeliveryState
import org.junit.jupiter.api.Test

/**
 * Catching up from the server's archive through the Kotlin layer: alice's phone was offline while
 * Bob wrote; alice's laptop was online and got the messages live, so the server kept none for
 * offline delivery and only the archive can give them to the phone.
 */
class CatchUpTest : LiveServerTest() {
    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    @Test
    fun `a phone that was offline catches up every message once, in order`() = runBlocking<Unit> {
        val aliceJid = server.newAccount("alice")
        val bobJid = server.newAccount("bob")
        val phoneStore = newStoreDir()
        val phoneConfig = server.config("$aliceJid/phone", phoneStore)

        // The phone logs in once (the archive is empty: its store remembers "from the start")…
        val first = open(phoneConfig)
        val firstEvents = scope.record(first.messages)
        online(first)
        firstEvents.awaitValue("the first catch-up") { it is MessageEvent.CatchUp && it.complete }
        assertEquals(listOf(MessageEvent.CatchUp(0, true)), firstEvents.values.filterIsInstance<MessageEvent.CatchUp>())
        first.disconnect()
        first.close()

        // …then Bob writes while only the laptop is online.
        val laptop = open(server.config("$aliceJid/laptop", newStoreDir()))
        val bob = open(server.config(bobJid, newStoreDir()))
        val laptopEvents = scope.record(laptop.messages)
        val bobEvents = scope.record(bob.messages)
        online(laptop)
        online(bob)
        // A barrier: the laptop's presence is processed before Bob writes.
        laptop.send(bobJid, "laptop here")
        bobEvents.awaitValue("the laptop's message at Bob") { it is MessageEvent.New && it.message.body == "laptop here" }

        val bodies = (1..COUNT).map { "while the phone was away $it" }
        val ids = bodies.map { bob.send(aliceJid, it) }
        laptopEvents.await("$COUNT messages live at the laptop") { events -> incoming(events).size >= COUNT }
        assertEquals(bodies, incoming(laptopEvents.values), "the laptop got them live, once, in order")
        bobEvents.await("$COUNT messages acked") { events ->
            val acked = events.filterIsInstance<MessageEvent.StateChanged>()
                .filter { it.state == DeliveryState.ACKED || it.state == DeliveryState.DELIVERED }
                .map { it.id }.toSet()
            acked.containsAll(ids)
        }
        laptop.disconnect()
        bob.disconnect()

        // The phone, re-created on its store, catches up from the archive.
        val phone = open(phoneConfig)
        val events = scope.record(phone.messages)
        online(phone)
        events.awaitValue("the catch-up to complete") { it is MessageEvent.CatchUp && it.complete }
        delay(SETTLE_MS) // a late duplicate would show up meanwhile
        val seen = events.values

        val progress = seen.filterIsInstance<MessageEvent.CatchUp>()
        assertEquals(1, progress.count { it.complete }, "one complete catch-up: $progress")
        assertTrue(progress.last().complete, "$progress")
        assertEquals(progress.map { it.fetched }.sorted(), progress.map { it.fetched }, "$progress")
        // Bob's messages, the laptop's message and its receipts (Prosody archives those too).
        assertTrue(progress.last().fetched >= COUNT + 1, "$progress")

        // Each message announced once, before the catch-up ended: they came from the archive.
        assertEquals(bodies, incoming(seen), "each incoming message announced once, in order")
        val complete = seen.indexOfFirst { it is MessageEvent.CatchUp && it.complete }
        val lastNew = seen.indexOfLast { it is MessageEvent.New }
        assertTrue(lastNew < complete, "a message announced after the catch-up: $seen")
        val fromLaptop = seen.filterIsInstance<MessageEvent.New>().filter { it.message.outgoing }
        assertEquals(listOf("laptop here"), fromLaptop.map { it.message.body })
        assertEquals(DeliveryState.ACKED, fromLaptop.single().message.state)
        assertTrue(fromLaptop.all { it.message.sender == aliceJid && it.message.conversation == bobJid })

        // The store holds each once, in order.
        val history = phone.history(bobJid, limit = 1000)
        assertEquals(listOf("laptop here") + bodies, history.map { it.body })
        assertEquals(listOf(true) + bodies.map { false }, history.map { it.outgoing })
        assertTrue(history.drop(1).all { it.sender == bobJid && it.state == DeliveryState.RECEIVED }, "$history")
        assertEquals(COUNT.toUInt(), phone.conversations().single { it.peer == bobJid }.unread)
        phone.disconnect()
        phone.close()

        // A fresh session later fetches nothing again and stores nothing twice.
        val again = open(phoneConfig)
        val againEvents = scope.record(again.messages)
        online(again)
        againEvents.awaitValue("the next catch-up") { it is MessageEvent.CatchUp && it.complete }
        delay(SETTLE_MS)
        assertEquals(listOf(MessageEvent.CatchUp(0, true)), againEvents.values.filterIsInstance<MessageEvent.CatchUp>())
        assertEquals(emptyList<MessageEvent.New>(), againEvents.values.filterIsInstance<MessageEvent.New>())
        assertEquals(history, again.history(bobJid, limit = 1000))
    }

    /** Bodies of the incoming messages announced, in order. */
    private fun incoming(events: List<MessageEvent>): List<String> =
        events.filterIsInstance<MessageEvent.New>().filter { !it.message.outgoing }.map { it.message.body }

    private companion object {
        const val COUNT = 30
        const val SETTLE_MS = 2_000L
    }
}
