package org.jabberkit.viewmodel

import kotlin.test.assertEquals
import kotlin.test.assertNull
import org.jabberkit.ConnectionState
import org.jabberkit.FailureReason
import org.junit.jupiter.api.Test

class ConnectionBannerTextTest {
    private fun text(state: ConnectionState) = ConnectionBannerViewModel.bannerText(state)

    @Test
    fun `online shows no banner`() {
        assertNull(text(ConnectionState.Online(resumed = false)))
        assertNull(text(ConnectionState.Online(resumed = true)))
    }

    @Test
    fun `every other state says what is going on`() {
        assertEquals("Offline", text(ConnectionState.Disconnected))
        assertEquals("Connecting…", text(ConnectionState.Connecting))
        assertEquals("Connection lost. Reconnecting…", text(ConnectionState.Suspended))
        assertEquals("No connection. Retrying in 3 s…", text(ConnectionState.Reconnecting(attempt = 2u, retryInMs = 2_500uL)))
        assertEquals("Reconnecting…", text(ConnectionState.Reconnecting(attempt = 1u, retryInMs = 0uL)))
        assertEquals(
            "Wrong address or password. Sign in again.",
            text(ConnectionState.Failed(FailureReason.Authentication("not-authorized"))),
        )
        assertEquals(
            "The server's certificate is not trusted: unknown issuer",
            text(ConnectionState.Failed(FailureReason.Certificate("unknown issuer"))),
        )
        assertEquals(
            "The server offered a weaker sign-in than before. Not connecting.",
            text(ConnectionState.Failed(FailureReason.Downgrade("SCRAM-SHA-1-PLUS before, PLAIN now"))),
        )
    }
}
