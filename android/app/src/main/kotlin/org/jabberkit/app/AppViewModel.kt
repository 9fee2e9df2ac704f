package org.jabberkit.app

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.job
import kotlinx.coroutines.launch
import org.jabberkit.ClientConfig
import org.jabberkit.Password
import org.jabberkit.LogLevel
import org.jabberkit.TlsMode
import org.jabberkit.kt.JabberKit
import org.jabberkit.viewmodel.ChatViewModel
import org.jabberkit.viewmodel.ConnectionBannerViewModel
import org.jabberkit.viewmodel.ConversationListViewModel
import org.jabberkit.viewmodel.SignInState
import org.jabberkit.viewmodel.SignInViewModel

/** A signed-in account and what lives as long as it: its banner, its list, its network hints. */
class Account(val kit: JabberKit, val scope: CoroutineScope, val network: NetworkMonitor) {
    val banner = ConnectionBannerViewModel(kit, scope)
    val conversations = ConversationListViewModel(kit, scope)
}

/** What the activity shows; each screen's view model lives in the scope that is cancelled when it goes. */
sealed interface Screen {
    class SignIn(val model: SignInViewModel, val scope: CoroutineScope) : Screen

    /** The previous account is closing its connection; the sign-in screen follows. */
    data object SigningOut : Screen

    class Conversations(val account: Account) : Screen

    class Chat(val account: Account, val model: ChatViewModel, val scope: CoroutineScope) : Screen
}

/**
 * The app's state across configuration changes: which screen is shown, the signed-in account,
 * and its lifetime (closed at sign-out and when the app's task ends). All logic is in the
 * org.jabberkit view models; this only creates them, hands the account over and closes things.
 */
class AppViewModel(application: Application) : AndroidViewModel(application) {
    private val current = MutableStateFlow<Screen>(newSignIn(previous = null))

    /** The screen to show. */
    val screen: StateFlow<Screen> = current.asStateFlow()

    init {
        // The first JabberKit call also loads the native library: off the main thread.
        viewModelScope.launch { JabberKit.enableLogging(LogLevel.INFO) }
    }

    /** Gives up a sign-in in progress (the half-opened account is closed); the fields stay. */
    fun cancelSignIn() {
        val screen = current.value as? Screen.SignIn ?: return
        screen.scope.cancel()
        current.value = newSignIn(previous = screen.model)
    }

    fun openChat(peer: String) {
        val screen = current.value as? Screen.Conversations ?: return
        val scope = childScope(screen.account.scope)
        current.value = Screen.Chat(screen.account, ChatViewModel(screen.account.kit, peer, scope), scope)
    }

    fun closeChat() {
        val screen = current.value as? Screen.Chat ?: return
        screen.scope.cancel()
        current.value = Screen.Conversations(screen.account)
    }

    /** The activity became visible (true) or hidden (false): the server may hold back presence meanwhile. */
    fun setForeground(active: Boolean) {
        when (val screen = current.value) {
            is Screen.Conversations -> screen.account.kit.setForeground(active)
            is Screen.Chat -> screen.account.kit.setForeground(active)
            else -> {}
        }
    }

    /** Closes the connection cleanly, then the account, then shows the sign-in screen. */
    fun signOut() {
        val account = when (val screen = current.value) {
            is Screen.Conversations -> screen.account
            is Screen.Chat -> screen.account
            else -> return
        }
        current.value = Screen.SigningOut
        account.network.stop()
        account.scope.cancel()
        viewModelScope.launch {
            try {
                account.kit.disconnect()
            } finally {
                account.kit.close()
            }
            current.value = newSignIn(previous = null)
        }
    }

    override fun onCleared() {
        // viewModelScope is already cancelled: a sign-in in progress or a sign-out has closed
        // its account; only the signed-in one is left.
        val account = when (val screen = current.value) {
            is Screen.Conversations -> screen.account
            is Screen.Chat -> screen.account
            else -> return
        }
        account.network.stop()
        account.kit.close()
    }

    /** A sign-in screen; the account it opens becomes the current one. */
    private fun newSignIn(previous: SignInViewModel?): Screen.SignIn {
        val scope = childScope(viewModelScope)
        val model = SignInViewModel(scope) { jid, password, server ->
            ClientConfig(
                jid = jid,
                password = Password(password),
                server = server,
                tls = TlsMode.START_TLS,
                storeDir = storeDir(jid),
            )
        }
        if (previous != null) {
            model.jid.value = previous.jid.value
            model.server.value = previous.server.value
        }
        scope.launch {
            val signedIn = model.state.filterIsInstance<SignInState.SignedIn>().first()
            val account = childScope(viewModelScope)
            current.value = Screen.Conversations(
                Account(signedIn.kit, account, NetworkMonitor(getApplication<Application>(), signedIn.kit)),
            )
            // Last: the sign-in screen's work is over (the account is handed over).
            scope.cancel()
        }
        return Screen.SignIn(model, scope)
    }

    /** One app-private store per account. */
    private fun storeDir(jid: String): String {
        val name = jid.lowercase().replace('/', '_')
        return File(File(getApplication<Application>().filesDir, "accounts"), name).path
    }

    private fun childScope(parent: CoroutineScope) =
        CoroutineScope(parent.coroutineContext + SupervisorJob(parent.coroutineContext.job))
}
