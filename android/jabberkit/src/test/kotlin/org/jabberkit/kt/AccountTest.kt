package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.jabberkit.AccountException
import org.jabberkit.ConnectionState
import org.jabberkit.FailureReason
import org.jabberkit.Password
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * The account on its server (XEP-0077): a new password is what later logins use and the old one
 * is refused; a removed account ends the session and can no longer log in.
 */
class AccountTest : LiveServerTest() {
    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    /** A new client for [jid] with [password] on a fresh store: where its login ends. */
    private suspend fun loginEnd(jid: String, password: String): ConnectionState {
        val kit = open(server.config(jid, newStoreDir(), password = password))
        kit.connect()
        return kit.connectionState.await("$jid online or failed with \"$password\"") {
            it is ConnectionState.Online || it is ConnectionState.Failed
        }
    }

    @Test
    fun `a new password is what later logins use, the old one is refused`() = runBlocking<Unit> {
        val jid = server.newAccount("alice")
        val alice = open(server.config(jid, newStoreDir()))
        assertThrows<AccountException.NotConnected> { alice.changePassword(Password("new pw 2")) }
        online(alice)
        assertThrows<AccountException.InvalidInput> { alice.changePassword(Password("")) }
        alice.changePassword(Password("new pw 2"))
        alice.disconnect()

        val old = loginEnd(jid, TestServer.PASSWORD)
        assertIs<ConnectionState.Failed>(old, "the old password")
        assertIs<FailureReason.Authentication>(old.reason)
        assertIs<ConnectionState.Online>(loginEnd(jid, "new pw 2"), "the new password")
    }

    @Test
    fun `a removed account ends the session and can no longer log in`() = runBlocking<Unit> {
        val jid = server.newAccount("alice")
        val alice = open(server.config(jid, newStoreDir()))
        online(alice)
        alice.deleteAccount()
        alice.connectionState.await("${alice.jid} disconnected") { it == ConnectionState.Disconnected }
        // Not reconnecting: the state stays.
        delay(2_000)
        assertEquals(ConnectionState.Disconnected, alice.connectionState.value)

        val again = loginEnd(jid, TestServer.PASSWORD)
        assertIs<ConnectionState.Failed>(again, "the removed account")
        assertIs<FailureReason.Authentication>(again.reason)
    }
}
