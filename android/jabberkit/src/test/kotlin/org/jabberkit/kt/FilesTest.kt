package org.jabberkit.kt

import java.io.File
import kotlin.random.Random
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.jabberkit.ConnectionState
import org.jabberkit.DeliveryState
import org.jabberkit.JabberKitException
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class FilesTest : LiveServerTest() {
    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    @Test
    fun `a file is uploaded, and Bob receives its link with its name`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val aliceEvents = scope.record(alice.messages)
        val bobEvents = scope.record(bob.messages)
        online(alice)
        online(bob)
        val file = File(newStoreDir(), "holiday-photo.jpg").apply { writeBytes(Random.nextBytes(200 * 1024)) }

        val sent = alice.sendFile(bob.jid, file.path)

        assertTrue(sent.outgoing)
        assertEquals(bob.jid, sent.conversation)
        assertEquals(DeliveryState.QUEUED, sent.state)
        val queued = assertNotNull(sent.attachment, "the sent message's attachment")
        assertEquals("holiday-photo.jpg", queued.name)
        assertEquals(file.length().toULong(), queued.size)
        assertNull(queued.url, "no link before the upload")
        assertEquals(file.path, queued.localPath)

        val updated = aliceEvents.awaitValue("the uploaded message") {
            it is MessageEvent.Updated && it.message.id == sent.id
        } as MessageEvent.Updated
        val url = assertNotNull(updated.message.attachment?.url, "the link after the upload")
        assertTrue(url.startsWith("https://"), url)
        assertEquals(url, updated.message.body)
        val transfers = aliceEvents.values.filterIsInstance<MessageEvent.Transfer>().filter { it.id == sent.id }
        assertTrue(transfers.isNotEmpty(), "transfer progress before the link")
        assertTrue(transfers.all { it.conversation == bob.jid && it.done <= (it.total ?: Long.MAX_VALUE) }, "$transfers")

        aliceEvents.awaitValue("the receipt") {
            it == MessageEvent.StateChanged(sent.id, bob.jid, DeliveryState.DELIVERED)
        }
        val received = bobEvents.awaitValue("the file at Bob") {
            it is MessageEvent.New && !it.message.outgoing && it.message.attachment != null
        } as MessageEvent.New
        val theirs = assertNotNull(received.message.attachment)
        assertEquals(url, theirs.url)
        assertEquals("holiday-photo.jpg", theirs.name)
        assertEquals(alice.jid, received.message.sender)

        // Bob downloads it: the same bytes, at the path the updated message names.
        val inbox = newStoreDir()
        bob.download(received.message.id, inbox.path)
        val done = bobEvents.awaitValue("Bob's download") {
            it is MessageEvent.Updated && it.message.id == received.message.id
        } as MessageEvent.Updated
        val local = assertNotNull(done.message.attachment?.localPath, "the downloaded file")
        assertEquals(File(inbox, "holiday-photo.jpg").path, local)
        assertTrue(file.readBytes().contentEquals(File(local).readBytes()), "the bytes differ")
    }

    @Test
    fun `a file that does not exist is a JabberKitException InvalidInput`() = runBlocking<Unit> {
        val kit = open(server.config(server.newAccount("alice"), newStoreDir()))
        val missing = File(newStoreDir(), "no-such-file.txt")
        assertThrows<JabberKitException.InvalidInput> { kit.sendFile("bob@example.test", missing.path) }
        assertEquals(emptyList(), kit.history("bob@example.test"))
    }
}
