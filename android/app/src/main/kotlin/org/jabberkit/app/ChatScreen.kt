package org.jabberkit.app

import androidx.activity.compose.BackHandler
import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.widthIn
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.foundation.shape.RoundedCornerShape
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.draw.clip
import androidx.compose.ui.unit.dp
import java.text.DateFormat
import java.util.Date
import org.jabberkit.DeliveryState
import org.jabberkit.Message
import org.jabberkit.viewmodel.ChatViewModel

@Composable
fun ChatScreen(model: ChatViewModel, onBack: () -> Unit, modifier: Modifier = Modifier) {
    val messages by model.messages.collectAsState()
    val error by model.error.collectAsState()
    var draft by rememberSaveable(model.peer) { mutableStateOf("") }
    val list = rememberLazyListState()

    BackHandler(onBack = onBack)
    // Follow the newest message.
    LaunchedEffect(messages.size) {
        if (messages.isNotEmpty()) list.animateScrollToItem(messages.lastIndex)
    }

    Column(modifier) {
        Row(verticalAlignment = Alignment.CenterVertically, modifier = Modifier.fillMaxWidth()) {
            TextButton(onClick = onBack) { Text("Back") }
            Text(model.peer, style = MaterialTheme.typography.titleMedium)
        }
        LazyColumn(
            state = list,
            verticalArrangement = Arrangement.spacedBy(6.dp),
            modifier = Modifier.weight(1f).fillMaxWidth().padding(horizontal = 12.dp),
        ) {
            items(messages, key = { it.id }) { message -> MessageRow(message) }
        }
        error?.let {
            Text(it, color = MaterialTheme.colorScheme.error, modifier = Modifier.padding(horizontal = 16.dp))
        }
        Row(
            verticalAlignment = Alignment.CenterVertically,
            horizontalArrangement = Arrangement.spacedBy(8.dp),
            modifier = Modifier.fillMaxWidth().padding(12.dp),
        ) {
            OutlinedTextField(
                value = draft,
                onValueChange = { draft = it },
                placeholder = { Text("Message") },
                maxLines = 5,
                modifier = Modifier.weight(1f),
            )
            Button(
                onClick = {
                    model.send(draft)
                    draft = ""
                },
                enabled = draft.isNotBlank(),
            ) { Text("Send") }
        }
    }
}

@Composable
private fun MessageRow(message: Message) {
    Column(
        horizontalAlignment = if (message.outgoing) Alignment.End else Alignment.Start,
        modifier = Modifier.fillMaxWidth(),
    ) {
        Text(
            message.body,
            modifier = Modifier
                .widthIn(max = 300.dp)
                .clip(RoundedCornerShape(10.dp))
                .background(
                    if (message.outgoing) {
                        MaterialTheme.colorScheme.primaryContainer
                    } else {
                        MaterialTheme.colorScheme.surfaceVariant
                    },
                )
                .padding(horizontal = 10.dp, vertical = 6.dp),
        )
        Text(
            caption(message),
            style = MaterialTheme.typography.labelSmall,
            color = if (message.state == DeliveryState.FAILED) {
                MaterialTheme.colorScheme.error
            } else {
                MaterialTheme.colorScheme.onSurfaceVariant
            },
        )
    }
}

private fun caption(message: Message): String {
    val time = DateFormat.getTimeInstance(DateFormat.SHORT).format(Date(message.timestampMs))
    if (!message.outgoing) return time
    return when (message.state) {
        DeliveryState.QUEUED -> "$time · queued"
        DeliveryState.SENT -> "$time · sent"
        DeliveryState.ACKED -> "$time · on the server"
        DeliveryState.DELIVERED -> "$time · delivered"
        DeliveryState.READ -> "$time · read"
        DeliveryState.FAILED -> "$time · not sent: ${message.failureReason ?: "failed"}"
        DeliveryState.RECEIVED -> time
    }
}
