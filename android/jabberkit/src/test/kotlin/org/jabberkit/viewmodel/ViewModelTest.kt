package org.jabberkit.viewmodel

import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.jabberkit.ConnectionState
import org.jabberkit.DeliveryState
import org.jabberkit.kt.JabberKit
import org.jabberkit.kt.LiveServerTest
import org.jabberkit.kt.TestServer
import org.jabberkit.kt.await
import org.junit.jupiter.api.Test

class ViewModelTest : LiveServerTest() {
    /** A sign-in screen whose accounts use this test's server. */
    private fun signInScreen() = SignInViewModel(scope) { jid, password, address ->
        val store = newStoreDir()
        val config = this.server.config(jid, store, password = password)
        if (address == null) config else config.copy(server = address)
    }

    private suspend fun signIn(jid: String, password: String = TestServer.PASSWORD): JabberKit {
        val screen = signInScreen()
        screen.jid.value = " $jid "
        screen.password.value = password
        screen.server.value = "127.0.0.1:${server.starttlsPort}"
        screen.signIn()
        val done = screen.state.await("signed in") { it is SignInState.SignedIn || it is SignInState.Failed }
        assertIs<SignInState.SignedIn>(done, "sign-in of $jid")
        return closeLater(done.kit)
    }

    @Test
    fun `signing in gets online, and the banner disappears`() = runBlocking<Unit> {
        val kit = signIn(server.newAccount("alice"))
        assertIs<ConnectionState.Online>(kit.connectionState.value)
        val banner = ConnectionBannerViewModel(kit, scope)
        assertNull(banner.banner.value)

        kit.disconnect()
        banner.banner.await("the offline banner") { it == "Offline" }
    }

    @Test
    fun `a wrong password fails the sign-in with a message`() = runBlocking<Unit> {
        val screen = signInScreen()
        screen.jid.value = server.newAccount("mallory")
        screen.password.value = "wrong"
        screen.server.value = "127.0.0.1:${server.starttlsPort}"
        screen.signIn()
        val failed = screen.state.await("the failure") { it is SignInState.Failed || it is SignInState.SignedIn }
        assertIs<SignInState.Failed>(failed)
        assertTrue("password" in failed.message, failed.message)

        // An unusable JID fails before any connection.
        screen.jid.value = "no-user-part"
        screen.signIn()
        val invalid = screen.state.await("the invalid JID") { it is SignInState.Failed && it != failed }
        assertIs<SignInState.Failed>(invalid)
    }

    @Test
    fun `the chat shows sent and received messages, and the list follows`() = runBlocking<Unit> {
        val alice = signIn(server.newAccount("alice"))
        val bob = signIn(server.newAccount("bob"))
        val chat = ChatViewModel(alice, bob.jid, scope)
        val list = ConversationListViewModel(alice, scope)

        chat.send("  hello Bob  ")
        chat.messages.await("the sent message, delivered") { shown ->
            shown.singleOrNull()?.let { it.body == "hello Bob" && it.state == DeliveryState.DELIVERED } == true
        }

        bob.send(alice.jid, "hello Alice")
        val shown = chat.messages.await("the reply") { it.size == 2 }
        assertEquals(listOf("hello Bob" to true, "hello Alice" to false), shown.map { it.body to it.outgoing })
        assertEquals(DeliveryState.RECEIVED, shown.last().state)

        val conversations = list.conversations.await("the conversation list") { it.firstOrNull()?.lastMessage?.body == "hello Alice" }
        assertEquals(listOf(bob.jid), conversations.map { it.peer })

        // Blank input is not sent.
        chat.send("   ").join()
        assertEquals(2, alice.history(bob.jid).size)
        assertNull(chat.error.value)
    }
}
