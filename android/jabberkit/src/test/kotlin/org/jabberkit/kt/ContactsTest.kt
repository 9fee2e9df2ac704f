package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.jabberkit.ConnectionState
import org.jabberkit.Show
import org.jabberkit.Subscription
import org.junit.jupiter.api.Test

class ContactsTest : LiveServerTest() {
    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    /** Waits until [kit]'s roster lists [peer] with [subscription], re-reading it on every contact event. */
    private suspend fun awaitSubscription(kit: JabberKit, events: Recording<ContactEvent>, peer: String, subscription: Subscription) {
        events.awaitRead("$peer with $subscription in ${kit.jid}'s roster", { kit.roster() }) { roster ->
            roster.find { it.jid == peer }?.subscription == subscription
        }
    }

    @Test
    fun `two clients subscribe to each other and see each other's presence`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val aliceContacts = scope.record(alice.contactEvents)
        val bobContacts = scope.record(bob.contactEvents)
        val aliceMessages = scope.record(alice.messages)
        val bobMessages = scope.record(bob.messages)
        online(alice)
        online(bob)

        // Catch-up: one per fresh session, ending complete.
        withTimeout(TIMEOUT) {
            aliceMessages.awaitValue("Alice's catch-up") { it is MessageEvent.CatchUp && it.complete }
            bobMessages.awaitValue("Bob's catch-up") { it is MessageEvent.CatchUp && it.complete }
        }

        // Both sessions are available: a message gets through.
        alice.send(bob.jid, "hello")
        withTimeout(TIMEOUT) {
            bobMessages.awaitValue("Alice's message") { it is MessageEvent.New && !it.message.outgoing }
        }

        alice.addContact(bob.jid, "Bob")
        withTimeout(TIMEOUT) {
            bobContacts.awaitValue("Alice's request at Bob") { it == ContactEvent.SubscriptionRequest(alice.jid) }
        }
        bob.approve(alice.jid)
        withTimeout(TIMEOUT) {
            aliceContacts.awaitValue("Bob's request at Alice") { it == ContactEvent.SubscriptionRequest(bob.jid) }
        }
        alice.approve(bob.jid)

        awaitSubscription(alice, aliceContacts, bob.jid, Subscription.BOTH)
        awaitSubscription(bob, bobContacts, alice.jid, Subscription.BOTH)
        val bobAtAlice = alice.roster().single { it.jid == bob.jid }
        assertEquals("Bob", bobAtAlice.name)
        assertEquals(false, bobAtAlice.pendingIn)

        bob.setPresence(Show.AWAY, "lunch")
        withTimeout(TIMEOUT) {
            aliceContacts.awaitValue("Bob away at Alice") { it == ContactEvent.Presence(bob.jid, Show.AWAY, "lunch") }
        }
        val presence = alice.presences().single { it.jid == bob.jid }
        assertEquals(Show.AWAY, presence.show)
        assertEquals("lunch", presence.status)

        // Rename and regroup: no new permission needed.
        alice.updateContact(bob.jid, "Bob B.", listOf("Work"))
        aliceContacts.awaitRead("the rename", { alice.roster() }) { roster ->
            roster.single { it.jid == bob.jid }.name == "Bob B."
        }
        val renamed = alice.roster().single { it.jid == bob.jid }
        assertEquals(listOf("Work"), renamed.groups)
        assertEquals(Subscription.BOTH, renamed.subscription)
    }

    private companion object {
        const val TIMEOUT = 30_000L
    }
}
