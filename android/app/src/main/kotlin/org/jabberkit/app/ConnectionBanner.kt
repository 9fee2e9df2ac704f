package org.jabberkit.app

import androidx.compose.foundation.background
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import org.jabberkit.viewmodel.ConnectionBannerViewModel

/** The line above the screens while the account is not online ("Connecting…", "No connection. Retrying in 8 s…"). */
@Composable
fun ConnectionBanner(model: ConnectionBannerViewModel, modifier: Modifier = Modifier) {
    val text by model.banner.collectAsState()
    text?.let {
        Text(
            text = it,
            style = MaterialTheme.typography.bodySmall,
            color = MaterialTheme.colorScheme.onSecondaryContainer,
            modifier = modifier
                .fillMaxWidth()
                .background(MaterialTheme.colorScheme.secondaryContainer)
                .padding(horizontal = 16.dp, vertical = 6.dp),
        )
    }
}
