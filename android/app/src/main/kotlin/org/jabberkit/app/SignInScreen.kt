package org.jabberkit.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.text.input.VisualTransformation
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.flow.MutableStateFlow
import org.jabberkit.viewmodel.SignInState
import org.jabberkit.viewmodel.SignInViewModel

@Composable
fun SignInScreen(model: SignInViewModel, onCancel: () -> Unit, modifier: Modifier = Modifier) {
    val state by model.state.collectAsState()
    val busy = state is SignInState.SigningIn || state is SignInState.SignedIn

    Column(
        modifier = modifier.padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text("Sign in", style = MaterialTheme.typography.headlineMedium)
        Field(model.jid, "Address (user@example.org)", enabled = !busy, keyboard = KeyboardType.Email)
        Field(model.password, "Password", enabled = !busy, keyboard = KeyboardType.Password, secret = true)
        Field(model.server, "Server host:port (optional)", enabled = !busy, keyboard = KeyboardType.Uri)

        when (val shown = state) {
            is SignInState.SigningIn -> {
                Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(12.dp)) {
                    CircularProgressIndicator()
                    Text(shown.status ?: "Connecting…")
                }
                OutlinedButton(onClick = onCancel) { Text("Cancel") }
            }
            is SignInState.Failed -> {
                Text(shown.message, color = MaterialTheme.colorScheme.error)
                Button(onClick = model::signIn) { Text("Sign in") }
            }
            SignInState.Idle -> Button(onClick = model::signIn) { Text("Sign in") }
            is SignInState.SignedIn -> Unit
        }
    }
}

/**
 * A text field bound to one of the view model's field flows. The text lives in Compose state
 * and is copied to the flow on each change: a TextField fed back from a flow can lose
 * keystrokes. The view model outlives the composition, so it is the source on (re)creation.
 */
@Composable
private fun Field(
    value: MutableStateFlow<String>,
    label: String,
    enabled: Boolean,
    keyboard: KeyboardType,
    secret: Boolean = false,
) {
    var text by remember(value) { mutableStateOf(value.value) }
    OutlinedTextField(
        value = text,
        onValueChange = {
            text = it
            value.value = it
        },
        label = { Text(label) },
        enabled = enabled,
        singleLine = true,
        keyboardOptions = KeyboardOptions(keyboardType = keyboard),
        visualTransformation = if (secret) PasswordVisualTransformation() else VisualTransformation.None,
        modifier = Modifier.fillMaxWidth(),
    )
}
