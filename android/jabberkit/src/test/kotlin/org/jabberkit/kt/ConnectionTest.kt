package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.jabberkit.ConnectionState
import org.jabberkit.DeliveryState
import org.jabberkit.FailureReason
import org.jabberkit.SignUpException
import org.jabberkit.TlsMode
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class ConnectionTest : LiveServerTest() {
    @Test
    fun `signs in over STARTTLS and over direct TLS`() = runBlocking<Unit> {
        val jid = server.newAccount("alice")
        for (tls in TlsMode.entries) {
            val kit = open(server.config(jid, newStoreDir(), tls = tls))
            assertEquals(jid, kit.jid)
            assertEquals(ConnectionState.Disconnected, kit.connectionState.value, "before connect()")
            kit.connect()
            val online = kit.connectionState.await("Online over $tls") { it is ConnectionState.Online }
            assertEquals(ConnectionState.Online(resumed = false), online)
            kit.disconnect()
            kit.connectionState.await("Disconnected after disconnect()") { it == ConnectionState.Disconnected }
        }
    }

    @Test
    fun `signs up a new account that then signs in, and a taken name is refused`() = runBlocking<Unit> {
        val jid = "ktcarol@${server.domain}"
        JabberKit.signUp(server.config(jid, newStoreDir()))
        val kit = open(server.config(jid, newStoreDir()))
        kit.connect()
        kit.connectionState.await("online with the new account") { it is ConnectionState.Online }
        kit.disconnect()
        assertThrows<SignUpException.UsernameTaken> {
            JabberKit.signUp(server.config(jid, newStoreDir(), password = "another"))
        }
    }

    @Test
    fun `a wrong password ends in Failed(Authentication) and is not retried`() = runBlocking<Unit> {
        val jid = server.newAccount("mallory")
        val kit = open(server.config(jid, newStoreDir(), password = "not-the-password"))
        val states = scope.record(kit.connectionStateChanges)
        kit.connect()
        val failed = kit.connectionState.await("Failed") { it is ConnectionState.Failed || it is ConnectionState.Online }
        assertIs<ConnectionState.Failed>(failed)
        assertIs<FailureReason.Authentication>(failed.reason)
        assertTrue(
            states.values.none { it is ConnectionState.Reconnecting },
            "a wrong password must not be retried: ${states.values}",
        )
    }

    @Test
    fun `after a reset link the state goes online, suspended, then online resumed`() = runBlocking<Unit> {
        val proxy = faultProxy()
        val jid = server.newAccount("carol")
        val kit = open(server.config(jid, newStoreDir(), server = proxy.addr))
        val states = scope.record(kit.connectionStateChanges)
        kit.connect()
        states.awaitValue("Online") { it is ConnectionState.Online }
        val before = states.values.size

        proxy.command("reset")

        val after = states.await("Online(resumed = true) after the reset") { values ->
            values.drop(before).any { it == ConnectionState.Online(resumed = true) }
        }.drop(before)
        val path = after.takeWhile { it !is ConnectionState.Online }
        assertEquals(ConnectionState.Suspended, path.firstOrNull(), "first state after the reset: $after")
        assertTrue(
            path.all { it is ConnectionState.Suspended || it is ConnectionState.Reconnecting },
            "only Suspended/Reconnecting on the way back: $after",
        )
        assertEquals(ConnectionState.Online(resumed = true), after[path.size])
        assertEquals(ConnectionState.Online(resumed = true), kit.connectionState.value)

        // The resumed stream carries messages.
        val events = scope.record(kit.messages)
        val dave = server.newAccount("dave")
        val id = kit.send(dave, "after the reset")
        events.awaitValue("$id acked") { it == MessageEvent.StateChanged(id, dave, DeliveryState.ACKED) }
    }
}
