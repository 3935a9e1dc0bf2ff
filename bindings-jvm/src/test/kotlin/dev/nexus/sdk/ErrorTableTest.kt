package dev.nexus.sdk

import dev.nexus.sdk.ffi.errorTable
import dev.nexus.sdk.ffi.errorClassName
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test

/**
 * The Kotlin exception hierarchy against the core's one error table (code → kind → class →
 * parent), as the native library carries it and as tests/vectors/client_behaviour.json publishes
 * it: the table's `XxxError` must be `XxxException` here, subclass of the parent's mirror.
 */
class ErrorTableTest {
    companion object {
        /** The table's class name in this SDK's naming (`ReauthRequiredError` → `...Exception`). */
        fun jvmName(tableClass: String): String = when (tableClass) {
            "InternalServerError" -> "InternalServerException"
            else -> tableClass.removeSuffix("Error") + "Exception"
        }

        /** The core's class for (code, kind), in this SDK's naming. */
        fun expectedClass(code: String, kind: String): String =
            jvmName(errorClassName(code, kind) ?: error("the core has no kind $kind"))
    }

    @Test
    fun nativeTableEqualsThePublishedVectors() {
        val published = Vectors.load("client_behaviour")["error_classes"].map {
            listOf(it["code"].asText(), it["kind"].asText(), it["class"].asText(), it["parent"].asText())
        }
        val native = errorTable().map { listOf(it.code, it.kind, it.className, it.parent) }
        assertEquals(published, native)
        val fallback = Vectors.load("client_behaviour")["fallback_class"]
        fallback.fields().forEach { (kind, cls) -> assertEquals(cls.asText(), errorClassName("a_code_newer_than_the_sdk", kind)) }
    }

    @Test
    fun everyTableClassExistsWithItsParent() {
        for (row in errorTable()) {
            val factory = EXCEPTION_CLASSES[row.className] ?: fail("no constructor for ${row.className}")
            val instance = factory(ErrorDetails(row.code, row.kind, "m", null, null, null, null))
            assertEquals(jvmName(row.className), instance.javaClass.simpleName, row.code)
            assertEquals(jvmName(row.parent), instance.javaClass.superclass.simpleName, "parent of ${row.className}")
        }
    }

    @Test
    fun aCodeNewerThanTheSdkGetsTheFallbackClass() {
        val e = runCatching {
            native {
                dev.nexus.sdk.ffi.raiseGatewayError(
                    418u,
                    """{"error":"brand_new_code","message":"from the future"}""".toByteArray(),
                    emptyList(),
                )
            }
        }.exceptionOrNull()
        assertEquals(InternalServerException::class.java, e?.javaClass)
        assertEquals("brand_new_code", (e as NexusException).code)
        assertEquals(418, e.statusCode)
    }
}
