package org.jabberkit.viewmodel

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.launchIn
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.launch
import org.jabberkit.JabberKitException
import org.jabberkit.Message
import org.jabberkit.kt.JabberKit
import org.jabberkit.kt.reason

/**
 * One conversation with [peer]: its latest messages, kept up to date by the core
 * ([JabberKit.timeline]), and a way to send.
 *
 * @param peer the other side's bare JID.
 * @param scope the screen's scope; updates and pending sends stop when it ends (a message
 *   whose send returned is stored and goes out anyway).
 * @param limit how many of the latest messages to show at first (new ones are added).
 */
class ChatViewModel(
    private val kit: JabberKit,
    val peer: String,
    private val scope: CoroutineScope,
    private val limit: Int = 100,
) {
    private val shown = MutableStateFlow<List<Message>>(emptyList())
    private val failure = MutableStateFlow<String?>(null)

    /** The latest messages, oldest first, with their current delivery state. */
    val messages: StateFlow<List<Message>> = shown.asStateFlow()

    /** Why the last read or send failed, or null when it worked. */
    val error: StateFlow<String?> = failure.asStateFlow()

    init {
        kit.timeline(peer, limit).messages
            .onEach { shown.value = it }
            .catch { e -> failure.value = (e as? JabberKitException)?.reason ?: throw e }
            .launchIn(scope)
    }

    /** Sends [text] (trimmed; ignored when blank). It shows up in [messages] once stored. */
    fun send(text: String): Job = scope.launch {
        val body = text.trim()
        if (body.isEmpty()) return@launch
        try {
            kit.send(peer, body)
            failure.value = null
        } catch (e: JabberKitException) {
            failure.value = e.reason
        }
    }
}
