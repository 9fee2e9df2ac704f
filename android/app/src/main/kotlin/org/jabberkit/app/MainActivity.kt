package org.jabberkit.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier

/** One activity; the screen follows [AppViewModel.screen]. */
class MainActivity : ComponentActivity() {
    private val app: AppViewModel by viewModels()

    // Client State Indication: in the background the server holds what can wait.
    override fun onStart() {
        super.onStart()
        app.setForeground(true)
    }

    override fun onStop() {
        app.setForeground(false)
        super.onStop()
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) {
                    val screen by app.screen.collectAsState()
                    Column(Modifier.fillMaxSize().safeDrawingPadding()) {
                        when (val shown = screen) {
                            is Screen.SignIn -> SignInScreen(
                                model = shown.model,
                                onCancel = app::cancelSignIn,
                                modifier = Modifier.weight(1f),
                            )
                            Screen.SigningOut -> Column(
                                modifier = Modifier.weight(1f).fillMaxSize(),
                                verticalArrangement = Arrangement.Center,
                                horizontalAlignment = Alignment.CenterHorizontally,
                            ) {
                                CircularProgressIndicator()
                                Text("Signing out…")
                            }
                            is Screen.Conversations -> {
                                ConnectionBanner(shown.account.banner)
                                ConversationListScreen(
                                    model = shown.account.conversations,
                                    jid = shown.account.kit.jid,
                                    onOpen = app::openChat,
                                    onSignOut = app::signOut,
                                    modifier = Modifier.weight(1f),
                                )
                            }
                            is Screen.Chat -> {
                                ConnectionBanner(shown.account.banner)
                                ChatScreen(
                                    model = shown.model,
                                    onBack = app::closeChat,
                                    modifier = Modifier.weight(1f),
                                )
                            }
                        }
                    }
                }
            }
        }
    }
}
