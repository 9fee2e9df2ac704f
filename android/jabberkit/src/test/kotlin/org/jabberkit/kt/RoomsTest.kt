package org.jabberkit.kt

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.runBlocking
import org.jabberkit.ConnectionState
import org.jabberkit.DeliveryState
import org.jabberkit.JabberKitException
import org.jabberkit.Message
import org.jabberkit.Occupant
import org.jabberkit.Password
import org.jabberkit.RoomConfig
import org.jabberkit.RoomError
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * Group chat (XEP-0045) through the Kotlin layer, against the test Prosody's MUC component
 * (`conference.<domain>`): typed refusals, room messages with their nick, occupants (read, and as
 * the list the core keeps), acting on a room (invitations, the subject, kicks, bans, destroying
 * it), a taken nickname with one to try instead, corrections and mentions, and catching up with a
 * room after time away.
 */
class RoomsTest : LiveServerTest() {
    private val service get() = "conference.${server.domain}"

    private suspend fun online(kit: JabberKit) {
        kit.connect()
        kit.connectionState.await("${kit.jid} online") { it is ConnectionState.Online }
    }

    private fun RoomEvent.isOutcome(room: String) =
        this.room == room && (this is RoomEvent.Joined || this is RoomEvent.Error)

    /** Runs [action], then waits for the room's answer to it (joined or refused) and returns it. */
    private suspend fun outcome(events: Recording<RoomEvent>, room: String, action: suspend () -> Unit): RoomEvent {
        val before = events.values.size
        action()
        return events.await("an answer from $room") { all -> all.drop(before).any { it.isOutcome(room) } }
            .drop(before)
            .first { it.isOutcome(room) }
    }

    /** Alice creates [room] (persistent, no password) as `alice`; Bob joins it as `bob`. */
    private suspend fun bothIn(
        room: String,
        alice: JabberKit,
        aliceRooms: Recording<RoomEvent>,
        bob: JabberKit,
        bobRooms: Recording<RoomEvent>,
    ) {
        val created = outcome(aliceRooms, room) { alice.createRoom(room, "alice", RoomConfig(persistent = true)) }
        assertEquals(RoomEvent.Joined(room, "alice"), created)
        val joined = outcome(bobRooms, room) { bob.joinRoom(room, "bob") }
        assertEquals(RoomEvent.Joined(room, "bob"), joined)
    }

    @Test
    fun `a password room refuses a missing and a wrong password with typed errors and lets the right one in`() =
        runBlocking<Unit> {
            val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
            val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
            val aliceRooms = scope.record(alice.roomEvents)
            val bobRooms = scope.record(bob.roomEvents)
            online(alice)
            online(bob)
            val room = "secret-tea@$service"

            val config = RoomConfig(name = "Secret tea", password = Password("s3same"), persistent = true)
            assertFalse("s3same" in config.toString(), config.toString())
            assertEquals(RoomEvent.Joined(room, "alice"), outcome(aliceRooms, room) { alice.createRoom(room, "alice", config) })

            val missing = outcome(bobRooms, room) { bob.joinRoom(room, "bob") }
            assertEquals(RoomError.PasswordRequired, (missing as RoomEvent.Error).error)
            val wrong = outcome(bobRooms, room) { bob.joinRoom(room, "bob", Password("wrong")) }
            assertEquals(RoomError.WrongPassword, (wrong as RoomEvent.Error).error)
            // Refused at the door: not entered again by itself.
            assertEquals(listOf(false to false), bob.rooms().filter { it.jid == room }.map { it.joined to it.autojoin })

            val right = outcome(bobRooms, room) { bob.joinRoom(room, "bob", Password("s3same")) }
            assertEquals(RoomEvent.Joined(room, "bob"), right)
            val rooms = bob.rooms().single { it.jid == room }
            assertEquals("bob", rooms.nick)
            assertTrue(rooms.joined && rooms.autojoin, rooms.toString())
            assertTrue(alice.rooms().single { it.jid == room }.joined)

            // Bad input is refused at once, before anything is sent.
            assertThrows<JabberKitException.InvalidInput> { bob.joinRoom(service, "bob") }
            assertThrows<JabberKitException.InvalidInput> { bob.joinRoom(room, " ") }
        }

    @Test
    fun `room messages arrive with the speaker's nick and our own comes back once, delivered`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val aliceRooms = scope.record(alice.roomEvents)
        val bobRooms = scope.record(bob.roomEvents)
        val aliceEvents = scope.record(alice.messages)
        val bobEvents = scope.record(bob.messages)
        online(alice)
        online(bob)
        val room = "tea@$service"
        bothIn(room, alice, aliceRooms, bob, bobRooms)

        val hello = alice.send(room, "hello room")
        val got = (bobEvents.awaitValue("Alice's room message at Bob") {
            it is MessageEvent.New && it.message.body == "hello room"
        } as MessageEvent.New).message
        assertEquals(room, got.conversation)
        assertEquals("$room/alice", got.sender)
        assertEquals("alice", got.roomNick)
        assertFalse(got.outgoing)
        assertEquals(DeliveryState.RECEIVED, got.state)
        aliceEvents.awaitValue("hello delivered") { it == MessageEvent.StateChanged(hello, room, DeliveryState.DELIVERED) }

        // Bob's own: queued (reported once), then delivered when the room sends it back.
        val reply = bob.send(room, "hi alice")
        bobEvents.awaitValue("the reply delivered") { it == MessageEvent.StateChanged(reply, room, DeliveryState.DELIVERED) }
        val bobsOwn = bobEvents.values.filterIsInstance<MessageEvent.New>().filter { it.message.body == "hi alice" }
        assertEquals(listOf(reply), bobsOwn.map { it.message.id }, "reported once: the room's copy is not a new message")
        assertTrue(bobsOwn.single().message.outgoing)
        assertNull(bobsOwn.single().message.roomNick, "our own carry our bare JID")
        val atAlice = (aliceEvents.awaitValue("Bob's reply at Alice") {
            it is MessageEvent.New && it.message.body == "hi alice"
        } as MessageEvent.New).message
        assertEquals("bob", atAlice.roomNick)

        for ((who, kit) in listOf("alice" to alice, "bob" to bob)) {
            assertEquals(listOf("hello room", "hi alice"), kit.history(room).map { it.body }, "$who: each once")
        }
        assertEquals(listOf(DeliveryState.DELIVERED, DeliveryState.RECEIVED), alice.history(room).map { it.state })
        assertEquals(listOf(DeliveryState.RECEIVED, DeliveryState.DELIVERED), bob.history(room).map { it.state })
        assertEquals(room, bob.conversations().first().peer)

        // A private message: the occupant's own conversation, no room nick.
        alice.send("$room/bob", "just between us")
        val private = (bobEvents.awaitValue("the private message") {
            it is MessageEvent.New && it.message.body == "just between us"
        } as MessageEvent.New).message
        assertEquals("$room/alice", private.conversation)
        assertNull(private.roomNick)
        assertEquals(listOf("hello room", "hi alice"), bob.history(room).map { it.body })
    }

    @Test
    fun `occupants show roles and affiliations and follow someone leaving`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val aliceRooms = scope.record(alice.roomEvents)
        val bobRooms = scope.record(bob.roomEvents)
        online(alice)
        online(bob)
        val room = "people@$service"
        bothIn(room, alice, aliceRooms, bob, bobRooms)

        // Each sees the other, and itself with its own role. Alice, the owner and a moderator,
        // sees Bob's real JID; Bob does not see hers (Prosody's default: only moderators see
        // real JIDs).
        val atAlice = aliceRooms.awaitRead("Bob among Alice's occupants", { alice.occupants(room) }) { list ->
            list.any { it.nick == "bob" }
        }
        assertEquals(listOf(Occupant("bob", "participant", "none", bob.jid)), atAlice.filter { it.nick != "alice" })
        assertEquals(listOf("moderator" to "owner"), atAlice.filter { it.nick == "alice" }.map { it.role to it.affiliation })
        val atBob = bobRooms.awaitRead("Alice among Bob's occupants", { bob.occupants(room) }) { list ->
            list.any { it.nick == "alice" }
        }
        assertEquals(listOf(Occupant("alice", "moderator", "owner", null)), atBob.filter { it.nick != "bob" })
        assertEquals(listOf("participant" to "none"), atBob.filter { it.nick == "bob" }.map { it.role to it.affiliation })

        val before = aliceRooms.values.size
        bob.leaveRoom(room)
        assertEquals(listOf(false), bob.rooms().filter { it.jid == room }.map { it.autojoin }, "not entered again")
        // `joined` follows once the session has acted on the leave, which no event announces.
        flow {
            while (true) {
                emit(bob.rooms().single { it.jid == room }.joined)
                delay(100)
            }
        }.await("Bob out of the room") { !it }
        aliceRooms.await("Bob's leaving announced to Alice") { it.drop(before).contains(RoomEvent.OccupantsChanged(room)) }
        aliceRooms.awaitRead("Bob gone from Alice's occupants", { alice.occupants(room) }) { list -> list.none { it.nick == "bob" } }
        assertTrue(alice.rooms().single { it.jid == room }.joined, "Alice stays")
    }

    @Test
    fun `the occupant list the core keeps shows both once Bob joins and one once he leaves`() =
        runBlocking<Unit> {
            val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
            val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
            val aliceRooms = scope.record(alice.roomEvents)
            val bobRooms = scope.record(bob.roomEvents)
            online(alice)
            online(bob)
            val room = "lounge@$service"
            // Followed before the room exists: one list each, applied live (never re-read here).
            val atAlice = alice.occupantList(room).stateIn(scope, SharingStarted.Eagerly, emptyList())
            val atBob = bob.occupantList(room).stateIn(scope, SharingStarted.Eagerly, emptyList())
            fun nicks(list: List<Occupant>) = list.map { it.nick }

            assertEquals(RoomEvent.Joined(room, "alice"), outcome(aliceRooms, room) { alice.createRoom(room, "alice") })
            atAlice.await("Alice alone in her list") { nicks(it) == listOf("alice") }
            assertEquals(RoomEvent.Joined(room, "bob"), outcome(bobRooms, room) { bob.joinRoom(room, "bob") })
            val both = atAlice.await("both in Alice's list") { nicks(it) == listOf("alice", "bob") }
            assertEquals(Occupant("bob", "participant", "none", bob.jid), both[1], "a moderator sees real JIDs")
            atBob.await("both in Bob's list") { nicks(it) == listOf("alice", "bob") }

            bob.leaveRoom(room)
            atAlice.await("Alice alone again") { nicks(it) == listOf("alice") }
            atBob.await("Bob's list emptied as he left") { it.isEmpty() }
            assertEquals(alice.occupants(room), atAlice.value, "the list is what the store holds")

            val refused = runCatching { alice.occupantList(service).first() }.exceptionOrNull()
            assertTrue(refused is JabberKitException.InvalidInput, refused.toString())
        }

    @Test
    fun `an owner invites with the room's password, sets the subject, kicks, bans and destroys, and a participant may not kick`() =
        runBlocking<Unit> {
            val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
            val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
            val aliceRooms = scope.record(alice.roomEvents)
            val bobRooms = scope.record(bob.roomEvents)
            val room = "garden@$service"

            // Acting on a room needs the account online: nothing is queued.
            assertThrows<JabberKitException.NotConnected> { alice.setSubject(room, "too early") }
            assertThrows<JabberKitException.NotConnected> { alice.invite(room, bob.jid) }
            online(alice)
            online(bob)
            val config = RoomConfig(password = Password("s3cret"), persistent = true)
            assertEquals(RoomEvent.Joined(room, "alice"), outcome(aliceRooms, room) { alice.createRoom(room, "alice", config) })

            // The room relays the invitation with its password, which never prints.
            alice.invite(room, bob.jid, "come in")
            val invited = bobRooms.awaitValue("the invitation at Bob") { it is RoomEvent.Invited } as RoomEvent.Invited
            assertEquals(room, invited.room)
            // A semi-anonymous room names the inviter by nick, not by real JID.
            assertTrue(invited.from == "$room/alice" || invited.from.startsWith(alice.jid), invited.from)
            assertEquals("come in", invited.reason)
            assertEquals(Password("s3cret"), invited.password)
            assertFalse("s3cret" in invited.toString(), invited.toString())
            assertTrue("<redacted>" in invited.toString(), invited.toString())
            assertEquals(emptyList(), bob.history(room), "an invitation is no chat message")
            val joined = outcome(bobRooms, room) { bob.joinRoom(invited.room, "bob", invited.password) }
            assertEquals(RoomEvent.Joined(room, "bob"), joined)

            // The subject reaches everyone, and is kept with the room.
            alice.setSubject(room, "roses")
            bobRooms.awaitValue("the subject at Bob") { it == RoomEvent.SubjectChanged(room, "roses") }
            aliceRooms.awaitValue("the subject at Alice") { it == RoomEvent.SubjectChanged(room, "roses") }
            assertEquals("roses", bob.rooms().single { it.jid == room }.subject)

            // A participant may not kick the owner.
            bob.kick(room, "alice")
            val refused = bobRooms.awaitValue("Bob's kick refused") { it is RoomEvent.ActionFailed } as RoomEvent.ActionFailed
            assertEquals(room to "kick", refused.room to refused.action)
            assertTrue(refused.condition in setOf("not-allowed", "forbidden"), refused.toString())
            assertTrue(alice.rooms().single { it.jid == room }.joined, "Alice stays")

            // The owner may: Bob is out, and may come back.
            val kicked = outcome(bobRooms, room) { alice.kick(room, "bob", "weeding") }
            assertEquals(RoomError.Kicked("weeding"), (kicked as RoomEvent.Error).error)
            assertEquals(RoomEvent.Joined(room, "bob"), outcome(bobRooms, room) { bob.joinRoom(room, "bob", invited.password) })

            // Banned, he is out and cannot come back.
            val banned = outcome(bobRooms, room) { alice.ban(room, bob.jid) }
            assertEquals(RoomError.Banned, (banned as RoomEvent.Error).error)
            val again = outcome(bobRooms, room) { bob.joinRoom(room, "bob", invited.password) }
            assertEquals(RoomError.Banned, (again as RoomEvent.Error).error)

            // Destroying the room sends its owner away too.
            val destroyed = outcome(aliceRooms, room) { alice.destroyRoom(room, "season over") }
            assertEquals(RoomError.Destroyed("season over"), (destroyed as RoomEvent.Error).error)
        }

    /** Waits for the message [body] announced as new on [events] and returns it. */
    private suspend fun Recording<MessageEvent>.awaitNew(what: String, body: String): Message =
        (awaitValue(what) { it is MessageEvent.New && it.message.body == body } as MessageEvent.New).message

    @Test
    fun `a taken nickname is refused with one to try instead, and that one gets in`() = runBlocking<Unit> {
        val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
        val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
        val aliceRooms = scope.record(alice.roomEvents)
        val bobRooms = scope.record(bob.roomEvents)
        online(alice)
        online(bob)
        val room = "names@$service"
        assertEquals(RoomEvent.Joined(room, "kim"), outcome(aliceRooms, room) { alice.createRoom(room, "kim") })

        val taken = outcome(bobRooms, room) { bob.joinRoom(room, "kim") }
        val refusal = (taken as RoomEvent.Error).error
        assertEquals(RoomError.NicknameInUse("kim2"), refusal)
        // Refused at the door: not entered again by itself.
        assertEquals(listOf(false to false), bob.rooms().filter { it.jid == room }.map { it.joined to it.autojoin })

        val suggestion = (refusal as RoomError.NicknameInUse).suggestion
        assertEquals(RoomEvent.Joined(room, "kim2"), outcome(bobRooms, room) { bob.joinRoom(room, suggestion) })
        val entered = bob.rooms().single { it.jid == room }
        assertEquals("kim2", entered.nick)
        assertTrue(entered.joined && entered.autojoin, entered.toString())
        val atAlice = aliceRooms.awaitRead("kim2 beside kim at Alice", { alice.occupants(room) }) { list ->
            list.any { it.nick == "kim2" }
        }
        assertEquals(listOf("kim", "kim2"), atAlice.map { it.nick })
    }

    @Test
    fun `a room message corrected is corrected for everyone, one message each, and a message naming us is flagged`() =
        runBlocking<Unit> {
            val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
            val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
            val aliceRooms = scope.record(alice.roomEvents)
            val bobRooms = scope.record(bob.roomEvents)
            val aliceEvents = scope.record(alice.messages)
            val bobEvents = scope.record(bob.messages)
            online(alice)
            online(bob)
            val room = "words@$service"
            bothIn(room, alice, aliceRooms, bob, bobRooms)

            val id = alice.send(room, "helo all")
            val typo = bobEvents.awaitNew("the typo at Bob", "helo all")
            aliceEvents.awaitValue("the typo delivered") { it == MessageEvent.StateChanged(id, room, DeliveryState.DELIVERED) }

            val corrected = alice.correct(id, "hello all")
            assertEquals(Triple(id, "hello all", true), Triple(corrected.id, corrected.body, corrected.corrected))
            val atBob = (bobEvents.awaitValue("the correction at Bob") { it is MessageEvent.Corrected } as MessageEvent.Corrected)
                .message
            assertEquals(typo.id, atBob.id, "replaced in place")
            assertEquals("hello all", atBob.body)
            assertTrue(atBob.corrected)
            assertEquals(room to "alice", atBob.conversation to atBob.roomNick)
            aliceEvents.awaitValue("the correction at Alice") {
                it is MessageEvent.Corrected && it.message.id == id && it.message.body == "hello all"
            }

            // Bob names Alice (as a word, any case), then nearly does; Alice names herself and Bob.
            bob.send(room, "ALICE: look")
            bob.send(room, "with malice")
            val named = aliceEvents.awaitNew("Bob naming Alice", "ALICE: look")
            assertTrue(named.mentionsMe, named.toString())
            val nearMiss = aliceEvents.awaitNew("Bob's near miss", "with malice")
            assertFalse(nearMiss.mentionsMe, nearMiss.toString())
            val last = alice.send(room, "thanks bob, alice out")
            val atBobNamed = bobEvents.awaitNew("Alice naming Bob", "thanks bob, alice out")
            assertTrue(atBobNamed.mentionsMe, atBobNamed.toString())
            aliceEvents.awaitValue("the last one delivered") {
                it == MessageEvent.StateChanged(last, room, DeliveryState.DELIVERED)
            }
            // Our own never mention us, even naming our nickname.
            val own = aliceEvents.values.filterIsInstance<MessageEvent.New>().map { it.message }.filter { it.outgoing }
            assertEquals(listOf(false, false), own.map { it.mentionsMe }, own.toString())

            // The room sent the correction back to Alice too, before Bob's messages: one message each, corrected,
            // stored with the flags announced.
            val bodies = listOf("hello all", "ALICE: look", "with malice", "thanks bob, alice out")
            for ((who, kit, mentions) in listOf(
                Triple("alice", alice, listOf(false, true, false, false)),
                Triple("bob", bob, listOf(false, false, false, true)),
            )) {
                val history = kit.history(room)
                assertEquals(bodies, history.map { it.body }, "$who: each once")
                assertEquals(listOf(true, false, false, false), history.map { it.corrected }, who)
                assertEquals(mentions, history.map { it.mentionsMe }, who)
            }
            for ((who, events) in listOf("alice" to aliceEvents, "bob" to bobEvents)) {
                val news = events.values.filterIsInstance<MessageEvent.New>().map { it.message.body }
                assertEquals(listOf("helo all"), news.filter { it.endsWith(" all") }, "$who: the correction is no new message")
            }
        }

    @Test
    fun `after time away a room is caught up from its archive once, with progress up to complete`() =
        runBlocking<Unit> {
            val alice = open(server.config(server.newAccount("alice"), newStoreDir()))
            val bob = open(server.config(server.newAccount("bob"), newStoreDir()))
            val aliceRooms = scope.record(alice.roomEvents)
            val bobRooms = scope.record(bob.roomEvents)
            val aliceEvents = scope.record(alice.messages)
            val bobEvents = scope.record(bob.messages)
            online(alice)
            online(bob)
            val room = "archive@$service"
            bothIn(room, alice, aliceRooms, bob, bobRooms)
            alice.send(room, "before")
            bobEvents.awaitNew("the first message at Bob", "before")

            // Bob goes away; the (persistent, archived) room goes on without him.
            bob.disconnect()
            val said = (1..CATCH_UP_COUNT).map { "while bob was away $it" }
            val ids = said.map { alice.send(room, it) }
            aliceEvents.await("$CATCH_UP_COUNT delivered") { events ->
                val delivered = events.filterIsInstance<MessageEvent.StateChanged>()
                    .filter { it.state == DeliveryState.DELIVERED }.map { it.id }.toSet()
                delivered.containsAll(ids)
            }

            // A new session enters the room again by itself and catches up.
            val roomsBefore = bobRooms.values.size
            val messagesBefore = bobEvents.values.size
            online(bob)
            bobRooms.await("Bob back in the room") { it.drop(roomsBefore).contains(RoomEvent.Joined(room, "bob")) }
            bobRooms.await("the room's catch-up to complete") { events ->
                events.drop(roomsBefore).any { it is RoomEvent.CatchUp && it.complete }
            }
            bobEvents.await("$CATCH_UP_COUNT messages at Bob") { events ->
                events.drop(messagesBefore).count { it is MessageEvent.New && it.message.body in said } >= said.size
            }
            // A barrier instead of a pause: anything the room sent before Alice's next message has been
            // announced once that one is.
            alice.send(room, "after")
            bobEvents.awaitNew("the barrier at Bob", "after")

            val progress = bobRooms.values.drop(roomsBefore).filterIsInstance<RoomEvent.CatchUp>()
            assertTrue(progress.all { it.room == room }, progress.toString())
            assertEquals(1, progress.count { it.complete }, "one complete catch-up: $progress")
            assertTrue(progress.last().complete, progress.toString())
            assertEquals(progress.map { it.fetched }.sorted(), progress.map { it.fetched }, progress.toString())
            assertTrue(progress.last().fetched >= CATCH_UP_COUNT, progress.toString())

            val caughtUp = bobEvents.values.drop(messagesBefore).filterIsInstance<MessageEvent.New>().map { it.message }
            assertEquals(said + "after", caughtUp.map { it.body }, "each once, in order")
            assertTrue(caughtUp.all { !it.outgoing && it.roomNick == "alice" && it.conversation == room }, caughtUp.toString())
            assertEquals(listOf("before") + said + "after", bob.history(room, limit = 100).map { it.body })
        }

    private companion object {
        const val CATCH_UP_COUNT = 30
    }
}
