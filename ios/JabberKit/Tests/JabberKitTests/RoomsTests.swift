// Group chat (XEP-0045) through the Swift layer, against the test Prosody's
// MUC component (`conference.<domain>`): typed refusals, room messages with
// their nick, occupants (read, and as the list the core keeps), acting on a
// room (invitations, the subject, kicks, bans, destroying it), a taken
// nickname with one to try instead, corrections and mentions, and catching up
// with a room after time away. The Swift counterpart of RoomsTest.kt.
import JabberKit
import XCTest

final class RoomsTests: LiveServerTestCase, @unchecked Sendable {
    private var service: String { "conference.\(server.domain)" }

    /// Runs `action`, then waits for the room's answer to it (joined or
    /// refused) and returns it.
    private func outcome(
        _ events: Recording<RoomEvent>, _ room: String, _ action: () throws -> Void
    ) async throws -> RoomEvent {
        let before = events.values.count
        try action()
        let isOutcome = { (event: RoomEvent) -> Bool in
            guard event.room == room else { return false }
            switch event {
            case .joined, .error: return true
            default: return false
            }
        }
        let values = try await events.waitFor("an answer from \(room)") { $0.dropFirst(before).contains(where: isOutcome) }
        return values.dropFirst(before).first(where: isOutcome)!
    }

    /// Alice creates `room` (persistent, no password) as `alice`; Bob joins it as `bob`.
    private func bothIn(
        _ room: String, _ alice: JabberKitSession, _ aliceRooms: Recording<RoomEvent>, _ bob: JabberKitSession,
        _ bobRooms: Recording<RoomEvent>
    ) async throws {
        let created = try await outcome(aliceRooms, room) {
            try alice.createRoom(room, nick: "alice", config: RoomConfig(persistent: true))
        }
        XCTAssertEqual(created, .joined(room: room, nick: "alice"))
        let joined = try await outcome(bobRooms, room) { try bob.joinRoom(room, nick: "bob") }
        XCTAssertEqual(joined, .joined(room: room, nick: "bob"))
    }

    func testAPasswordRoomRefusesAMissingAndAWrongPasswordWithTypedErrorsAndLetsTheRightOneIn() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        try await online(alice)
        try await online(bob)
        let room = "secret-tea@\(service)"

        let config = RoomConfig(name: "Secret tea", password: Password(value: "s3same"), persistent: true)
        XCTAssertFalse("\(config)".contains("s3same"), "\(config)")
        let created = try await outcome(aliceRooms, room) { try alice.createRoom(room, nick: "alice", config: config) }
        XCTAssertEqual(created, .joined(room: room, nick: "alice"))

        let missing = try await outcome(bobRooms, room) { try bob.joinRoom(room, nick: "bob") }
        guard case .error(_, .passwordRequired, _) = missing else { return XCTFail("\(missing)") }
        let wrong = try await outcome(bobRooms, room) {
            try bob.joinRoom(room, nick: "bob", password: Password(value: "wrong"))
        }
        guard case .error(_, .wrongPassword, _) = wrong else { return XCTFail("\(wrong)") }
        // Refused at the door: not entered again by itself.
        let refused = try XCTUnwrap(try bob.rooms().first { $0.jid == room })
        XCTAssertFalse(refused.joined)
        XCTAssertFalse(refused.autojoin)

        let right = try await outcome(bobRooms, room) {
            try bob.joinRoom(room, nick: "bob", password: Password(value: "s3same"))
        }
        XCTAssertEqual(right, .joined(room: room, nick: "bob"))
        let entered = try XCTUnwrap(try bob.rooms().first { $0.jid == room })
        XCTAssertEqual(entered.nick, "bob")
        XCTAssertTrue(entered.joined && entered.autojoin, "\(entered)")
        XCTAssertEqual(try alice.rooms().first { $0.jid == room }?.joined, true)

        // Bad input is refused at once, before anything is sent.
        assertThrowsJabberKitError("a service, not a room", try bob.joinRoom(service, nick: "bob"), isInvalidInput)
        assertThrowsJabberKitError("a blank nickname", try bob.joinRoom(room, nick: " "), isInvalidInput)
    }

    func testRoomMessagesArriveWithTheSpeakersNickAndOurOwnComesBackOnceDelivered() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        let aliceEvents = record(alice.messages)
        let bobEvents = record(bob.messages)
        try await online(alice)
        try await online(bob)
        let room = "tea@\(service)"
        try await bothIn(room, alice, aliceRooms, bob, bobRooms)

        let hello = try alice.send(to: room, body: "hello room")
        let got = try await bobEvents.awaitValue("Alice's room message at Bob") {
            $0.newMessage?.body == "hello room"
        }.newMessage!
        XCTAssertEqual(got.conversation, room)
        XCTAssertEqual(got.sender, "\(room)/alice")
        XCTAssertEqual(got.roomNick, "alice")
        XCTAssertFalse(got.outgoing)
        XCTAssertEqual(got.state, .received)
        try await aliceEvents.awaitValue("hello delivered") {
            $0 == .stateChanged(id: hello, conversation: room, state: .delivered)
        }

        // Bob's own: queued (reported once), then delivered when the room sends it back.
        let reply = try bob.send(to: room, body: "hi alice")
        try await bobEvents.awaitValue("the reply delivered") {
            $0 == .stateChanged(id: reply, conversation: room, state: .delivered)
        }
        let bobsOwn = bobEvents.values.compactMap(\.newMessage).filter { $0.body == "hi alice" }
        XCTAssertEqual(bobsOwn.map(\.id), [reply], "reported once: the room's copy is not a new message")
        XCTAssertEqual(bobsOwn.first?.outgoing, true)
        XCTAssertNil(bobsOwn.first?.roomNick, "our own carry our bare JID")
        let atAlice = try await aliceEvents.awaitValue("Bob's reply at Alice") {
            $0.newMessage?.body == "hi alice"
        }.newMessage!
        XCTAssertEqual(atAlice.roomNick, "bob")

        for (who, session) in [("alice", alice), ("bob", bob)] {
            XCTAssertEqual(try session.history(with: room).map(\.body), ["hello room", "hi alice"], "\(who): each once")
        }
        XCTAssertEqual(try alice.history(with: room).map(\.state), [.delivered, .received])
        XCTAssertEqual(try bob.history(with: room).map(\.state), [.received, .delivered])
        XCTAssertEqual(try bob.conversations().first?.peer, room)

        // A private message: the occupant's own conversation, no room nick.
        _ = try alice.send(to: "\(room)/bob", body: "just between us")
        let privately = try await bobEvents.awaitValue("the private message") {
            $0.newMessage?.body == "just between us"
        }.newMessage!
        XCTAssertEqual(privately.conversation, "\(room)/alice")
        XCTAssertNil(privately.roomNick)
        XCTAssertEqual(try bob.history(with: room).map(\.body), ["hello room", "hi alice"])
    }

    func testOccupantsShowRolesAndAffiliationsAndFollowSomeoneLeaving() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        try await online(alice)
        try await online(bob)
        let room = "people@\(service)"
        try await bothIn(room, alice, aliceRooms, bob, bobRooms)

        // Each sees the other, and itself with its own role. Alice, the owner
        // and a moderator, sees Bob's real JID; Bob does not see hers
        // (Prosody's default: only moderators see real JIDs).
        let atAlice = try await aliceRooms.awaitRead("Bob among Alice's occupants", { try alice.occupants(in: room) }) {
            $0.contains { $0.nick == "bob" }
        }
        XCTAssertEqual(atAlice.filter { $0.nick != "alice" }, [Occupant(nick: "bob", role: "participant", affiliation: "none", jid: bob.jid)])
        XCTAssertEqual(atAlice.filter { $0.nick == "alice" }.map { $0.role + "/" + $0.affiliation }, ["moderator/owner"])
        let atBob = try await bobRooms.awaitRead("Alice among Bob's occupants", { try bob.occupants(in: room) }) {
            $0.contains { $0.nick == "alice" }
        }
        XCTAssertEqual(atBob.filter { $0.nick != "bob" }, [Occupant(nick: "alice", role: "moderator", affiliation: "owner", jid: nil)])
        XCTAssertEqual(atBob.filter { $0.nick == "bob" }.map { $0.role + "/" + $0.affiliation }, ["participant/none"])

        let before = aliceRooms.values.count
        try bob.leaveRoom(room)
        XCTAssertEqual(try bob.rooms().first { $0.jid == room }?.autojoin, false, "not entered again")
        // `joined` follows once the session has acted on the leave, which no
        // event announces.
        try await poll("Bob out of the room", { try bob.rooms().first { $0.jid == room }?.joined }) { $0 == false }
        try await aliceRooms.waitFor("Bob's leaving announced to Alice") {
            $0.dropFirst(before).contains(.occupantsChanged(room: room))
        }
        try await aliceRooms.awaitRead("Bob gone from Alice's occupants", { try alice.occupants(in: room) }) {
            !$0.contains { $0.nick == "bob" }
        }
        XCTAssertEqual(try alice.rooms().first { $0.jid == room }?.joined, true, "Alice stays")
    }

    /// Whether the latest list a stream produced has exactly `nicks`.
    private func showing(_ nicks: [String]) -> ([[Occupant]]) -> Bool {
        { $0.last?.map(\.nick) == nicks }
    }

    func testTheOccupantListTheCoreKeepsShowsBothOnceBobJoinsAndOneOnceHeLeaves() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        try await online(alice)
        try await online(bob)
        let room = "lounge@\(service)"
        // Followed before the room exists: one list each, applied live (never
        // re-read here).
        let atAlice = record(try alice.occupantList(in: room))
        let atBob = record(try bob.occupantList(in: room))

        let created = try await outcome(aliceRooms, room) { try alice.createRoom(room, nick: "alice") }
        XCTAssertEqual(created, .joined(room: room, nick: "alice"))
        try await atAlice.waitFor("Alice alone in her list", showing(["alice"]))
        let joined = try await outcome(bobRooms, room) { try bob.joinRoom(room, nick: "bob") }
        XCTAssertEqual(joined, .joined(room: room, nick: "bob"))
        let both = try await atAlice.waitFor("both in Alice's list", showing(["alice", "bob"]))
        XCTAssertEqual(
            both.last?.last, Occupant(nick: "bob", role: "participant", affiliation: "none", jid: bob.jid),
            "a moderator sees real JIDs")
        try await atBob.waitFor("both in Bob's list", showing(["alice", "bob"]))

        try bob.leaveRoom(room)
        try await atAlice.waitFor("Alice alone again", showing(["alice"]))
        try await atBob.waitFor("Bob's list emptied as he left", showing([]))
        XCTAssertEqual(atAlice.values.last, try alice.occupants(in: room), "the list is what the store holds")

        assertThrowsJabberKitError("a service, not a room", try alice.occupantList(in: service), isInvalidInput)
    }

    func testAnOwnerInvitesWithTheRoomsPasswordSetsTheSubjectKicksBansAndDestroysAndAParticipantMayNotKick()
        async throws
    {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        let room = "garden@\(service)"

        // Acting on a room needs the account online: nothing is queued.
        assertThrowsJabberKitError("a subject offline", try alice.setSubject(of: room, to: "too early"), isNotConnected)
        assertThrowsJabberKitError("an invitation offline", try alice.invite(bob.jid, to: room), isNotConnected)
        try await online(alice)
        try await online(bob)
        let config = RoomConfig(password: Password(value: "s3cret"), persistent: true)
        let created = try await outcome(aliceRooms, room) { try alice.createRoom(room, nick: "alice", config: config) }
        XCTAssertEqual(created, .joined(room: room, nick: "alice"))

        // The room relays the invitation with its password, which never prints.
        try alice.invite(bob.jid, to: room, reason: "come in")
        let invitation = try await bobRooms.awaitValue("the invitation at Bob") {
            if case .invited = $0 { return true } else { return false }
        }
        guard case .invited(let invitedTo, let from, let password, let reason) = invitation else {
            return XCTFail("\(invitation)")
        }
        XCTAssertEqual(invitedTo, room)
        // A semi-anonymous room names the inviter by nick, not by real JID.
        XCTAssertTrue(from == "\(room)/alice" || from.hasPrefix(alice.jid), from)
        XCTAssertEqual(reason, "come in")
        XCTAssertEqual(password, Password(value: "s3cret"))
        let printed = "\(invitation)"
        XCTAssertFalse(printed.contains("s3cret"), printed)
        XCTAssertTrue(printed.contains("<redacted>"), printed)
        XCTAssertEqual(try bob.history(with: room), [], "an invitation is no chat message")
        let joined = try await outcome(bobRooms, room) { try bob.joinRoom(invitedTo, nick: "bob", password: password) }
        XCTAssertEqual(joined, .joined(room: room, nick: "bob"))

        // The subject reaches everyone, and is kept with the room.
        try alice.setSubject(of: room, to: "roses")
        try await bobRooms.awaitValue("the subject at Bob") { $0 == .subjectChanged(room: room, subject: "roses") }
        try await aliceRooms.awaitValue("the subject at Alice") { $0 == .subjectChanged(room: room, subject: "roses") }
        XCTAssertEqual(try bob.rooms().first { $0.jid == room }?.subject, "roses")

        // A participant may not kick the owner.
        try bob.kick("alice", from: room)
        let refused = try await bobRooms.awaitValue("Bob's kick refused") {
            if case .actionFailed = $0 { return true } else { return false }
        }
        guard case .actionFailed(room, "kick", let condition, _) = refused else { return XCTFail("\(refused)") }
        XCTAssertTrue(["not-allowed", "forbidden"].contains(condition), "\(refused)")
        XCTAssertEqual(try alice.rooms().first { $0.jid == room }?.joined, true, "Alice stays")

        // The owner may: Bob is out, and may come back.
        let kicked = try await outcome(bobRooms, room) { try alice.kick("bob", from: room, reason: "weeding") }
        guard case .error(_, .kicked(let why), _) = kicked else { return XCTFail("\(kicked)") }
        XCTAssertEqual(why, "weeding")
        let back = try await outcome(bobRooms, room) { try bob.joinRoom(room, nick: "bob", password: password) }
        XCTAssertEqual(back, .joined(room: room, nick: "bob"))

        // Banned, he is out and cannot come back.
        let banned = try await outcome(bobRooms, room) { try alice.ban(bob.jid, from: room) }
        guard case .error(_, .banned, _) = banned else { return XCTFail("\(banned)") }
        let again = try await outcome(bobRooms, room) { try bob.joinRoom(room, nick: "bob", password: password) }
        guard case .error(_, .banned, _) = again else { return XCTFail("\(again)") }

        // Destroying the room sends its owner away too.
        let destroyed = try await outcome(aliceRooms, room) { try alice.destroyRoom(room, reason: "season over") }
        guard case .error(_, .destroyed(let why), _) = destroyed else { return XCTFail("\(destroyed)") }
        XCTAssertEqual(why, "season over")
    }

    /// Waits for the message `body` announced as new on `events` and returns it.
    private func awaitNew(_ events: Recording<MessageEvent>, _ what: String, _ body: String) async throws -> Message {
        try await events.awaitValue(what) { $0.newMessage?.body == body }.newMessage!
    }

    func testATakenNicknameIsRefusedWithOneToTryInsteadAndThatOneGetsIn() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        try await online(alice)
        try await online(bob)
        let room = "names@\(service)"
        let created = try await outcome(aliceRooms, room) { try alice.createRoom(room, nick: "kim") }
        XCTAssertEqual(created, .joined(room: room, nick: "kim"))

        let taken = try await outcome(bobRooms, room) { try bob.joinRoom(room, nick: "kim") }
        guard case .error(_, .nicknameInUse(let suggestion), _) = taken else { return XCTFail("\(taken)") }
        XCTAssertEqual(suggestion, "kim2")
        // Refused at the door: not entered again by itself.
        let refused = try XCTUnwrap(try bob.rooms().first { $0.jid == room })
        XCTAssertFalse(refused.joined)
        XCTAssertFalse(refused.autojoin)

        let joined = try await outcome(bobRooms, room) { try bob.joinRoom(room, nick: suggestion) }
        XCTAssertEqual(joined, .joined(room: room, nick: "kim2"))
        let entered = try XCTUnwrap(try bob.rooms().first { $0.jid == room })
        XCTAssertEqual(entered.nick, "kim2")
        XCTAssertTrue(entered.joined && entered.autojoin, "\(entered)")
        try await aliceRooms.awaitRead("kim2 beside kim at Alice", { try alice.occupants(in: room) }) {
            $0.map(\.nick) == ["kim", "kim2"]
        }
    }

    func testARoomMessageCorrectedIsCorrectedForEveryoneOneMessageEachAndAMessageNamingUsIsFlagged() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        let aliceEvents = record(alice.messages)
        let bobEvents = record(bob.messages)
        try await online(alice)
        try await online(bob)
        let room = "words@\(service)"
        try await bothIn(room, alice, aliceRooms, bob, bobRooms)

        let id = try alice.send(to: room, body: "helo all")
        let typo = try await awaitNew(bobEvents, "the typo at Bob", "helo all")
        try await aliceEvents.awaitValue("the typo delivered") {
            $0 == .stateChanged(id: id, conversation: room, state: .delivered)
        }

        let corrected = try alice.correct(id, body: "hello all")
        XCTAssertEqual(corrected.id, id)
        XCTAssertEqual(corrected.body, "hello all")
        XCTAssertTrue(corrected.corrected)
        let correction = try await bobEvents.awaitValue("the correction at Bob") {
            if case .corrected = $0 { return true } else { return false }
        }
        guard case .corrected(let atBob) = correction else { return XCTFail("\(correction)") }
        XCTAssertEqual(atBob.id, typo.id, "replaced in place")
        XCTAssertEqual(atBob.body, "hello all")
        XCTAssertTrue(atBob.corrected)
        XCTAssertEqual(atBob.conversation, room)
        XCTAssertEqual(atBob.roomNick, "alice")
        try await aliceEvents.awaitValue("the correction at Alice") {
            if case .corrected(let message) = $0 { return message.id == id && message.body == "hello all" }
            return false
        }

        // Bob names Alice (as a word, any case), then nearly does; Alice names herself and Bob.
        _ = try bob.send(to: room, body: "ALICE: look")
        _ = try bob.send(to: room, body: "with malice")
        let named = try await awaitNew(aliceEvents, "Bob naming Alice", "ALICE: look")
        XCTAssertTrue(named.mentionsMe, "\(named)")
        let nearMiss = try await awaitNew(aliceEvents, "Bob's near miss", "with malice")
        XCTAssertFalse(nearMiss.mentionsMe, "\(nearMiss)")
        let last = try alice.send(to: room, body: "thanks bob, alice out")
        let atBobNamed = try await awaitNew(bobEvents, "Alice naming Bob", "thanks bob, alice out")
        XCTAssertTrue(atBobNamed.mentionsMe, "\(atBobNamed)")
        try await aliceEvents.awaitValue("the last one delivered") {
            $0 == .stateChanged(id: last, conversation: room, state: .delivered)
        }
        // Our own never mention us, even naming our nickname.
        let own = aliceEvents.values.compactMap(\.newMessage).filter(\.outgoing)
        XCTAssertEqual(own.map(\.mentionsMe), [false, false], "\(own)")

        // The room sent the correction back to Alice too, before Bob's
        // messages: one message each, corrected, stored with the flags
        // announced.
        let bodies = ["hello all", "ALICE: look", "with malice", "thanks bob, alice out"]
        for (who, session, mentions) in [
            ("alice", alice, [false, true, false, false]), ("bob", bob, [false, false, false, true]),
        ] {
            let history = try session.history(with: room)
            XCTAssertEqual(history.map(\.body), bodies, "\(who): each once")
            XCTAssertEqual(history.map(\.corrected), [true, false, false, false], who)
            XCTAssertEqual(history.map(\.mentionsMe), mentions, who)
        }
        for (who, events) in [("alice", aliceEvents), ("bob", bobEvents)] {
            let news = events.values.compactMap(\.newMessage).map(\.body)
            XCTAssertEqual(news.filter { $0.hasSuffix(" all") }, ["helo all"], "\(who): the correction is no new message")
        }
    }

    func testAfterTimeAwayARoomIsCaughtUpFromItsArchiveOnceWithProgressUpToComplete() async throws {
        let count = 30
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceRooms = record(alice.roomEvents)
        let bobRooms = record(bob.roomEvents)
        let aliceEvents = record(alice.messages)
        let bobEvents = record(bob.messages)
        try await online(alice)
        try await online(bob)
        let room = "archive@\(service)"
        try await bothIn(room, alice, aliceRooms, bob, bobRooms)
        _ = try alice.send(to: room, body: "before")
        _ = try await awaitNew(bobEvents, "the first message at Bob", "before")

        // Bob goes away; the (persistent, archived) room goes on without him.
        await bob.disconnect()
        let said = (1...count).map { "while bob was away \($0)" }
        let ids = try said.map { try alice.send(to: room, body: $0) }
        try await aliceEvents.waitFor("\(count) delivered") { events in
            let delivered = Set(events.compactMap { event -> String? in
                if case .stateChanged(let id, _, .delivered) = event { return id } else { return nil }
            })
            return delivered.isSuperset(of: ids)
        }

        // A new session enters the room again by itself and catches up.
        let roomsBefore = bobRooms.values.count
        let messagesBefore = bobEvents.values.count
        try await online(bob)
        try await bobRooms.waitFor("Bob back in the room") {
            $0.dropFirst(roomsBefore).contains(.joined(room: room, nick: "bob"))
        }
        try await bobRooms.waitFor("the room's catch-up to complete") {
            $0.dropFirst(roomsBefore).contains { if case .catchUp(_, _, true) = $0 { true } else { false } }
        }
        try await bobEvents.waitFor("\(count) messages at Bob") {
            $0.dropFirst(messagesBefore).compactMap(\.newMessage).filter { said.contains($0.body) }.count >= count
        }
        // A barrier instead of a pause: anything the room sent before Alice's
        // next message has been announced once that one is.
        _ = try alice.send(to: room, body: "after")
        _ = try await awaitNew(bobEvents, "the barrier at Bob", "after")

        let progress = bobRooms.values.dropFirst(roomsBefore).compactMap { event -> (room: String, fetched: UInt32, complete: Bool)? in
            if case .catchUp(let room, let fetched, let complete) = event { return (room, fetched, complete) }
            return nil
        }
        XCTAssertTrue(progress.allSatisfy { $0.room == room }, "\(progress)")
        XCTAssertEqual(progress.filter(\.complete).count, 1, "one complete catch-up: \(progress)")
        XCTAssertEqual(progress.last?.complete, true, "\(progress)")
        XCTAssertEqual(progress.map(\.fetched), progress.map(\.fetched).sorted(), "\(progress)")
        XCTAssertGreaterThanOrEqual(progress.last?.fetched ?? 0, UInt32(count), "\(progress)")

        let caughtUp = bobEvents.values.dropFirst(messagesBefore).compactMap(\.newMessage)
        XCTAssertEqual(caughtUp.map(\.body), said + ["after"], "each once, in order")
        XCTAssertTrue(
            caughtUp.allSatisfy { !$0.outgoing && $0.roomNick == "alice" && $0.conversation == room }, "\(caughtUp)")
        XCTAssertEqual(try bob.history(with: room, limit: 100).map(\.body), ["before"] + said + ["after"])
    }
}
