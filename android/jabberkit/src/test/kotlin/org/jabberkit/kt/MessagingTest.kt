package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.jabberkit.ConnectionState
import org.jabberkit.DeliveryState
import org.jabberkit.JabberKitException
import org.jabberkit.Message
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class MessagingTest : LiveServerTest() {
    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    @Test
    fun `two clients exchange messages, with delivery receipts`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val aliceEvents = scope.record(alice.messages)
        val bobEvents = scope.record(bob.messages)
        online(alice)
        online(bob)

        val id = alice.send(bob.jid, "hello Bob ✓")

        val queued = aliceEvents.awaitValue("the queued message") { it is MessageEvent.New }
        val outgoing = (queued as MessageEvent.New).message
        assertEquals(id, outgoing.id)
        assertTrue(outgoing.outgoing)
        assertEquals(bob.jid, outgoing.conversation)
        assertEquals(DeliveryState.QUEUED, outgoing.state)

        val received = bobEvents.awaitValue("Alice's message at Bob") { it is MessageEvent.New }
        val incoming = (received as MessageEvent.New).message
        assertEquals("hello Bob ✓", incoming.body)
        assertEquals(alice.jid, incoming.sender)
        assertEquals(alice.jid, incoming.conversation)
        assertFalse(incoming.outgoing)
        assertEquals(DeliveryState.RECEIVED, incoming.state)

        aliceEvents.awaitValue("the receipt") { it == MessageEvent.StateChanged(id, bob.jid, DeliveryState.DELIVERED) }
        val progress = aliceEvents.values.filterIsInstance<MessageEvent.StateChanged>().filter { it.id == id }.map { it.state }
        assertEquals(progress.sorted(), progress, "states in order")
        assertEquals(listOf(DeliveryState.DELIVERED), alice.history(bob.jid).map { it.state })

        // And back.
        val reply = bob.send(alice.jid, "hi Alice")
        val back = aliceEvents.awaitValue("Bob's reply") { it is MessageEvent.New && !it.message.outgoing }
        assertEquals("hi Alice", (back as MessageEvent.New).message.body)
        bobEvents.awaitValue("the reply's receipt") { it == MessageEvent.StateChanged(reply, alice.jid, DeliveryState.DELIVERED) }

        val conversations = alice.conversations()
        assertEquals(listOf(bob.jid), conversations.map { it.peer })
        assertEquals("hi Alice", conversations.single().lastMessage.body)
        assertEquals(1u, conversations.single().unread)
        assertEquals(1, alice.markRead(bob.jid))
        assertEquals(0u, alice.conversations().single().unread)
        val hits = alice.search("ALI")
        assertEquals(listOf("hi Alice"), hits.map { it.message.body })
        assertTrue(hits.single().snippet.contains("[Alice]"), hits.single().snippet)

        // alice read it: bob sees his reply read (chat marker).
        bobEvents.awaitValue("the reply read") { it == MessageEvent.StateChanged(reply, alice.jid, DeliveryState.READ) }
        assertEquals(DeliveryState.READ, bob.history(alice.jid).last().state)
    }

    @Test
    fun `the last message is corrected at the peer, and older ones cannot be`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val bobEvents = scope.record(bob.messages)
        online(alice)
        online(bob)
        alice.setForeground(false) // returns at once; the server holds presence, not messages

        val first = alice.send(bob.jid, "lunch at noon")
        val last = alice.send(bob.jid, "see you tere")
        val arrived = bobEvents.awaitValue("the typo at Bob") {
            it is MessageEvent.New && it.message.body == "see you tere"
        } as MessageEvent.New

        assertThrows<JabberKitException.InvalidInput> { alice.correct(first, "lunch at one") }
        val fixed = alice.correct(last, "see you there")
        assertEquals("see you there", fixed.body)
        assertTrue(fixed.corrected)

        val corrected = bobEvents.awaitValue("the correction at Bob") { it is MessageEvent.Corrected } as MessageEvent.Corrected
        assertEquals(arrived.message.id, corrected.message.id)
        assertEquals("see you there", corrected.message.body)
        assertTrue(corrected.message.corrected)
        assertEquals(listOf("lunch at noon", "see you there"), bob.history(alice.jid).map { it.body })
        alice.setForeground(true)
    }

    @Test
    fun `history survives re-creating the client on the same store`() = runBlocking<Unit> {
        val aliceJid = server.newAccount("alice")
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val bobEvents = scope.record(bob.messages)
        online(bob)
        val store = newStoreDir()

        val first = open(server.config(aliceJid, store))
        val firstEvents = scope.record(first.messages)
        online(first)
        val ids = listOf("one", "two", "three").map { first.send(bob.jid, it) }
        for (id in ids) {
            firstEvents.awaitValue("$id delivered") { it == MessageEvent.StateChanged(id, bob.jid, DeliveryState.DELIVERED) }
        }
        bob.send(aliceJid, "four")
        firstEvents.awaitValue("Bob's message") { it is MessageEvent.New && it.message.body == "four" }
        first.close()

        val again = open(server.config(aliceJid, store))
        val history: List<Message> = again.history(bob.jid)
        assertEquals(listOf("one", "two", "three", "four"), history.map { it.body })
        assertEquals(ids, history.take(3).map { it.id })
        assertEquals(
            listOf(DeliveryState.DELIVERED, DeliveryState.DELIVERED, DeliveryState.DELIVERED, DeliveryState.RECEIVED),
            history.map { it.state },
        )
        // Paging: older than "three", at most two.
        assertEquals(listOf("one", "two"), again.history(bob.jid, before = ids[2], limit = 2).map { it.body })
        assertEquals(listOf(bob.jid), again.conversations().map { it.peer })
        // Bob's store holds the same conversation, each message once.
        bobEvents.await("three messages at Bob") { events -> events.count { it is MessageEvent.New && !it.message.outgoing } >= 3 }
        assertEquals(listOf("one", "two", "three", "four"), bob.history(aliceJid).map { it.body })
    }

    @Test
    fun `bad input is a JabberKitException InvalidInput`() = runBlocking<Unit> {
        val kit = open(server.config(server.newAccount("alice"), newStoreDir()))
        assertThrows<JabberKitException.InvalidInput> { kit.send("not a jid@@", "hi") }
        assertThrows<JabberKitException.InvalidInput> { kit.send("bob@example.test", "") }
        assertThrows<JabberKitException.InvalidInput> { JabberKit(server.config("no-user-part", newStoreDir())) }
        val error = assertThrows<JabberKitException.InvalidInput> { JabberKit(server.config("a@example.test", newStoreDir(), password = "")) }
        // No password in a printed config (a log line, a crash report).
        val printed = server.config("a@example.test", newStoreDir(), password = "hunter2-secret").toString()
        assertFalse("hunter2" in printed, printed)
        assertTrue(error.reason.contains("password"), error.reason)
        // A network's DNS servers are addresses; the servers in use stay otherwise.
        assertThrows<JabberKitException.InvalidInput> { kit.setDnsServers(listOf("192.0.2.53", "dns.example")) }
        kit.setDnsServers(listOf("192.0.2.53", "[2001:db8::53]:5353"))
        // Offline sends are stored and queued.
        val id = kit.send("bob@example.test", "later")
        assertEquals(listOf(id to DeliveryState.QUEUED), kit.history("bob@example.test").map { it.id to it.state })
        assertThrows<JabberKitException.InvalidInput> { kit.retry(id) }
    }
}
