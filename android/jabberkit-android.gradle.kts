// The Android library build of android/jabberkit (project :jabberkit; see
// settings.gradle.kts for why this file is not inside it). Paths below are
// relative to android/jabberkit.
//
// The same sources are built and tested on the desktop JVM by Maven
// (android/jabberkit/pom.xml, scripts/test-kotlin); this build only packages
// them for Android, with the native library that scripts/build-android puts
// in src/main/jniLibs/<abi>/libjabberkit_ffi.so.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.jabberkit"
    compileSdk = 35

    defaultConfig {
        minSdk = 26
        // JNA and the generated bindings work by reflection: apps that shrink
        // with R8 get these keep rules.
        consumerProguardFiles("src/main/resources/META-INF/proguard/jabberkit.pro")
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDirs("src/main/kotlin")
            jniLibs.srcDirs("src/main/jniLibs")
        }
        // src/test holds JVM tests against a live server: Maven runs them.
        getByName("test") {
            kotlin.setSrcDirs(emptyList<String>())
            java.setSrcDirs(emptyList<String>())
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // Both appear in the library's public API (flows; the bindings' JNA types).
    // The JNA AAR carries libjnidispatch.so for each Android ABI; same version
    // as the pom's desktop JNA.
    api("net.java.dev.jna:jna:5.19.1@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
