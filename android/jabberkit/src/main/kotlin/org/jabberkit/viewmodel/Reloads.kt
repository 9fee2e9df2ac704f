package org.jabberkit.viewmodel

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.channelFlow
import kotlinx.coroutines.flow.onSubscription
import org.jabberkit.kt.JabberKit
import org.jabberkit.kt.MessageEvent

/**
 * One signal as soon as [JabberKit.messages] is subscribed, then one per event that [matters];
 * a burst of events collapses into one signal, so the view re-reads the store once.
 *
 * The first signal comes after the subscription, so nothing stored meanwhile is missed.
 */
internal fun JabberKit.reloads(matters: (MessageEvent) -> Boolean): Flow<Unit> = channelFlow {
    messages
        .onSubscription { this@channelFlow.send(Unit) }
        .collect { if (matters(it)) send(Unit) }
}.buffer(Channel.CONFLATED)
