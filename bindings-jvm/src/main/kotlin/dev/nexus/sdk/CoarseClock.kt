package dev.nexus.sdk

import com.sun.jna.Pointer
import dev.nexus.sdk.ffi.coarseClockWord
import java.lang.invoke.MethodHandles
import java.lang.invoke.VarHandle
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.function.LongSupplier

/**
 * Answers "is this held copy still in time?" for the hit path ([HeldHits]) without a clock read
 * per hit, by reading the core's coarse clock (`nexus_sdk::coarse_clock`): a core thread
 * publishes the monotonic clock every 10 ms into one shared word, and the core hands each copy
 * its `coarseUntil` (its deadline minus the core's window, in that clock's base). The rule (tick,
 * window, the stall that ends trust for the process, fork) lives in the core only; this class
 * makes the reader's two comparisons, the same as `CoarseClock::before` in the core and Node's
 * hit: in time while the published value is below `coarseUntil`, else on the real clock.
 *
 * The word holds the bits of an `f64` (milliseconds), `+∞` while not trusted (which compares
 * false), so one acquire load decides. Taking its address makes the core start its ticker on
 * the next hold.
 */
internal class CoarseClock(
    /**
     * The real clock the copy's own deadline is measured on (`System.nanoTime()`); a test's
     * hand-moved, counted time, so that it can tell which reading decided.
     */
    private val source: LongSupplier,
) {
    /** Whether [deadline] (a reading of [source]) is still ahead, for a copy with [coarseUntil]. */
    fun before(coarseUntil: Double, deadline: Long): Boolean =
        published() < coarseUntil || source.asLong - deadline < 0

    /** A reading of the real clock (what the copy's deadline is measured from). */
    fun precise(): Long = source.asLong

    /** The core's published value (milliseconds in its clock's base; `+∞` while not trusted). */
    fun published(): Double = Double.fromBits(WORD.getAcquire(BUFFER, 0) as Long)

    companion object {
        /** The process's clock, shared by every cache. */
        val SYSTEM = CoarseClock(System::nanoTime)

        /**
         * A direct view of the core's static word (valid for the process's lifetime). Direct and
         * 8-byte aligned, so the VarHandle's acquire load is one atomic load of the word.
         */
        private val BUFFER: ByteBuffer = Pointer(coarseClockWord().toLong()).getByteBuffer(0, 8)

        private val WORD: VarHandle = MethodHandles.byteBufferViewVarHandle(LongArray::class.java, ByteOrder.nativeOrder())
    }
}
