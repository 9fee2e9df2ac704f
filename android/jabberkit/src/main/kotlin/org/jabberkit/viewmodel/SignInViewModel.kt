package org.jabberkit.viewmodel

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.jabberkit.ClientConfig
import org.jabberkit.ConnectionState
import org.jabberkit.JabberKitException
import org.jabberkit.kt.JabberKit
import org.jabberkit.kt.reason

/** Where signing in stands. */
sealed interface SignInState {
    /** Waiting for the user. */
    data object Idle : SignInState

    /** Connecting; [status] says how it goes (null while nothing is known yet). */
    data class SigningIn(val status: String?) : SignInState

    /** Online. The app now owns [kit] and closes it at sign-out. */
    class SignedIn(val kit: JabberKit) : SignInState

    /** Signing in failed for [message]; the user can correct the fields and try again. */
    data class Failed(val message: String) : SignInState
}

/**
 * The sign-in form: three fields, and [signIn], which opens the account and connects.
 *
 * @param scope the screen's scope; leaving the screen mid-sign-in closes the half-opened account.
 * @param configFor builds the account's configuration from the fields (the app adds the store
 *   directory, TLS mode and so on); [server] is null when left blank (DNS SRV look-up).
 */
class SignInViewModel(
    private val scope: CoroutineScope,
    private val configFor: (jid: String, password: String, server: String?) -> ClientConfig,
) {
    /** `user@domain`. */
    val jid = MutableStateFlow("")

    /** The password. */
    val password = MutableStateFlow("")

    /** `host:port`, or blank to find the server through DNS. */
    val server = MutableStateFlow("")

    private val current = MutableStateFlow<SignInState>(SignInState.Idle)

    /** Where signing in stands. */
    val state: StateFlow<SignInState> = current.asStateFlow()

    /** Opens the account and connects; does nothing while signing in or signed in. */
    fun signIn() {
        val before = current.value
        if (before is SignInState.SigningIn || before is SignInState.SignedIn) return
        if (!current.compareAndSet(before, SignInState.SigningIn(null))) return
        scope.launch { open() }
    }

    private suspend fun open() {
        val config = configFor(jid.value.trim(), password.value, server.value.trim().ifEmpty { null })
        // Set inside the block, so a cancellation right after opening still closes it below.
        var kit: JabberKit? = null
        var handedOver = false
        try {
            withContext(Dispatchers.IO) { kit = JabberKit(config) }
            val opened = checkNotNull(kit)
            opened.connect()
            val outcome = opened.connectionState
                .onEach { current.value = SignInState.SigningIn(ConnectionBannerViewModel.bannerText(it)) }
                .first { it is ConnectionState.Online || it is ConnectionState.Failed }
            if (outcome is ConnectionState.Failed) {
                current.value = SignInState.Failed(ConnectionBannerViewModel.bannerText(outcome) ?: "Sign-in failed")
            } else {
                current.value = SignInState.SignedIn(opened)
                handedOver = true
            }
        } catch (e: JabberKitException) {
            current.value = SignInState.Failed(e.reason)
        } finally {
            if (!handedOver) kit?.close()
        }
    }
}
