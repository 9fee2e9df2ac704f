package org.jabberkit.viewmodel

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.mapNotNull
import kotlinx.coroutines.flow.stateIn
import org.jabberkit.Conversation
import org.jabberkit.JabberKitException
import org.jabberkit.kt.JabberKit

/**
 * The conversation list: one entry per peer, the most recently active first, re-read from the
 * store whenever a message arrives, is queued or changes state.
 *
 * @param scope the screen's scope; the list stops updating when it ends.
 */
class ConversationListViewModel(kit: JabberKit, scope: CoroutineScope) {
    /** The conversations; empty until the first read. A failed read keeps the previous list. */
    val conversations: StateFlow<List<Conversation>> = kit.reloads { true }
        .mapNotNull {
            try {
                kit.conversations()
            } catch (_: JabberKitException) {
                null
            }
        }
        .stateIn(scope, SharingStarted.Eagerly, emptyList())
}
