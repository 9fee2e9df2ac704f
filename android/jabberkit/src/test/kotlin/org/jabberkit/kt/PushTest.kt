package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.jabberkit.ConnectionState
import org.jabberkit.JabberKitException
import org.jabberkit.Password
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * Push notifications (XEP-0357) against Prosody's `cloud_notify` and the test app server at
 * `push.DOMAIN`, which writes down every notification it gets (`TestServer.pushNotifications`).
 */
class PushTest : LiveServerTest() {
    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    @Test
    fun `a disconnected account is pushed the message, with the node and the secret`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val pushEvents = scope.record(alice.pushEvents)
        online(alice)
        online(bob)

        alice.enablePush(server.pushService, "n1", Password("s3cret"))
        val enabled = pushEvents.awaitValue("the server's answer") { it.node == "n1" }
        assertEquals(PushEvent(server.pushService, "n1", enabled = true, refused = null), enabled)

        alice.disconnect()
        alice.connectionState.await("${alice.jid} disconnected") { it is ConnectionState.Disconnected }
        bob.send(alice.jid, "ping")

        // Prosody pushes at once for a message to an account with no session.
        val pushed = polling { server.pushNotifications() }
            .await("a notification of \"ping\"", timeoutMs = 20_000) { all -> all.any { it.body == "ping" } }
            .first { it.body == "ping" }
        assertEquals("n1", pushed.node)
        assertEquals("s3cret", pushed.secret)
        assertEquals(server.domain, pushed.from, "our server publishes, not the account")
        assertTrue(pushed.sender?.startsWith(bob.jid) == true, "the sender: $pushed")
        assertTrue(!pushed.error, "$pushed")
    }

    @Test
    fun `a push service that is not a JID is a JabberKitException InvalidInput`() = runBlocking<Unit> {
        val kit = open(server.config(server.newAccount("alice"), newStoreDir()))
        assertThrows<JabberKitException.InvalidInput> { kit.enablePush("not a jid@@", "n1") }
        assertThrows<JabberKitException.InvalidInput> { kit.enablePush(server.pushService, " ") }
    }
}
