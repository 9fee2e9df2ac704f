// Group chat (XEP-0045) through the Swift layer, against the test Prosody's
// MUC component (`conference.<domain>`): typed refusals, room messages with
// their nick, occupants (read, and as the list the core keeps), and acting on
// a room (invitations, the subject, kicks, bans, destroying it). The Swift
// counterpart of RoomsTest.kt.
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
}
