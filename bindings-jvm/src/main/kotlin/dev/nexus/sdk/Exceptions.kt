package dev.nexus.sdk

import dev.nexus.sdk.ffi.NativeException
import java.time.Duration

/**
 * Base class of every Nexus SDK error. [code] is the core's stable string, identical in every
 * SDK (`reauth_required`, `rate_limited`, `connection_error`, ...); [kind] its category. The
 * message never contains a secret.
 *
 * The subclasses mirror the core's one error table (code → kind → class): the table's
 * `XxxError` is `XxxException` here, with the same parent. `ErrorTableTest` checks this against
 * the table the native library carries, so the two cannot drift.
 */
open class NexusException(
    val code: String,
    val kind: String,
    message: String,
    /** The HTTP status the gateway answered with, when there was an answer. */
    val statusCode: Int? = null,
    /** The gateway's request id, for support tickets and log correlation. */
    val requestId: String? = null,
    /** Where a person can authorize the connection again. */
    val reauthUrl: String? = null,
    /** How long the gateway asked to wait (`rate_limited`). */
    val retryAfter: Duration? = null,
) : RuntimeException(message) {
    constructor(d: ErrorDetails) : this(d.code, d.kind, d.message, d.statusCode, d.requestId, d.reauthUrl, d.retryAfter)

    override fun toString(): String = "${javaClass.simpleName}($code): $message"
}

/** The fields every exception class is built from. */
class ErrorDetails internal constructor(
    val code: String,
    val kind: String,
    val message: String,
    val statusCode: Int?,
    val requestId: String?,
    val reauthUrl: String?,
    val retryAfter: Duration?,
)

open class InvalidRequestException(d: ErrorDetails) : NexusException(d)
class PayloadTooLargeException(d: ErrorDetails) : InvalidRequestException(d)
open class UnauthorizedException(d: ErrorDetails) : NexusException(d)
class InvalidSubjectTokenException(d: ErrorDetails) : UnauthorizedException(d)
open class ForbiddenException(d: ErrorDetails) : NexusException(d)
class ScopeNotAllowedException(d: ErrorDetails) : ForbiddenException(d)
class UserNotAuthorizedForScopeException(d: ErrorDetails) : ForbiddenException(d)
open class NotFoundException(d: ErrorDetails) : NexusException(d)
class ConnectionNotFoundException(d: ErrorDetails) : NotFoundException(d)
class ProviderNotFoundException(d: ErrorDetails) : NotFoundException(d)
class ReauthRequiredException(d: ErrorDetails) : NexusException(d)
class ConnectionNotActiveException(d: ErrorDetails) : NexusException(d)
class RequestTimeoutException(d: ErrorDetails) : NexusException(d)
class RateLimitedException(d: ErrorDetails) : NexusException(d)
open class UpstreamUnavailableException(d: ErrorDetails) : NexusException(d)
class InternalServerException(d: ErrorDetails) : NexusException(d)
// Proxy mode (issue 16).
class InsufficientScopeException(d: ErrorDetails) : ForbiddenException(d)
class InvalidProxyPathException(d: ErrorDetails) : InvalidRequestException(d)
class ProxyHostNotAllowedException(d: ErrorDetails) : InvalidRequestException(d)
class ProxyNotEnabledException(d: ErrorDetails) : NotFoundException(d)
class UpstreamTimeoutException(d: ErrorDetails) : UpstreamUnavailableException(d)
// MCP authorization (issue 17).
class ConnectionRequiredException(d: ErrorDetails) : NexusException(d)
class StrategyException(d: ErrorDetails) : NexusException(d)
open class TransportException(d: ErrorDetails) : NexusException(d)
class NexusTimeoutException(d: ErrorDetails) : TransportException(d)
class InvalidResponseException(d: ErrorDetails) : NexusException(d)
class ConnectionFailedException(d: ErrorDetails) : NexusException(d)
class WaitAbortedException(d: ErrorDetails) : NexusException(d)

/**
 * Constructors by the core table's class name. The class for an error is chosen by the core
 * (`class_name` of the native error); this only turns the name into an instance.
 */
internal val EXCEPTION_CLASSES: Map<String, (ErrorDetails) -> NexusException> = mapOf(
    "NexusError" to { d: ErrorDetails -> NexusException(d) },
    "InvalidRequestError" to ::InvalidRequestException,
    "PayloadTooLargeError" to ::PayloadTooLargeException,
    "UnauthorizedError" to ::UnauthorizedException,
    "InvalidSubjectTokenError" to ::InvalidSubjectTokenException,
    "ForbiddenError" to ::ForbiddenException,
    "ScopeNotAllowedError" to ::ScopeNotAllowedException,
    "UserNotAuthorizedForScopeError" to ::UserNotAuthorizedForScopeException,
    "NotFoundError" to ::NotFoundException,
    "ConnectionNotFoundError" to ::ConnectionNotFoundException,
    "ProviderNotFoundError" to ::ProviderNotFoundException,
    "ReauthRequiredError" to ::ReauthRequiredException,
    "ConnectionNotActiveError" to ::ConnectionNotActiveException,
    "RequestTimeoutError" to ::RequestTimeoutException,
    "RateLimitedError" to ::RateLimitedException,
    "UpstreamUnavailableError" to ::UpstreamUnavailableException,
    "InternalServerError" to ::InternalServerException,
    "InsufficientScopeError" to ::InsufficientScopeException,
    "InvalidProxyPathError" to ::InvalidProxyPathException,
    "ProxyHostNotAllowedError" to ::ProxyHostNotAllowedException,
    "ProxyNotEnabledError" to ::ProxyNotEnabledException,
    "UpstreamTimeoutError" to ::UpstreamTimeoutException,
    "ConnectionRequiredError" to ::ConnectionRequiredException,
    "StrategyError" to ::StrategyException,
    "TransportError" to ::TransportException,
    "NexusTimeoutError" to ::NexusTimeoutException,
    "InvalidResponseError" to ::InvalidResponseException,
    "ConnectionFailedError" to ::ConnectionFailedException,
    "WaitAbortedError" to ::WaitAbortedException,
)

/** The typed exception for a native error (a class the table names but this layer lacks → base). */
internal fun NativeException.toNexus(): NexusException = when (this) {
    is NativeException.Failure -> {
        val details = ErrorDetails(
            code = code,
            kind = kind,
            message = detail,
            statusCode = status?.toInt(),
            requestId = requestId,
            reauthUrl = reauthUrl,
            retryAfter = retryAfterMs?.let { Duration.ofMillis(it.toLong()) },
        )
        EXCEPTION_CLASSES[className]?.invoke(details) ?: NexusException(details)
    }
}

/** Run a native call, rethrowing its error as the typed exception. */
internal inline fun <T> native(call: () -> T): T =
    try {
        call()
    } catch (e: NativeException) {
        throw e.toNexus()
    }
