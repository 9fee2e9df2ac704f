// The Android build: the app (:app) and the JabberKit library (:jabberkit).
//
// android/jabberkit is also a Maven project (its pom.xml builds and tests the
// Kotlin code on the desktop JVM), so its Android build file lives beside it,
// in jabberkit-android.gradle.kts, rather than inside it.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "JabberKit"

include(":jabberkit", ":app")
project(":jabberkit").projectDir = file("jabberkit")
project(":jabberkit").buildFileName = "../jabberkit-android.gradle.kts"
