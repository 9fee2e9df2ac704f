package org.jabberkit.viewmodel

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.stateIn
import org.jabberkit.Conversation
import org.jabberkit.kt.JabberKit

/**
 * The conversation list: one entry per peer, the most recently active first, kept by the core
 * ([JabberKit.conversationList]): nothing is re-read here.
 *
 * @param scope the screen's scope; the list stops updating when it ends.
 */
class ConversationListViewModel(kit: JabberKit, scope: CoroutineScope) {
    /** The conversations; empty until the core's first batch. */
    val conversations: StateFlow<List<Conversation>> =
        kit.conversationList().stateIn(scope, SharingStarted.Eagerly, emptyList())
}
